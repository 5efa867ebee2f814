import { RateLimiterRes } from 'rate-limiter-flexible';
import { publishBackoff } from '../tracing.js';
import type { GuardStore } from './store.js';

/** The longest back-off window: the longest the instance picks itself, and the most of Reteno's `Retry-After` honoured. */
export const maxBackoffSeconds = 30;
/** How long a run of 429s is remembered without a successful call. */
const strikesSeconds = 300;

/** Reteno's two endpoints, each with its own back-off: a 429 from one never holds calls to the other. */
export type Endpoint = 'token' | 'contact';

export interface Admission {
  /** 0 to call Reteno now, else how long Reteno is still being left alone. */
  waitMs: number;
  /** This call is the one of its back-off window that tests whether Reteno still throttles. */
  probe: boolean;
  /** Another call is testing Reteno right now. */
  probeOut: boolean;
}

export type Backoff = ReturnType<typeof createBackoff>;

/**
 * The back-off after a 429 from one endpoint, shared through the store: Reteno is left alone until the window ends
 * (its `Retry-After` up to 30 s, or 1, 2, 4 … 30 s), then exactly one call of the instances tests it. Another 429
 * starts the next window; any other answer ends the back-off.
 */
export function createBackoff(store: GuardStore, endpoint: Endpoint) {
  const key = endpoint;
  // How many 429s in a row: set while Reteno throttles, gone when it does not.
  const strikes = store.counter('strikes', Number.MAX_SAFE_INTEGER, strikesSeconds);
  // Blocked for the window after a 429.
  const blocked = store.counter('backoff', 1, maxBackoffSeconds);
  // One point per window: the call that takes it tests Reteno.
  const probe = store.counter('probe', 1, maxBackoffSeconds);
  const windowSeconds = (strikeCount: number) => Math.min(2 ** (strikeCount - 1), maxBackoffSeconds);
  // The requests of this instance waiting for a window to end: woken early when a probe of this instance gets its
  // answer, so that they look again at once.
  const waiting = new Set<() => void>();
  const tell = () => {
    for (const wake of waiting) wake();
  };
  const runningWindowMs = async (deadline: number) => {
    const block = await blocked.run(key, deadline, (counter, k) => counter.get(k));
    return block !== null && block.consumedPoints > 1 && block.msBeforeNext > 0 ? block.msBeforeNext : 0;
  };

  return {
    async admit(deadline: number): Promise<Admission> {
      const struck = await strikes.run(key, deadline, (counter, k) => counter.get(k));
      if (struck === null) return { waitMs: 0, probe: false, probeOut: false };
      const windowMs = await runningWindowMs(deadline);
      if (windowMs > 0) return { waitMs: windowMs, probe: false, probeOut: false };
      try {
        await probe.run(key, deadline, (counter, k) =>
          counter.consume(k, 1, { customDuration: windowSeconds(struck.consumedPoints) }),
        );
        return { waitMs: 0, probe: true, probeOut: false };
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        return { waitMs: Math.max(rejection.msBeforeNext, 1), probe: false, probeOut: true };
      }
    },

    /** Records a 429 and answers how long to wait. */
    async throttled(retryAfterMs: number | undefined, wasProbe: boolean, deadline: number): Promise<number> {
      // Calls that were already in flight when Reteno started throttling join the running window.
      if (!wasProbe) {
        const windowMs = await runningWindowMs(deadline);
        if (windowMs > 0) return windowMs;
      }
      const struck = await strikes.run(key, deadline, (counter, k) => counter.penalty(k, 1));
      const seconds =
        retryAfterMs === undefined
          ? windowSeconds(struck.consumedPoints)
          : Math.min(Math.max(Math.ceil(retryAfterMs / 1000), 1), maxBackoffSeconds);
      await Promise.all([
        blocked.run(key, deadline, (counter, k) => counter.block(k, seconds)),
        probe.run(key, deadline, (counter, k) => counter.delete(k)),
      ]);
      publishBackoff(endpoint, seconds, retryAfterMs === undefined ? 'exponential' : 'retry-after');
      if (wasProbe) tell();
      return seconds * 1000;
    },

    /** A probe got an answer other than 429 (`reached`), or none in time. */
    async answered(reached: boolean, deadline: number): Promise<void> {
      if (reached) {
        await Promise.all(
          [strikes, blocked, probe].map((counter) => counter.run(key, deadline, (c, k) => c.delete(k))),
        );
      }
      tell();
    },

    /** A probe taken by a call that did not go out after all: the next call may test Reteno. */
    async giveBackProbe(deadline: number): Promise<void> {
      await probe.run(key, deadline, (counter, k) => counter.delete(k));
    },

    /** Waits `ms`, or less when a probe of this instance gets its answer first. Global timers, so tests can fake them. */
    wait(ms: number): Promise<void> {
      return new Promise((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          waiting.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        waiting.add(wake);
      });
    },
  };
}
