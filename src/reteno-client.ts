import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { type RequestError, type RetryObject } from 'got';
import type { ValidContact } from './contact.js';
import { basicCredentials } from './credentials.js';

/** How one token request ended, in the terms of the token route's contract. */
export type TokenOutcome =
  | { kind: 'token'; token: string }
  | { kind: 'not-found' }
  | { kind: 'auth-refused'; status: number }
  | { kind: 'busy'; retryAfterSeconds: number; detail: string; attempts: number }
  | { kind: 'timeout'; attempts: number }
  | { kind: 'failed'; detail: string; attempts: number };

export type RequestContactToken = (contact: ValidContact) => Promise<TokenOutcome>;

type Failure = 'auth' | 'busy' | 'retryable' | 'final';

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
 * One keep-alive HTTP client for Reteno's token endpoint. The API key lives only in this closure, inside the
 * Basic authorization header it builds once. Everything that does not change per request is set up here,
 * once: per-request options cost got a merge on every call.
 */
export function createRetenoClient(settings: {
  apiKey: string;
  tokenEndpoint: string;
  timeout: number;
  retries: number;
}): RequestContactToken {
  const { tokenEndpoint, timeout, retries } = settings;
  const authorization = `Basic ${basicCredentials(settings.apiKey)}`;
  const stateOf = (options: { context: Record<string, unknown> }) => options.context.state as RequestState;
  const client = got.extend({
    agent: { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) },
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
      // issues a token), so retrying this POST is as safe as retrying a GET.
      methods: ['POST'],
      calculateDelay: ({ attemptCount, error, retryAfter }: RetryObject) =>
        retryDelay(
          attemptCount,
          classify(error),
          retryAfter,
          retries,
          stateOf(error.options).deadline - Date.now(),
        ),
    },
    hooks: {
      beforeRequest: [
        (options) => {
          stateOf(options).attempts += 1;
        },
      ],
    },
  });

  return async function requestContactToken(contact) {
    const state: RequestState = { deadline: Date.now() + timeout, attempts: 0, timedOut: false };
    const request = client.post<unknown>(tokenEndpoint, { json: contact, context: { state } });
    // A plain timer and cancel() rather than an AbortSignal: same effect, a fraction of the cost per request.
    const timer = setTimeout(() => {
      state.timedOut = true;
      request.cancel();
    }, timeout);
    // A token answer is tiny; a huge body is not Reteno and is not worth reading.
    request.on('downloadProgress', ({ transferred }) => {
      if (transferred > maxBodyBytes) request.cancel();
    });
    try {
      const { body, statusCode } = await request;
      // Redirects are not followed, and a 3xx (or any other non-200 success) is not Reteno's token answer.
      if (statusCode !== 200) {
        return { kind: 'failed', detail: `HTTP ${statusCode}`, attempts: state.attempts };
      }
      const token = (body as { token?: unknown } | null)?.token;
      if (typeof token !== 'string' || token.length > maxTokenLength) {
        return { kind: 'failed', detail: 'the answer has no token string', attempts: state.attempts };
      }
      return token === '' ? { kind: 'not-found' } : { kind: 'token', token };
    } catch (error) {
      if (state.timedOut) return { kind: 'timeout', attempts: state.attempts };
      return outcomeOf(error as RequestError, state.attempts);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Milliseconds to wait before the next try, or 0 to stop. */
export function retryDelay(
  attemptCount: number,
  failure: Failure,
  retryAfterMs: number | undefined,
  retries: number,
  remainingMs: number,
): number {
  if (attemptCount > retries || (failure !== 'retryable' && failure !== 'busy')) return 0;
  const backoff = Math.min(firstBackoffMs * 2 ** (attemptCount - 1), maxBackoffMs) + Math.random() * 50;
  const delay = failure === 'busy' && retryAfterMs !== undefined ? retryAfterMs : backoff;
  // A try that could not even start before the deadline is not worth waiting for.
  return delay < remainingMs - 10 ? Math.max(1, Math.ceil(delay)) : 0;
}

function classify(error: RequestError): Failure {
  if (error.name === 'CancelError') return 'final';
  const status = error.response?.statusCode;
  if (error.name === 'HTTPError' && status !== undefined) {
    if (status === 401 || status === 403) return 'auth';
    if (status === 429) return 'busy';
    return status >= 500 ? 'retryable' : 'final';
  }
  // Network errors (reset, refused, premature close) and answers that are not JSON.
  return 'retryable';
}

function outcomeOf(error: RequestError, attempts: number): TokenOutcome {
  const failure = classify(error);
  const status = error.response?.statusCode;
  switch (failure) {
    case 'auth':
      return { kind: 'auth-refused', status: status ?? 401 };
    case 'busy':
      return {
        kind: 'busy',
        retryAfterSeconds: retryAfterSeconds(error.response?.headers['retry-after']),
        detail: 'HTTP 429',
        attempts,
      };
    default:
      return { kind: 'failed', detail: describe(error), attempts };
  }
}

function describe(error: RequestError): string {
  if (error.name === 'CancelError') return `the answer is larger than ${maxBodyBytes} bytes`;
  if (error.name === 'ParseError') return 'the answer is not JSON';
  if (error.name === 'HTTPError') return `HTTP ${error.response?.statusCode}`;
  return error.code ? `network error ${error.code}` : 'network error';
}

/** Seconds from a `Retry-After` header (seconds or an HTTP date); 1 when absent or unreadable. */
export function retryAfterSeconds(header: string | undefined): number {
  if (header === undefined) return 1;
  const seconds = /^\s*\d+\s*$/.test(header) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
  return Number.isFinite(seconds) && seconds > 1 ? Math.min(Math.ceil(seconds), 86_400) : 1;
}
