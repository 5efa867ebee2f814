import { createHmac } from 'node:crypto';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { ValidContact } from '../contact.js';
import { errorCodes } from '../errors.js';
import type { SafeLogger } from '../log.js';
import type { Config } from '../types.js';

/** The longest a store operation may take before the guard counts in memory instead: Redis answers in a millisecond. */
export const maxStoreWaitMs = 250;
/** How long the guard counts in memory after Redis stalled or failed, before it asks Redis again. */
export const storeRetryMs = 5000;
/** The most keys each in-memory counter keeps (per contact: about 600 bytes each); the least recently counted go first. */
export const defaultMemoryKeys = 10_000;

/** One counter of the guard (a token budget, a back-off, the site-wide cap), in Redis or in memory. */
export interface GuardCounter {
  /**
   * Runs `operation` on the shared counter, or on this instance's own when there is no Redis, when Redis failed or
   * stalled lately, or when it does not answer within `maxStoreWaitMs` or by `deadline` (epoch ms). A rejection with
   * a `RateLimiterRes` (over the limit) is the operation's answer, not a fault.
   */
  run<Answer>(
    key: string,
    deadline: number,
    operation: (counter: RateLimiterAbstract, key: string) => Promise<Answer>,
  ): Promise<Answer>;
}

export interface GuardStore {
  /** A counter of `points` per `durationSeconds` under `name`; in memory it keeps at most `memoryKeys` keys. */
  counter(name: string, points: number, durationSeconds: number): GuardCounter;
  /** A contact's key in the counters: an HMAC keyed from the API key, so that no e-mail or phone can be read or guessed. */
  contactKey(contact: ValidContact): string;
}

/**
 * The guard's counters, from rate-limiter-flexible: in memory, or in Redis shared by every instance. Redis is a
 * network call: each operation races the request's deadline, and while Redis stalls or fails (a frozen Redis keeps
 * its connection "ready" and queues commands, which rate-limiter-flexible's insurance limiter does not see) the
 * instance counts on its own for `storeRetryMs`, then one operation tries Redis again.
 */
export function createGuardStore(
  config: Pick<Config, 'apiKey' | 'redis' | 'redisPrefix'>,
  log: SafeLogger,
  memoryKeys = defaultMemoryKeys,
): GuardStore {
  const secret = createHmac('sha256', config.apiKey).update('express-reteno-inbox store keys').digest();
  const prefix = config.redisPrefix ?? defaultRedisPrefix(config.apiKey);
  const redis = config.redis;
  // Redis is asked while `localUntil` is past; one operation at a time tests it again after a fault.
  let localUntil = 0;
  let testing = false;

  const fault = () => {
    localUntil = Date.now() + storeRetryMs;
    log.warnAtMostEvery(
      'store',
      60_000,
      errorCodes.storeUnavailable,
      `Redis did not answer within ${maxStoreWaitMs} ms, or failed: each instance counts token budgets, the back-off and maxPerSecond on its own for ${storeRetryMs / 1000} s, then asks Redis again (logged at most once a minute).`,
    );
  };

  return {
    counter(name, points, durationSeconds) {
      const options = { keyPrefix: `${prefix}:${name}`, points, duration: durationSeconds };
      const memory = boundedMemory(new RateLimiterMemory(options), memoryKeys);
      if (redis === undefined) return { run: (key, _deadline, operation) => memory(key, operation) };
      const shared = new RateLimiterRedis({
        ...options,
        storeClient: redis,
        // ioredis has defineCommand; node-redis (v4 and later) does not.
        useRedisPackage: typeof (redis as { defineCommand?: unknown }).defineCommand !== 'function',
        // A closed or reconnecting client fails at once, and the instance counts on its own.
        rejectIfRedisNotReady: true,
      });
      return {
        async run(key, deadline, operation) {
          const now = Date.now();
          if (now < localUntil || testing) return memory(key, operation);
          const retrying = localUntil !== 0;
          testing = retrying;
          try {
            const answer = await withinTime(operation(shared, key), Math.min(deadline, now + maxStoreWaitMs));
            localUntil = 0;
            return answer;
          } catch (failure) {
            if (failure instanceof RateLimiterRes) {
              localUntil = 0;
              throw failure;
            }
            fault();
            return memory(key, operation);
          } finally {
            if (retrying) testing = false;
          }
        },
      };
    },
    contactKey(contact) {
      return createHmac('sha256', secret)
        .update(JSON.stringify([contact.email, contact.phone, contact.externalCustomerId]))
        .digest('base64url');
    },
  };
}

/** The default `redisPrefix`: a keyed hash of the API key, so that sites of two Reteno accounts never share counts. */
export function defaultRedisPrefix(apiKey: string): string {
  const id = createHmac('sha256', apiKey).update('express-reteno-inbox store prefix').digest('base64url');
  return `reteno-inbox:${id.slice(0, 12)}`;
}

/** The operation's answer, or a rejection once `until` (epoch ms) passes; a late answer or failure is dropped. */
function withinTime<Answer>(operation: Promise<Answer>, until: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the store did not answer in time')), until - Date.now());
    operation.then(
      (answer) => {
        clearTimeout(timer);
        resolve(answer);
      },
      (failure: unknown) => {
        clearTimeout(timer);
        reject(failure);
      },
    );
  });
}

/**
 * An in-memory counter that keeps at most `maxKeys` keys: rate-limiter-flexible's memory store has no bound, so the
 * keys are tracked here, the least recently counted first out.
 */
function boundedMemory(counter: RateLimiterMemory, maxKeys: number) {
  const keys = new Set<string>();
  return <Answer>(key: string, operation: (counter: RateLimiterAbstract, key: string) => Promise<Answer>) => {
    keys.delete(key);
    keys.add(key);
    if (keys.size > maxKeys) {
      const oldest = keys.values().next().value as string;
      keys.delete(oldest);
      void counter.delete(oldest);
    }
    return operation(counter, key);
  };
}
