import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { type RequestError, type RetryObject } from 'got';
import type { ValidContact } from './contact.js';
import { basicCredentials } from './credentials.js';

/** How a request to Reteno failed, for every kind of request. */
export type UpstreamFailure =
  | { kind: 'auth-refused'; status: number; attempts: number }
  /** Reteno answered 429; `retryAfterMs` from its `Retry-After` header or `retryAfter` body field, if any. */
  | { kind: 'throttled'; retryAfterMs: number | undefined; attempts: number }
  | { kind: 'timeout'; attempts: number }
  /** `status`: Reteno's HTTP status, when it answered one. */
  | { kind: 'failed'; detail: string; attempts: number; status?: number };

/** How one token request ended, in the terms of the token route's contract. */
export type TokenOutcome =
  | { kind: 'token'; token: string; attempts: number }
  | { kind: 'not-found'; attempts: number }
  | UpstreamFailure;

/** How creating (or updating) a contact ended: `repeated` is Reteno's 409 for the same request within a minute. */
export type UpsertOutcome =
  { kind: 'upserted'; attempts: number } | { kind: 'repeated'; attempts: number } | UpstreamFailure;

/** Any answer of the client. */
export type RetenoAnswer = TokenOutcome | UpsertOutcome;

export interface RetenoClient {
  /** Asks Reteno for a contact's token, retries included, by `deadline` (epoch ms). */
  requestContactToken(contact: ValidContact, deadline: number): Promise<TokenOutcome>;
  /** Creates or updates a contact through Reteno's contact API, by `deadline`. */
  upsertContact(body: object, deadline: number): Promise<UpsertOutcome>;
}

type Failure = 'auth' | 'throttled' | 'retryable' | 'final';

const maxBodyBytes = 64 * 1024;
const maxTokenLength = 8 * 1024;
const firstBackoffMs = 100;
const maxBackoffMs = 1000;

/** One token request's own state, carried through got's retries in `options.context`. */
interface RequestState {
  /** When the whole request, retries included, must have ended (epoch ms). */
  deadline: number;
  attempts: number;
  /** Whether the deadline timer cancelled the request. */
  timedOut: boolean;
}

/**
 * One keep-alive HTTP client for Reteno's token endpoint and contact API. The API key lives only in this closure,
 * inside the Basic authorization header it builds once. Everything that does not change per request is set up
 * here, once: per-request options cost got a merge on every call.
 */
export function createRetenoClient(settings: {
  apiKey: string;
  tokenEndpoint: string;
  contactEndpoint: string;
  retries: number;
  maxInFlight: number;
}): RetenoClient {
  const { tokenEndpoint, contactEndpoint, retries } = settings;
  const authorization = `Basic ${basicCredentials(settings.apiKey)}`;
  const stateOf = (options: { context: Record<string, unknown> }) => options.context.state as RequestState;
  const client = got.extend({
    // The token guard lets at most maxInFlight requests out; the agents hold to it too, for a socket still closing.
    agent: {
      http: new HttpAgent({ keepAlive: true, maxSockets: settings.maxInFlight }),
      https: new HttpsAgent({ keepAlive: true, maxSockets: settings.maxInFlight }),
    },
    headers: { authorization, accept: 'application/json', 'user-agent': 'express-reteno-inbox' },
    followRedirect: false,
    responseType: 'json',
    // got's timeouts are per attempt; the total deadline is a timer per request (see below).
    timeout: {},
    retry: {
      limit: retries,
      // Pinned: calculateDelay alone decides what is retried (got 14's default, stated so an upgrade cannot change it).
      enforceRetryRules: false,
      // Asking Reteno for a contact's token changes nothing on Reteno's side (it looks the contact up and
      // issues a token), so retrying this POST is as safe as retrying a GET. The contact API upserts: a retried
      // creation updates the same contact, or is answered 409.
      methods: ['POST'],
      calculateDelay: ({ attemptCount, error }: RetryObject) =>
        retryDelay(attemptCount, classify(error), retries, stateOf(error.options).deadline - Date.now()),
    },
    hooks: {
      beforeRequest: [
        (options) => {
          stateOf(options).attempts += 1;
        },
      ],
    },
  });

  /** POSTs `json` to `url` by `deadline`; `read` turns Reteno's 200 answer into an outcome. */
  async function post<Outcome>(
    url: string,
    json: object,
    deadline: number,
    read: (body: unknown, attempts: number) => Outcome | UpstreamFailure,
  ): Promise<Outcome | UpstreamFailure> {
    const state: RequestState = { deadline, attempts: 0, timedOut: false };
    const request = client.post<unknown>(url, { json, context: { state } });
    // A plain timer and cancel() rather than an AbortSignal: same effect, a fraction of the cost per request.
    const timer = setTimeout(() => {
      state.timedOut = true;
      request.cancel();
    }, deadline - Date.now());
    // Reteno's answers are tiny; a huge body is not Reteno and is not worth reading.
    request.on('downloadProgress', ({ transferred }) => {
      if (transferred > maxBodyBytes) request.cancel();
    });
    try {
      const { body, statusCode } = await request;
      // Redirects are not followed, and a 3xx (or any other non-200 success) is not Reteno's answer.
      if (statusCode !== 200) {
        return { kind: 'failed', detail: `HTTP ${statusCode}`, attempts: state.attempts, status: statusCode };
      }
      return read(body, state.attempts);
    } catch (error) {
      if (state.timedOut) return { kind: 'timeout', attempts: state.attempts };
      return outcomeOf(error as RequestError, state.attempts);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    requestContactToken: (contact, deadline) =>
      post(tokenEndpoint, contact, deadline, (body, attempts): TokenOutcome => {
        const token = (body as { token?: unknown } | null)?.token;
        if (typeof token !== 'string' || token.length > maxTokenLength) {
          return { kind: 'failed', detail: 'the answer has no token string', attempts, status: 200 };
        }
        return token === '' ? { kind: 'not-found', attempts } : { kind: 'token', token, attempts };
      }),
    upsertContact: async (body, deadline) => {
      const outcome = await post(contactEndpoint, body, deadline, (_body, attempts): UpsertOutcome => ({
        kind: 'upserted',
        attempts,
      }));
      return outcome.kind === 'failed' && outcome.status === 409
        ? { kind: 'repeated', attempts: outcome.attempts }
        : outcome;
    },
  };
}

/**
 * Milliseconds to wait before the next try, or 0 to stop. Only network errors, 5xx and unreadable answers are
 * tried again: a 429 is left to the token guard's back-off, which every request of the instance shares.
 */
export function retryDelay(
  attemptCount: number,
  failure: Failure,
  retries: number,
  remainingMs: number,
): number {
  if (attemptCount > retries || failure !== 'retryable') return 0;
  const delay = Math.min(firstBackoffMs * 2 ** (attemptCount - 1), maxBackoffMs) + Math.random() * 50;
  // A try that could not even start before the deadline is not worth waiting for.
  return delay < remainingMs - 10 ? Math.max(1, Math.ceil(delay)) : 0;
}

function classify(error: RequestError): Failure {
  if (error.name === 'CancelError') return 'final';
  const status = error.response?.statusCode;
  if (error.name === 'HTTPError' && status !== undefined) {
    if (status === 401 || status === 403) return 'auth';
    if (status === 429) return 'throttled';
    return status >= 500 ? 'retryable' : 'final';
  }
  // Network errors (reset, refused, premature close) and answers that are not JSON.
  return 'retryable';
}

function outcomeOf(error: RequestError, attempts: number): UpstreamFailure {
  const failure = classify(error);
  const status = error.response?.statusCode;
  switch (failure) {
    case 'auth':
      return { kind: 'auth-refused', status: status ?? 401, attempts };
    case 'throttled':
      return { kind: 'throttled', retryAfterMs: retryAfterMs(error.response), attempts };
    default:
      return {
        kind: 'failed',
        detail: describe(error),
        attempts,
        ...(status === undefined ? {} : { status }),
      };
  }
}

function describe(error: RequestError): string {
  if (error.name === 'CancelError') return `the answer is larger than ${maxBodyBytes} bytes`;
  if (error.name === 'ParseError') return 'the answer is not JSON';
  if (error.name === 'HTTPError') return `HTTP ${error.response?.statusCode}`;
  return error.code ? `network error ${error.code}` : 'network error';
}

/**
 * How long Reteno asks to be left alone after a 429: its `Retry-After` header (seconds or an HTTP date), else a
 * `retryAfter` field in seconds in the JSON body; `undefined` when it says neither.
 */
export function retryAfterMs(
  response: { headers: Record<string, unknown>; body: unknown } | undefined,
): number | undefined {
  const header = response?.headers['retry-after'];
  if (typeof header === 'string') {
    const ms = /^\s*\d+\s*$/.test(header) ? Number(header) * 1000 : Date.parse(header) - Date.now();
    if (Number.isFinite(ms)) return Math.max(ms, 0);
  }
  const field = (response?.body as { retryAfter?: unknown } | null | undefined)?.retryAfter;
  return typeof field === 'number' && Number.isFinite(field) && field >= 0 ? field * 1000 : undefined;
}

/** The HTTP status of Reteno's last answer, when one came. */
export function upstreamStatusOf(answer: RetenoAnswer): number | undefined {
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
