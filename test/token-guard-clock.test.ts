import { jest } from '@jest/globals';
import { createGuardStore } from '../src/guard/store.js';
import { createSafeLogger } from '../src/log.js';
import type { Config } from '../src/types.js';
import type { RetenoAnswer, TokenOutcome } from '../src/reteno-client.js';
import {
  type CallLedger,
  createTokenGuard,
  type Entry,
  type Guarded,
  type TokenGuard,
} from '../src/token-guard.js';

/**
 * The token guard on a virtual clock: which requests reach Reteno, and when, in line, under the site-wide cap and
 * while Reteno throttles. The stand-in for Reteno answers after `latencyMs` of the virtual clock and gives up at the
 * request's deadline, as the Reteno client does; what it answers is set per test. The whole route, against the
 * emulator and a real Redis, is in token-guard.test.ts.
 */

const latencyMs = 30;

beforeEach(() => {
  jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  jest.useRealTimers();
});

/** A Reteno that answers `next()` after `latency` ms, recording when each call came (ms since the test started). */
function reteno<Answer extends RetenoAnswer = TokenOutcome>(next: () => Answer, latency = latencyMs) {
  const started = Date.now();
  const calls: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const call = (deadline: number) => () => {
    calls.push(Date.now() - started);
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return new Promise<Answer>((resolve) => {
      const untilDeadline = deadline - Date.now();
      const settle = (answer: Answer) => {
        inFlight -= 1;
        resolve(answer);
      };
      if (untilDeadline < latency) {
        setTimeout(() => settle({ kind: 'timeout', attempts: 1 } as Answer), Math.max(untilDeadline, 0));
      } else {
        setTimeout(() => settle(next()), latency);
      }
    });
  };
  return { calls, call, elapsed: () => Date.now() - started, maxInFlight: () => maxInFlight };
}

const throttled = (retryAfterMs?: number): TokenOutcome => ({ kind: 'throttled', retryAfterMs, attempts: 1 });
const token: TokenOutcome = { kind: 'token', token: 'a-token', attempts: 1 };

type GuardOptions = Partial<Pick<Config, 'tokenBudget' | 'maxInFlight' | 'maxQueued' | 'maxPerSecond'>>;

function guardWith(timeout: number, options: GuardOptions = {}, memoryKeys?: number) {
  const config = {
    apiKey: 'clock-api-key',
    logger: { warn() {}, error() {} },
    redis: undefined,
    redisPrefix: undefined,
    tokenBudget: false as const,
    maxInFlight: 32,
    maxQueued: 256,
    maxPerSecond: 10_000,
    timeout,
    ...options,
  };
  return createTokenGuard(
    config,
    createGuardStore(config, createSafeLogger(config.logger, config.apiKey), memoryKeys),
  );
}

let contacts = 0;
const ledger = (): CallLedger => ({ attempts: 0, upstreamStatus: undefined, waitedMs: 0 });

/** Starts one guarded token request now, of a new contact unless `email` is given, with `timeout` until its deadline. */
async function ask(
  guard: TokenGuard,
  upstream: { call: (deadline: number) => () => Promise<TokenOutcome> },
  timeout: number,
  email = `visitor${++contacts}@example.com`,
): Promise<Guarded<TokenOutcome> | Exclude<Entry, { kind: 'admitted' }>> {
  const deadline = Date.now() + timeout;
  const entry = await guard.enter({ email }, deadline, ledger());
  if (entry.kind !== 'admitted') return entry;
  try {
    return await entry.visit.call('token', upstream.call(deadline));
  } finally {
    entry.visit.leave();
  }
}

/** `ask`, noting the virtual time it was answered at. */
function timed(answer: ReturnType<typeof ask>, started = Date.now()) {
  return answer.then((outcome) => ({ outcome, at: Date.now() - started }));
}

describe('token guard back-off, on a virtual clock', () => {
  it('sends Reteno one request per window while it throttles, and answers everyone else busy', async () => {
    const timeout = 800;
    const guard = guardWith(timeout);
    const upstream = reteno(() => throttled());
    const answers: ReturnType<typeof ask>[] = [];
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

describe('token guard line, on a virtual clock', () => {
  it('sends at most maxInFlight at once, queues up to maxQueued and answers busy beyond at once', async () => {
    const guard = guardWith(3000, { maxInFlight: 4, maxQueued: 10 });
    const upstream = reteno(() => token, 200);
    const answers = Array.from({ length: 20 }, () => timed(ask(guard, upstream, 3000)));
    await jest.advanceTimersByTimeAsync(3000);
    const outcomes = await Promise.all(answers);
    const busy = outcomes.filter(({ outcome }) => outcome.kind === 'busy');
    expect(outcomes.filter(({ outcome }) => outcome.kind === 'token')).toHaveLength(14);
    expect(busy).toHaveLength(6);
    for (const { outcome, at } of busy) {
      expect(outcome).toEqual({ kind: 'busy', reason: 'queue-full', retryAfterSeconds: 1 });
      expect(at).toBe(0);
    }
    expect(upstream.maxInFlight()).toBe(4);
    // 4 at a time, 200 ms each.
    expect(upstream.calls).toEqual([0, 0, 0, 0, 200, 200, 200, 200, 400, 400, 400, 400, 600, 600]);
  });

  it('answers timeout to a request still waiting in line at its deadline', async () => {
    const guard = guardWith(500, { maxInFlight: 1 });
    const upstream = reteno(() => token, 5000);
    const answers = [timed(ask(guard, upstream, 500)), timed(ask(guard, upstream, 500))];
    await jest.advanceTimersByTimeAsync(500);
    expect(await Promise.all(answers)).toEqual([
      { outcome: { kind: 'timeout', attempts: 1 }, at: 500 },
      { outcome: { kind: 'timeout', attempts: 0 }, at: 500 },
    ]);
    expect(upstream.calls).toEqual([0]);
  });

  it('sends at most maxPerSecond calls in each second of the clock, spread over its first nine tenths', async () => {
    const guard = guardWith(5000, { maxPerSecond: 5 });
    const upstream = reteno(() => token);
    const answers = Array.from({ length: 12 }, () => ask(guard, upstream, 5000));
    await jest.advanceTimersByTimeAsync(5000);
    expect((await Promise.all(answers)).every((outcome) => outcome.kind === 'token')).toBe(true);
    // The clock starts at a whole second: 5 calls over its first nine tenths, the last tenth free.
    expect(upstream.calls).toEqual([100, 300, 500, 700, 800, 1100, 1300, 1500, 1700, 1800, 2100, 2300]);
  });

  it('serves the contact that asked least first', async () => {
    const guard = guardWith(5000, { maxInFlight: 1, tokenBudget: { limit: 60, windowMs: 60_000 } });
    const upstream = reteno(() => token, 100);
    const order: string[] = [];
    const named = (email: string) => ask(guard, upstream, 5000, email).then(() => order.push(email));
    // The regular asked twice before; the newcomer never.
    for (let index = 0; index < 2; index++) {
      const earlier = named('regular@example.com');
      await jest.advanceTimersByTimeAsync(100);
      await earlier;
    }
    order.length = 0;
    const waiting = [named('first@example.com'), named('regular@example.com'), named('newcomer@example.com')];
    await jest.advanceTimersByTimeAsync(1000);
    await Promise.all(waiting);
    expect(order).toEqual(['first@example.com', 'newcomer@example.com', 'regular@example.com']);
  });

  it('gives each contact one place: its second request while the first waits is refused, and moves it back', async () => {
    const guard = guardWith(5000, { maxInFlight: 1 });
    const upstream = reteno(() => token, 100);
    const order: string[] = [];
    const named = (email: string) =>
      ask(guard, upstream, 5000, email).then((outcome) => {
        order.push(email);
        return outcome;
      });
    const answers = [named('first@example.com'), named('eager@example.com'), named('calm@example.com')];
    const again = await ask(guard, upstream, 5000, 'eager@example.com');
    expect(again).toEqual({ kind: 'concurrent' });
    await jest.advanceTimersByTimeAsync(1000);
    await Promise.all(answers);
    expect(order).toEqual(['first@example.com', 'calm@example.com', 'eager@example.com']);
    expect(upstream.calls).toHaveLength(3);
  });

  it('takes a newcomer into a full line in place of a contact that asked more than once', async () => {
    const guard = guardWith(5000, { maxInFlight: 1, maxQueued: 1 });
    const upstream = reteno(() => token, 100);
    // One at Reteno, one waiting: the line is full.
    const answers = [ask(guard, upstream, 5000), ask(guard, upstream, 5000, 'eager@example.com')];
    await jest.advanceTimersByTimeAsync(0);
    for (let again = 0; again < 2; again++) {
      expect(await ask(guard, upstream, 5000, 'eager@example.com')).toEqual({ kind: 'concurrent' });
    }
    const newcomer = ask(guard, upstream, 5000);
    // The newcomer asked once: nobody makes way for another newcomer.
    expect(await ask(guard, upstream, 5000)).toEqual({
      kind: 'busy',
      reason: 'queue-full',
      retryAfterSeconds: 1,
    });
    await jest.advanceTimersByTimeAsync(1000);
    expect(await Promise.all(answers)).toEqual([
      token,
      { kind: 'busy', reason: 'queue-full', retryAfterSeconds: 1 },
    ]);
    expect(await newcomer).toEqual(token);
  });

  it("keeps a 429 from the contact API to that endpoint's back-off", async () => {
    const guard = guardWith(3000);
    const contactApi = reteno<RetenoAnswer>(() => ({ kind: 'throttled', retryAfterMs: 60_000, attempts: 1 }));
    const deadline = Date.now() + 3000;
    const entry = await guard.enter({ email: 'new@example.com' }, deadline, ledger());
    if (entry.kind !== 'admitted') throw new Error(entry.kind);
    const creation = entry.visit.call('contact', contactApi.call(deadline));
    await jest.advanceTimersByTimeAsync(latencyMs);
    // Retry-After is honoured up to 30 s.
    expect(await creation).toEqual({ kind: 'busy', reason: 'throttled', retryAfterSeconds: 30 });
    entry.visit.leave();
    const upstream = reteno(() => token);
    const answer = ask(guard, upstream, 3000);
    await jest.advanceTimersByTimeAsync(latencyMs);
    expect(await answer).toEqual(token);
  });

  it('keeps at most memoryKeys contacts in memory, the least recently counted first out', async () => {
    const guard = guardWith(1000, { tokenBudget: { limit: 1, windowMs: 60_000 } }, 3);
    const upstream = reteno(() => token, 1);
    const spent = async (email: string) => {
      const answer = ask(guard, upstream, 1000, email);
      await jest.advanceTimersByTimeAsync(1);
      return (await answer).kind;
    };
    for (const email of ['a@example.com', 'b@example.com', 'c@example.com'])
      expect(await spent(email)).toBe('token');
    expect(await spent('a@example.com')).toBe('over-budget');
    // A fourth contact: b, now the least recently counted, is forgotten.
    expect(await spent('d@example.com')).toBe('token');
    expect(await spent('b@example.com')).toBe('token');
    expect(await spent('a@example.com')).toBe('over-budget');
  });
});
