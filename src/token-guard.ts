import { createHash } from 'node:crypto';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { ValidContact } from './contact.js';
import type { UpstreamFailure } from './reteno-client.js';
import { publishBackoff, publishOverBudget } from './tracing.js';
import type { Config } from './types.js';

/** The longest back-off the instance picks itself after a 429 without `Retry-After`. */
export const maxBackoffSeconds = 30;
/** The longest `Retry-After` from Reteno that is honoured as given. */
export const maxRetryAfterSeconds = 300;
/** How long a run of 429s is remembered without a successful call. */
const strikesSeconds = 300;
/** What a request keeps for answering when it waits for another one's test of Reteno until its deadline. */
const deadlineMarginMs = 20;
/** The longest a request keeps, after a back-off window it waits for, for its own call to Reteno. */
const maxCallReserveMs = 1000;

type Throttled = Extract<UpstreamFailure, { kind: 'throttled' }>;

/** The guard's own answers: Reteno is left alone for now, or the request's time ran out while it waited. */
export type GuardRefusal =
  | { kind: 'busy'; retryAfterSeconds: number; reason: 'throttled' | 'queue-full' }
  | { kind: 'timeout'; attempts: number };

/** How a guarded request ended: Reteno's answer (never a 429: the guard waits those out), or the guard's refusal. */
export type Guarded<Outcome> = Exclude<Outcome, Throttled> | GuardRefusal;

export interface TokenGuard {
  /** Counts one token request of a contact against its budget: 0 when within it, else ms until it refills. */
  spendBudget(contact: ValidContact): Promise<number>;
  /** Calls Reteno within the in-flight cap, the queue and the shared back-off, all by `deadline` (epoch ms). */
  callReteno<Outcome extends { kind: string }>(
    deadline: number,
    call: () => Promise<Outcome>,
  ): Promise<Guarded<Outcome>>;
}

/**
 * What protects the site's Reteno account from its own token route: a budget per contact, a cap on requests to
 * Reteno in flight with a bounded queue, and one back-off after a 429. The counts live in rate-limiter-flexible's
 * stores: in memory, or in Redis when `redis` is given, so that every instance shares the budget and the back-off.
 */
export function createTokenGuard(
  config: Pick<Config, 'tokenBudget' | 'maxInFlight' | 'maxQueued' | 'redis' | 'timeout'>,
): TokenGuard {
  // A request waits for the end of a back-off window only if this much of its time is left after it: the first
  // request that wakes tests Reteno, and a test that runs out of time tells nobody anything.
  const callReserveMs = Math.min(config.timeout / 2, maxCallReserveMs);
  const limiter = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract => {
    const options = { keyPrefix, points, duration };
    if (config.redis === undefined) return new RateLimiterMemory(options);
    return new RateLimiterRedis({
      ...options,
      storeClient: config.redis,
      // ioredis has defineCommand; node-redis (v4 and later) does not.
      useRedisPackage: typeof (config.redis as { defineCommand?: unknown }).defineCommand !== 'function',
      // While Redis is unreachable, each instance counts on its own instead of waiting for it.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory(options),
    });
  };
  const budget =
    config.tokenBudget &&
    limiter('reteno-inbox:budget', config.tokenBudget.limit, config.tokenBudget.windowMs / 1000);
  const backoff = createBackoff(limiter);
  const slots = createSlots(config.maxInFlight, config.maxQueued);

  return {
    async spendBudget(contact) {
      if (!budget) return 0;
      try {
        await budget.consume(contactKey(contact));
        return 0;
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const overBudgetMs = Math.max(rejection.msBeforeNext, 1);
        publishOverBudget(Math.ceil(overBudgetMs / 1000));
        return overBudgetMs;
      }
    },

    async callReteno<Outcome extends { kind: string }>(
      deadline: number,
      call: () => Promise<Outcome>,
    ): Promise<Guarded<Outcome>> {
      for (;;) {
        const slot = await slots.acquire(deadline);
        if (slot === 'full') return { kind: 'busy', retryAfterSeconds: 1, reason: 'queue-full' };
        if (slot === 'timeout') return { kind: 'timeout', attempts: 0 };
        let admission: Admission;
        let outcome: Outcome | undefined;
        try {
          // Asked with the slot held, so that requests queued before a 429 do not all go out after it.
          admission = await backoff.admit();
          if (admission.waitMs === 0) outcome = await call();
        } finally {
          slots.release();
        }
        let waitMs = admission.waitMs;
        if (outcome !== undefined) {
          if (!isThrottled(outcome)) {
            if (admission.probe) await backoff.answered(outcome.kind !== 'timeout');
            return outcome as Exclude<Outcome, Throttled>;
          }
          // A 429 is never retried at once: the request waits for the back-off like every other one.
          waitMs = await backoff.throttled(outcome.retryAfterMs, admission.probe);
        }
        if (Date.now() + waitMs + callReserveMs > deadline) {
          // While another request tests Reteno, its answer may still come in time.
          const untilDeadline = deadline - Date.now() - deadlineMarginMs;
          if (!admission.probeOut || untilDeadline <= 0) {
            return { kind: 'busy', retryAfterSeconds: Math.ceil(waitMs / 1000), reason: 'throttled' };
          }
          waitMs = untilDeadline;
        }
        await backoff.wait(waitMs);
      }
    },
  };
}

function isThrottled(outcome: { kind: string }): outcome is Throttled {
  return outcome.kind === 'throttled';
}

/** A contact's key in the stores: a hash, so that no e-mail address or phone number is stored. */
export function contactKey(contact: ValidContact): string {
  return createHash('sha256')
    .update(JSON.stringify([contact.email, contact.phone, contact.externalCustomerId]))
    .digest('base64url');
}

interface Admission {
  /** 0 to call Reteno now, else how long Reteno is still being left alone. */
  waitMs: number;
  /** This call is the one of its back-off window that tests whether Reteno still throttles. */
  probe: boolean;
  /** Another call is testing Reteno right now. */
  probeOut: boolean;
}

/**
 * The back-off after a 429, shared through the store: Reteno is left alone until the window ends (its
 * `Retry-After`, or 1, 2, 4 … 30 s), then exactly one call of the instances tests it. Another 429 starts the next
 * window; any other answer ends the back-off.
 */
function createBackoff(
  limiter: (keyPrefix: string, points: number, duration: number) => RateLimiterAbstract,
) {
  const key = 'reteno';
  // How many 429s in a row: set while Reteno throttles, gone when it does not.
  const strikes = limiter('reteno-inbox:strikes', Number.MAX_SAFE_INTEGER, strikesSeconds);
  // Blocked for the window after a 429.
  const blocked = limiter('reteno-inbox:backoff', 1, maxBackoffSeconds);
  // One point per window: the call that takes it tests Reteno.
  const probe = limiter('reteno-inbox:probe', 1, maxBackoffSeconds);
  const windowSeconds = (strikeCount: number) => Math.min(2 ** (strikeCount - 1), maxBackoffSeconds);
  // The requests of this instance waiting for a window to end: woken early when a probe of this instance gets its
  // answer, so that they look again at once.
  const waiting = new Set<() => void>();
  const tell = () => {
    for (const wake of waiting) wake();
  };

  return {
    async admit(): Promise<Admission> {
      const struck = await strikes.get(key);
      if (struck === null) return { waitMs: 0, probe: false, probeOut: false };
      const block = await blocked.get(key);
      if (block !== null && block.consumedPoints > 1 && block.msBeforeNext > 0) {
        return { waitMs: block.msBeforeNext, probe: false, probeOut: false };
      }
      try {
        await probe.consume(key, 1, { customDuration: windowSeconds(struck.consumedPoints) });
        return { waitMs: 0, probe: true, probeOut: false };
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        return { waitMs: Math.max(rejection.msBeforeNext, 1), probe: false, probeOut: true };
      }
    },

    /** Records a 429 and answers how long to wait. */
    async throttled(retryAfterMs: number | undefined, wasProbe: boolean): Promise<number> {
      // Calls that were already in flight when Reteno started throttling join the running window.
      if (!wasProbe) {
        const block = await blocked.get(key);
        if (block !== null && block.consumedPoints > 1 && block.msBeforeNext > 0) return block.msBeforeNext;
      }
      const struck = await strikes.penalty(key, 1);
      const seconds =
        retryAfterMs === undefined
          ? windowSeconds(struck.consumedPoints)
          : Math.min(Math.max(Math.ceil(retryAfterMs / 1000), 1), maxRetryAfterSeconds);
      await Promise.all([blocked.block(key, seconds), probe.delete(key)]);
      publishBackoff(seconds, retryAfterMs === undefined ? 'exponential' : 'retry-after');
      if (wasProbe) tell();
      return seconds * 1000;
    },

    /** A probe got an answer other than 429 (`reached`), or none in time. */
    async answered(reached: boolean): Promise<void> {
      if (reached) await Promise.all([strikes.delete(key), blocked.delete(key), probe.delete(key)]);
      tell();
    },

    /** Waits `ms`, or less when a probe of this instance gets its answer first. */
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

/** At most `maxInFlight` calls at once; up to `maxQueued` more wait in line, each until its own deadline. */
function createSlots(maxInFlight: number, maxQueued: number) {
  let inFlight = 0;
  // Insertion-ordered: the first waiter gets the next free slot.
  const waiting = new Set<() => void>();
  return {
    acquire(deadline: number): Promise<'ok' | 'full' | 'timeout'> {
      if (inFlight < maxInFlight) {
        inFlight += 1;
        return Promise.resolve('ok');
      }
      if (waiting.size >= maxQueued) return Promise.resolve('full');
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(handOver);
          resolve('timeout');
        }, deadline - Date.now());
        // The releasing call passes its slot on: inFlight stays as it is.
        const handOver = () => {
          clearTimeout(timer);
          resolve('ok');
        };
        waiting.add(handOver);
      });
    },
    release(): void {
      const next = waiting.values().next();
      if (next.done) {
        inFlight -= 1;
        return;
      }
      waiting.delete(next.value);
      next.value();
    },
  };
}
