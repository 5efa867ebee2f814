import { RateLimiterRes } from 'rate-limiter-flexible';
import type { ValidContact } from './contact.js';
import { createSafeLogger } from './log.js';
import { type RetenoAnswer, type UpstreamFailure, upstreamStatusOf } from './reteno-client.js';
import { publishOverBudget } from './tracing.js';
import type { Config } from './types.js';
import { type Admission, type Backoff, createBackoff, type Endpoint } from './guard/backoff.js';
import { createLine, type Ticket } from './guard/line.js';
import { createGuardStore, type GuardStore } from './guard/store.js';

export type { Endpoint } from './guard/backoff.js';
export { maxBackoffSeconds } from './guard/backoff.js';

/** What a request keeps for answering when it waits for another one's test of Reteno until its deadline. */
const deadlineMarginMs = 20;
/** The longest a request keeps, after a back-off window it waits for, for its own call to Reteno. */
const maxCallReserveMs = 1000;
/** The site-wide cap is counted in slots of this length, each allowing its share of `maxPerSecond`. */
const capSlotMs = 100;

type Throttled = Extract<UpstreamFailure, { kind: 'throttled' }>;

/** The guard's own answers: Reteno is left alone for now, or the request's time ran out while it waited. */
export type GuardRefusal =
  | { kind: 'busy'; retryAfterSeconds: number; reason: 'throttled' | 'queue-full' }
  | { kind: 'timeout'; attempts: number };

/** How a guarded call ended: Reteno's answer (never a 429: the guard waits those out), or the guard's refusal. */
export type Guarded<Outcome> = Exclude<Outcome, Throttled> | GuardRefusal;

/** What one route call cost at Reteno, filled in by the guard for the trace. */
export interface CallLedger {
  /** Requests sent to Reteno, retries included. */
  attempts: number;
  /** The status of Reteno's last answer, when one came. */
  upstreamStatus: number | undefined;
  /** Time spent in the line and the back-off, not talking to Reteno. */
  waitedMs: number;
}

/** How a route call got in: admitted, or refused before it reached the line. */
export type Entry =
  | { kind: 'admitted'; visit: Visit }
  /** Over its token budget. */
  | { kind: 'over-budget'; retryAfterSeconds: number }
  /** Its previous request is still in the guard: one place per contact. */
  | { kind: 'concurrent' }
  /** The line is full of requests that asked no more than this one. */
  | Extract<GuardRefusal, { kind: 'busy' }>;

/** One route call inside the guard. `leave()` when it has its answer. */
export interface Visit {
  /** Calls Reteno's `endpoint` within the line, the site-wide cap and that endpoint's back-off, all by the deadline. */
  call<Outcome extends RetenoAnswer>(
    endpoint: Endpoint,
    call: () => Promise<Outcome>,
  ): Promise<Guarded<Outcome>>;
  /** Counts one more token request of the contact (asking again for a new contact): ms until it refills, else 0. */
  spendBudget(): Promise<number>;
  readonly contactKey: string;
  readonly deadline: number;
  leave(): void;
}

export interface TokenGuard {
  /** Lets a route call of `contact` in: counts it against the budget and gives the contact its one place. */
  enter(contact: ValidContact, deadline: number, ledger: CallLedger): Promise<Entry>;
  /** The guard's counters, for contact creation's own. */
  readonly store: GuardStore;
}

type Pass = { admission: Admission; waitMs: number };
interface GuardTicket extends Ticket {
  /** The endpoint the request is to call next. */
  endpoint: Endpoint;
}

/**
 * What protects the site's Reteno account from its own token route: a token budget per contact; one place in the
 * line per contact, the least-used contacts served first; at most `maxInFlight` calls at once and `maxPerSecond`
 * a second for the whole site; and a back-off after a 429, one per endpoint. The counts live in the guard's store
 * (store.ts): in memory, or in Redis shared by every instance.
 */
export function createTokenGuard(
  config: Pick<
    Config,
    | 'apiKey'
    | 'logger'
    | 'redis'
    | 'redisPrefix'
    | 'tokenBudget'
    | 'maxInFlight'
    | 'maxQueued'
    | 'maxPerSecond'
    | 'timeout'
  >,
  store: GuardStore = createGuardStore(config, createSafeLogger(config.logger, config.apiKey)),
): TokenGuard {
  // A request waits for the end of a back-off window only if this much of its time is left after it: the first
  // request that wakes tests Reteno, and a test that runs out of time tells nobody anything.
  const callReserveMs = Math.min(config.timeout / 2, maxCallReserveMs);
  const { tokenBudget, maxQueued, maxPerSecond } = config;
  const budget = tokenBudget && store.counter('budget', tokenBudget.limit, tokenBudget.windowMs / 1000);
  const backoffs: Record<Endpoint, Backoff> = {
    token: createBackoff(store, 'token'),
    contact: createBackoff(store, 'contact'),
  };
  // One counter per slot of 100 ms, shared by the instances: the first nine tenths of a second share maxPerSecond,
  // so any second of the clock holds at most maxPerSecond calls, and a call sent late in its second still reaches
  // Reteno within it. Any 1 s span holds at most one slot's share more.
  const cap = store.counter('rate', maxPerSecond, 1);
  const sharingSlots = 9;
  const slotShare = (slot: number) => {
    const index = slot % (1000 / capSlotMs);
    if (index >= sharingSlots) return 0;
    return (
      Math.floor(((index + 1) * maxPerSecond) / sharingSlots) -
      Math.floor((index * maxPerSecond) / sharingSlots)
    );
  };
  const nextSlotIn = (now: number) => capSlotMs - (now % capSlotMs);

  const line = createLine<GuardTicket, Pass>(config.maxInFlight, async (ticket) => {
    const { deadline } = ticket;
    const backoff = backoffs[ticket.endpoint];
    const admission = await backoff.admit(deadline);
    if (admission.waitMs > 0) return { kind: 'turned-away', pass: { admission, waitMs: admission.waitMs } };
    const now = Date.now();
    const slot = Math.floor(now / capSlotMs);
    const share = slotShare(slot);
    const counted =
      share === 0
        ? undefined
        : await cap.run(String(slot), deadline, (counter, key) => counter.penalty(key, 1));
    if (counted !== undefined && counted.consumedPoints <= share) {
      return { kind: 'go', pass: { admission, waitMs: 0 } };
    }
    // This slot's share is spent: the test of Reteno this call was to make is left to the next call out.
    if (admission.probe) await backoff.giveBackProbe(deadline);
    return { kind: 'not-yet', retryInMs: nextSlotIn(Date.now()) };
  });

  // Requests in the guard that are not calling Reteno: waiting for the store, in line or for a back-off window. At
  // most maxQueued, and the places at Reteno that are free.
  let queued = 0;
  // The contacts with a request in the guard, and their tickets: one place each.
  const present = new Map<string, GuardTicket>();

  const spend = async (
    contactKey: string,
    deadline: number,
  ): Promise<{ usage: number; refillMs: number }> => {
    if (!budget) return { usage: 0, refillMs: 0 };
    try {
      const spent = await budget.run(contactKey, deadline, (counter, key) => counter.consume(key));
      return { usage: spent.consumedPoints, refillMs: 0 };
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const refillMs = Math.max(rejection.msBeforeNext, 1);
      publishOverBudget(Math.ceil(refillMs / 1000));
      return { usage: rejection.consumedPoints, refillMs };
    }
  };

  return {
    store,
    async enter(contact, deadline, ledger) {
      const contactKey = store.contactKey(contact);
      const holder = present.get(contactKey);
      if (holder !== undefined) {
        // Asking again while its request waits puts that request further back in the line.
        holder.usage += 1;
        return { kind: 'concurrent' };
      }
      // A full line takes a newcomer in place of the waiting request whose contact asked most, if that one asked
      // more than once: the newcomer's own count is not known before the store answers.
      if (queued >= maxQueued + config.maxInFlight - line.inFlight && !line.sendAwayAbove(1)) {
        return { kind: 'busy', retryAfterSeconds: 1, reason: 'queue-full' };
      }
      const ticket: GuardTicket = { usage: 0, deadline, endpoint: 'token' };
      present.set(contactKey, ticket);
      queued += 1;
      let left = false;
      const leave = () => {
        if (left) return;
        left = true;
        queued -= 1;
        present.delete(contactKey);
      };
      try {
        const spent = await spend(contactKey, deadline);
        if (spent.refillMs > 0) {
          leave();
          return { kind: 'over-budget', retryAfterSeconds: Math.ceil(spent.refillMs / 1000) };
        }
        ticket.usage += spent.usage;
      } catch (error) {
        leave();
        throw error;
      }

      const visit: Visit = {
        contactKey,
        deadline,
        leave,
        async spendBudget() {
          const spent = await spend(contactKey, deadline);
          ticket.usage += 1;
          return spent.refillMs;
        },
        async call<Outcome extends RetenoAnswer>(
          endpoint: Endpoint,
          call: () => Promise<Outcome>,
        ): Promise<Guarded<Outcome>> {
          const backoff = backoffs[endpoint];
          ticket.endpoint = endpoint;
          for (;;) {
            const lined = Date.now();
            const turn = await line.take(ticket);
            ledger.waitedMs += Date.now() - lined;
            if (turn.kind === 'full') return { kind: 'busy', retryAfterSeconds: 1, reason: 'queue-full' };
            if (turn.kind === 'timeout') return { kind: 'timeout', attempts: 0 };
            const { admission } = turn.pass;
            let waitMs = turn.pass.waitMs;
            if (turn.kind === 'go') {
              let outcome: Outcome;
              queued -= 1;
              try {
                outcome = await call();
              } finally {
                queued += 1;
                line.release();
              }
              ledger.attempts += outcome.attempts;
              ledger.upstreamStatus = upstreamStatusOf(outcome) ?? ledger.upstreamStatus;
              if (outcome.kind !== 'throttled') {
                if (admission.probe) await backoff.answered(outcome.kind !== 'timeout', deadline);
                return outcome as Exclude<Outcome, Throttled>;
              }
              // A 429 is never retried at once: the request waits for the back-off like every other one.
              waitMs = await backoff.throttled(
                (outcome as Throttled).retryAfterMs,
                admission.probe,
                deadline,
              );
            }
            if (Date.now() + waitMs + callReserveMs > deadline) {
              // While another request tests Reteno, its answer may still come in time.
              const untilDeadline = deadline - Date.now() - deadlineMarginMs;
              if (!admission.probeOut || untilDeadline <= 0) {
                return { kind: 'busy', retryAfterSeconds: Math.ceil(waitMs / 1000), reason: 'throttled' };
              }
              waitMs = untilDeadline;
            }
            const waited = Date.now();
            await backoff.wait(waitMs);
            ledger.waitedMs += Date.now() - waited;
          }
        },
      };
      return { kind: 'admitted', visit };
    },
  };
}
