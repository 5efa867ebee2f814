import { channel, tracingChannel } from 'node:diagnostics_channel';
import type { NextFunction, Response } from 'express';
import type { RetenoAnswer, TokenOutcome } from './reteno-client.js';
import type { Guarded } from './token-guard.js';

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

export function publishBackoff(seconds: number, reason: BackoffMessage['reason']): void {
  if (backoff.hasSubscribers) backoff.publish({ seconds, reason } satisfies BackoffMessage);
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
  /** When the call entered the token guard, and how long it has talked to Reteno since. */
  #guarded = 0;
  #inReteno = 0;

  constructor(res: Response) {
    this.#res = res;
    tokenCalls.start.publish(this.context);
  }

  outcome(outcome: TokenCallOutcome): void {
    this.context.outcome = outcome;
  }

  /** Wraps the call to Reteno the guard is given next: counts attempts, Reteno's statuses and the time taken. */
  timeReteno<Answer extends RetenoAnswer>(call: () => Promise<Answer>): () => Promise<Answer> {
    // From the first call on: a contact's creation and the token asked for again count as one wait.
    this.#guarded ||= performance.now();
    // The Reteno client never rejects: every failure is an outcome.
    return () => {
      const started = performance.now();
      return call().then((answer) => {
        this.#inReteno += performance.now() - started;
        this.context.attempts += answer.attempts;
        const status = upstreamStatusOf(answer);
        if (status !== undefined) this.context.upstreamStatus = status;
        return answer;
      });
    };
  }

  /** The guard's answer. */
  guarded(outcome: Guarded<TokenOutcome>): void {
    this.context.waitedMs = Math.max(performance.now() - this.#guarded - this.#inReteno, 0);
    this.context.outcome = outcome.kind === 'auth-refused' ? 'refused' : outcome.kind;
  }

  /** `next`, recording what the route passes to it. */
  failing(next: NextFunction): NextFunction {
    return (error?: unknown) => {
      this.context.error = error;
      this.context.outcome = 'error';
      next(error);
    };
  }

  /** The route returned: publishes end, and the rest when `answered` settles (at once without it). */
  returned(answered?: Promise<unknown>): void {
    tokenCalls.end.publish(this.context);
    if (answered === undefined) this.#answered();
    else void answered.then(() => this.#answered());
  }

  #answered(): void {
    const { context } = this;
    context.durationMs = performance.now() - this.#started;
    if (context.outcome === 'error') {
      tokenCalls.error.publish(context);
    } else {
      context.status = this.#res.statusCode;
    }
    tokenCalls.asyncStart.publish(context);
    tokenCalls.asyncEnd.publish(context);
  }
}

function upstreamStatusOf(answer: RetenoAnswer): number | undefined {
  switch (answer.kind) {
    case 'token':
    case 'not-found':
    case 'upserted':
      return 200;
    case 'repeated':
      return 409;
    case 'throttled':
      return 429;
    case 'auth-refused':
    case 'failed':
      return answer.status;
    case 'timeout':
      return undefined;
  }
}
