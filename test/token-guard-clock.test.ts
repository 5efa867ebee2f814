import { jest } from '@jest/globals';
import type { TokenOutcome } from '../src/reteno-client.js';
import { createTokenGuard, type Guarded } from '../src/token-guard.js';

/**
 * The token guard's back-off on a virtual clock: which requests reach Reteno, and when, while it throttles. The
 * stand-in for Reteno answers after `latencyMs` of the virtual clock and gives up at the request's deadline, as
 * the Reteno client does; what it answers is set per test. The whole route, against the emulator, is in
 * token-guard.test.ts.
 */

const latencyMs = 30;

beforeEach(() => {
  jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  jest.useRealTimers();
});

/** A Reteno that answers `next()` after latencyMs, recording when each call came (ms since the test started). */
function reteno(next: () => TokenOutcome) {
  const started = Date.now();
  const calls: number[] = [];
  const call = (deadline: number) => () => {
    calls.push(Date.now() - started);
    return new Promise<TokenOutcome>((resolve) => {
      const untilDeadline = deadline - Date.now();
      if (untilDeadline < latencyMs) {
        setTimeout(() => resolve({ kind: 'timeout', attempts: 1 }), Math.max(untilDeadline, 0));
      } else {
        setTimeout(() => resolve(next()), latencyMs);
      }
    });
  };
  return { calls, call, elapsed: () => Date.now() - started };
}

const throttled = (retryAfterMs?: number): TokenOutcome => ({ kind: 'throttled', retryAfterMs, attempts: 1 });
const token: TokenOutcome = { kind: 'token', token: 'a-token', attempts: 1 };

function guardWith(timeout: number) {
  return createTokenGuard({ tokenBudget: false, maxInFlight: 32, maxQueued: 256, redis: undefined, timeout });
}

/** Starts one guarded request now, with `timeout` until its deadline. */
function ask(guard: ReturnType<typeof guardWith>, upstream: ReturnType<typeof reteno>, timeout: number) {
  const deadline = Date.now() + timeout;
  return guard.callReteno(deadline, upstream.call(deadline));
}

describe('token guard back-off, on a virtual clock', () => {
  it('sends Reteno one request per window while it throttles, and answers everyone else busy', async () => {
    const timeout = 800;
    const guard = guardWith(timeout);
    const upstream = reteno(() => throttled());
    const answers: Promise<Guarded<TokenOutcome>>[] = [];
    // A new request every 50 ms for 3.5 s: the windows after each 429 are 1 s, 2 s, then 4 s.
    while (upstream.elapsed() < 3500) {
      answers.push(ask(guard, upstream, timeout));
      await jest.advanceTimersByTimeAsync(50);
    }
    await jest.advanceTimersByTimeAsync(timeout);
    const outcomes = await Promise.all(answers);
    expect(upstream.calls).toEqual([0, 1000 + latencyMs, 3000 + 2 * latencyMs]);
    expect(outcomes).toHaveLength(70);
    for (const outcome of outcomes) {
      expect(outcome).toEqual({ kind: 'busy', reason: 'throttled', retryAfterSeconds: expect.any(Number) });
      expect(outcome.kind === 'busy' && outcome.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
  });

  it('keeps a waiting request from testing Reteno with too little of its time left', async () => {
    const timeout = 800;
    const guard = guardWith(timeout);
    const upstream = reteno(() => throttled());
    const first = ask(guard, upstream, timeout);
    // Its deadline falls 10 ms after the window: it does not wait for the window, so it cannot time out there.
    await jest.advanceTimersByTimeAsync(latencyMs + 1000 - timeout + 10);
    const late = ask(guard, upstream, timeout);
    await jest.advanceTimersByTimeAsync(timeout);
    expect(await first).toMatchObject({ kind: 'busy', retryAfterSeconds: 1 });
    expect(await late).toMatchObject({ kind: 'busy', reason: 'throttled' });
    expect(upstream.calls).toEqual([0]);
  });

  it('lengthens the window after each 429 without Retry-After: 1, 2, 4, 8, 16, then 30 s', async () => {
    const timeout = 300;
    const guard = guardWith(timeout);
    const upstream = reteno(() => throttled());
    const windows: number[] = [];
    for (let index = 0; index < 7; index++) {
      const answer = ask(guard, upstream, timeout);
      await jest.advanceTimersByTimeAsync(timeout);
      const outcome = await answer;
      if (outcome.kind !== 'busy') throw new Error(`expected busy, got ${outcome.kind}`);
      windows.push(outcome.retryAfterSeconds);
      // Past the end of this window (the 429 came latencyMs after the call).
      await jest.advanceTimersByTimeAsync(outcome.retryAfterSeconds * 1000 + latencyMs - timeout);
    }
    expect(windows).toEqual([1, 2, 4, 8, 16, 30, 30]);
    expect(upstream.calls).toHaveLength(7);
  });

  it('honours Retry-After for the length of the window', async () => {
    const guard = guardWith(300);
    const upstream = reteno(() => throttled(7000));
    const answer = ask(guard, upstream, 300);
    await jest.advanceTimersByTimeAsync(300);
    expect(await answer).toMatchObject({ kind: 'busy', retryAfterSeconds: 7 });
    await jest.advanceTimersByTimeAsync(6000);
    const during = ask(guard, upstream, 300);
    await jest.advanceTimersByTimeAsync(300);
    expect(await during).toMatchObject({ kind: 'busy', retryAfterSeconds: 1 });
    expect(upstream.calls).toHaveLength(1);
  });

  it('lets requests wait for the window when their call still fits, the first to wake testing Reteno', async () => {
    const timeout = 3000;
    const guard = guardWith(timeout);
    let answer = throttled(1000);
    const upstream = reteno(() => {
      const given = answer;
      answer = token;
      return given;
    });
    const first = ask(guard, upstream, timeout);
    await jest.advanceTimersByTimeAsync(100);
    const second = ask(guard, upstream, timeout);
    await jest.advanceTimersByTimeAsync(timeout);
    expect(await first).toEqual(token);
    expect(await second).toEqual(token);
    // The 429, the test of Reteno when the window ended, then the other request once the test had its answer.
    expect(upstream.calls).toEqual([0, 1000 + latencyMs, 1000 + 2 * latencyMs]);
  });

  it('ends the back-off at the first answer that is not a 429', async () => {
    const timeout = 300;
    const guard = guardWith(timeout);
    let answers = [throttled(), throttled()];
    const upstream = reteno(() => answers.shift() ?? token);
    for (const window of [1, 2]) {
      const answer = ask(guard, upstream, timeout);
      await jest.advanceTimersByTimeAsync(timeout);
      expect(await answer).toMatchObject({ kind: 'busy', retryAfterSeconds: window });
      await jest.advanceTimersByTimeAsync(window * 1000 + latencyMs - timeout);
    }
    answers = [];
    for (let index = 0; index < 3; index++) {
      const answer = ask(guard, upstream, timeout);
      await jest.advanceTimersByTimeAsync(latencyMs);
      expect(await answer).toEqual(token);
    }
    expect(upstream.calls).toHaveLength(5);
  });
});
