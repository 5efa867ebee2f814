import { channel, tracingChannel } from 'node:diagnostics_channel';
import type { Response } from 'express';

/**
 * The names of the package's `node:diagnostics_channel` channels. Nothing is published, and no message is built,
 * while nobody subscribes. See docs/OPERATING.md.
 *
 * @example
 * import { tracingChannel } from 'node:diagnostics_channel';
 * tracingChannel(channelNames.token).subscribe({ asyncEnd: (call) => console.log(call.outcome, call.durationMs) });
 */
export const channelNames = {
  /** A tracing channel (start, end, asyncStart, asyncEnd, error) around every POST to the token route. */
  token: 'express-reteno-inbox:token',
  /** A contact went over its token budget: {@link BudgetMessage}. */
  budget: 'express-reteno-inbox:budget',
  /** A back-off window after a 429 from Reteno started: {@link BackoffMessage}. */
  backoff: 'express-reteno-inbox:backoff',
  /** `createContact` asked Reteno to create a contact: {@link ContactCreationMessage}. */
  contactCreation: 'express-reteno-inbox:contact-creation',
} as const;

/** How a call of the token route ended. */
export type TokenCallOutcome =
  | 'token'
  | 'not-found'
  /** Reteno refused the API key (401 or 403). */
  | 'refused'
  /** Answered 503: Reteno throttles (the shared back-off), or too many calls wait for it. */
  | 'busy'
  | 'timeout'
  | 'failed'
  | 'over-budget'
  /** Answered 429 because the contact's previous token call is still waiting or at Reteno (one place each). */
  | 'concurrent'
  /** Not from the site's own pages (403). */
  | 'forbidden'
  | 'unauthenticated'
  | 'invalid-contact'
  /** `resolveContact` (or the Redis store) threw: the route passed the error to `next()`. */
  | 'error';

/**
 * The context object of one token-route call, the same object in each of its events. It never holds the API key,
 * a token or a contact value. `outcome`, `status` and `durationMs` are set by `asyncStart`.
 */
export interface TokenCallContext {
  outcome?: TokenCallOutcome;
  /** The HTTP status the route answered; absent when it passed an error to `next()`. */
  status?: number;
  /** Requests sent to Reteno, retries included. */
  attempts: number;
  /** The status of Reteno's last answer; absent when no attempt got one. */
  upstreamStatus?: number;
  /** Time spent in the token guard's queue and back-off, not talking to Reteno. */
  waitedMs: number;
  /** From the route's first line to its answer. */
  durationMs?: number;
  /** What the route passed to `next()`, with the `error` event. */
  error?: unknown;
}

/** Published on {@link channelNames.budget}. */
export interface BudgetMessage {
  /** What the route answered in `Retry-After`. */
  retryAfterSeconds: number;
}

/** Published on {@link channelNames.backoff} by the instance whose request got the 429. */
export interface BackoffMessage {
  /** Which of Reteno's endpoints answered 429: each has its own back-off. */
  endpoint: 'token' | 'contact';
  seconds: number;
  /** `retry-after`: as long as Reteno asked; `exponential`: Reteno did not say, so 1, 2, 4 … 30 s. */
  reason: 'retry-after' | 'exponential';
}

/** Published on {@link channelNames.contactCreation} when Reteno's contact API answered, or did not. */
export interface ContactCreationMessage {
  /** `upserted`: created or updated; `repeated`: Reteno's 409, already being created; else how it failed. */
  outcome: 'upserted' | 'repeated' | 'refused' | 'busy' | 'timeout' | 'failed';
  /** Requests sent to the contact API, retries included. */
  attempts: number;
}

// Channels are Node's, shared by name across the process; these references hold no state of the package.
const tokenCalls = tracingChannel<TokenCallContext>(channelNames.token);
const budget = channel(channelNames.budget);
const backoff = channel(channelNames.backoff);
const contactCreation = channel(channelNames.contactCreation);

export function publishContactCreation(outcome: ContactCreationMessage['outcome'], attempts: number): void {
  if (contactCreation.hasSubscribers) {
    contactCreation.publish({ outcome, attempts } satisfies ContactCreationMessage);
  }
}

export function publishOverBudget(retryAfterSeconds: number): void {
  if (budget.hasSubscribers) budget.publish({ retryAfterSeconds } satisfies BudgetMessage);
}

export function publishBackoff(
  endpoint: BackoffMessage['endpoint'],
  seconds: number,
  reason: BackoffMessage['reason'],
): void {
  if (backoff.hasSubscribers) backoff.publish({ endpoint, seconds, reason } satisfies BackoffMessage);
}

/** How a token-route call ended, as the route records it once it answered. */
export interface TracedCall {
  outcome: TokenCallOutcome;
  attempts: number;
  upstreamStatus: number | undefined;
  waitedMs: number;
  /** With outcome 'error': what the route passed to `next()`. */
  error?: unknown;
}

/** The trace of one token-route call, or `undefined` (nothing built) while nobody subscribes to the channel. */
export function traceTokenCall(res: Response): TokenCallTrace | undefined {
  return tokenCalls.hasSubscribers ? new TokenCallTrace(res) : undefined;
}

/** Publishes start now, end when the route returns, then (error,) asyncStart and asyncEnd once it answered. */
export class TokenCallTrace {
  readonly context: TokenCallContext = { attempts: 0, waitedMs: 0 };
  readonly #res: Response;
  readonly #started = performance.now();

  constructor(res: Response) {
    this.#res = res;
    tokenCalls.start.publish(this.context);
  }

  /** The route returned: publishes end, and the rest when `answered` settles. */
  follow(answered: Promise<TracedCall>): void {
    tokenCalls.end.publish(this.context);
    void answered.then((call) => this.#answered(call));
  }

  #answered(call: TracedCall): void {
    const { context } = this;
    context.outcome = call.outcome;
    context.attempts = call.attempts;
    context.waitedMs = call.waitedMs;
    if (call.upstreamStatus !== undefined) context.upstreamStatus = call.upstreamStatus;
    context.durationMs = performance.now() - this.#started;
    if (call.outcome === 'error') {
      context.error = call.error;
      tokenCalls.error.publish(context);
    } else {
      context.status = this.#res.statusCode;
    }
    tokenCalls.asyncStart.publish(context);
    tokenCalls.asyncEnd.publish(context);
  }
}
