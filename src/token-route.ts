import type { NextFunction, Request, Response } from 'express';
import { checkContact } from './contact.js';
import type { NewContactOutcome, TokenForNewContact } from './contact-creation.js';
import { errorCodes } from './errors.js';
import type { CallLedger, TokenGuard } from './token-guard.js';
import type { SafeLogger } from './log.js';
import type { RetenoClient } from './reteno-client.js';
import { type TokenCallOutcome, type TracedCall, traceTokenCall } from './tracing.js';
import type { Config } from './types.js';

/** The header every call from the embed carries (a cross-site form cannot send it), and every answer of the route. */
export const markerHeader = 'x-reteno-inbox';

/** How a token call ended, before it is turned into the route's answer. */
type RouteOutcome =
  | NewContactOutcome
  | { kind: 'forbidden' }
  | { kind: 'unauthenticated' }
  | { kind: 'invalid-contact'; reason: string }
  | { kind: 'concurrent' };

/**
 * POST tokenPath: checks where the call comes from, who the visitor is (server side only), and asks Reteno
 * for that contact's token within the token guard. Answers with the contract's status codes; only `resolveContact`
 * errors reach `next`. Each call is decided first (`decide`), then answered and traced once (`answer`).
 */
export function createTokenRoute(
  config: Pick<Config, 'resolveContact' | 'allowedOrigins' | 'timeout' | 'tokenBudget'>,
  client: RetenoClient,
  guard: TokenGuard,
  tokenForNewContact: TokenForNewContact | undefined,
  log: SafeLogger,
) {
  const overBudgetMessage = config.tokenBudget
    ? `A contact asked for more than ${config.tokenBudget.limit} tokens in ${config.tokenBudget.windowMs / 1000} s; answered 429 without calling Reteno (logged at most once a minute).`
    : '';

  const decide = async (req: Request, ledger: CallLedger): Promise<RouteOutcome> => {
    if (!isFromOwnPage(req, config.allowedOrigins)) return { kind: 'forbidden' };
    // The route's whole answer, waiting in line included, is due by then.
    const deadline = Date.now() + config.timeout;
    const check = checkContact(await config.resolveContact(req));
    if (check.kind === 'anonymous') return { kind: 'unauthenticated' };
    if (check.kind === 'invalid') return { kind: 'invalid-contact', reason: check.reason };
    const entry = await guard.enter(check.contact, deadline, ledger);
    if (entry.kind !== 'admitted') return entry;
    const { visit } = entry;
    try {
      const outcome = await visit.call('token', () => client.requestContactToken(check.contact, deadline));
      if (outcome.kind === 'not-found' && tokenForNewContact !== undefined) {
        return await tokenForNewContact(req, check.contact, visit);
      }
      return outcome;
    } finally {
      visit.leave();
    }
  };

  /** Sends the answer for `outcome`, logging what an operator must know, and names the outcome for the trace. */
  const answer = (res: Response, outcome: RouteOutcome): TokenCallOutcome => {
    switch (outcome.kind) {
      case 'forbidden':
        res.status(403).json({ error: 'forbidden' });
        return 'forbidden';
      case 'unauthenticated':
        res.status(401).json({ error: 'unauthenticated' });
        return 'unauthenticated';
      case 'invalid-contact':
        log.warnAtMostEvery(
          'invalid-contact',
          10_000,
          errorCodes.invalidContact,
          `The token route refused a contact: ${outcome.reason} (logged at most every 10 s).`,
        );
        res.status(422).json({ error: 'invalid_contact' });
        return 'invalid-contact';
      case 'over-budget':
        log.warnAtMostEvery('token-budget', 60_000, errorCodes.tokenBudget, overBudgetMessage);
        res.setHeader('Retry-After', String(outcome.retryAfterSeconds));
        res.status(429).json({ error: 'too_many_requests' });
        return 'over-budget';
      case 'concurrent':
        // The contact's previous call is still waiting or at Reteno: each token works for the page that asked.
        res.setHeader('Retry-After', '1');
        res.status(429).json({ error: 'too_many_requests' });
        return 'concurrent';
      case 'token':
        res.status(200).json({ token: outcome.token });
        return 'token';
      case 'not-found':
        res.status(404).json({ error: 'contact_not_found' });
        return 'not-found';
      case 'auth-refused':
        log.configurationError(
          'upstream-auth',
          errorCodes.upstreamAuth,
          `Reteno refused the API key (HTTP ${outcome.status}); not retried. Check the apiKey option: Reteno disables keys unused for 90 days.`,
          60_000,
        );
        res.status(502).json({ error: 'upstream_error' });
        return 'refused';
      case 'busy':
        log.warnAtMostEvery(
          `busy-${outcome.reason}`,
          10_000,
          errorCodes.upstreamBusy,
          outcome.reason === 'throttled'
            ? `Reteno answers 429: the instance leaves it alone for ${outcome.retryAfterSeconds} s and answers 503 meanwhile (logged at most every 10 s).`
            : 'Too many token requests are waiting for Reteno: answered 503 (logged at most every 10 s). See maxInFlight, maxQueued and maxPerSecond.',
        );
        res.setHeader('Retry-After', String(outcome.retryAfterSeconds));
        res.status(503).json({ error: 'upstream_busy' });
        return 'busy';
      case 'timeout':
        // Under a flood many requests time out together while waiting in line: one line every 10 s says so.
        log.warnAtMostEvery(
          outcome.attempts === 0 ? 'timeout-waiting' : 'timeout',
          10_000,
          errorCodes.upstreamFailed,
          outcome.attempts === 0
            ? `A token request waited for a place at Reteno for the whole timeout (${config.timeout} ms); answered 504 (logged at most every 10 s). See maxInFlight and maxPerSecond.`
            : `Reteno did not answer within ${config.timeout} ms (${outcome.attempts} attempt(s)); answered 504 (logged at most every 10 s).`,
        );
        res.status(504).json({ error: 'upstream_timeout' });
        return 'timeout';
      case 'failed':
        log.warn(
          errorCodes.upstreamFailed,
          `The token request failed after ${outcome.attempts} attempt(s): ${outcome.detail}.`,
        );
        res.status(502).json({ error: 'upstream_error' });
        return 'failed';
    }
  };

  return function retenoInboxTokenRoute(req: Request, res: Response, next: NextFunction): void {
    res.setHeader('Cache-Control', 'no-store');
    // Tells the embed that the answer comes from this route and not from a middleware in front of it.
    res.setHeader(markerHeader, '1');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      res.status(405).json({ error: 'method_not_allowed' });
      return;
    }
    // Built only while someone subscribes to the token channel (see tracing.ts).
    const trace = traceTokenCall(res);
    const ledger: CallLedger = { attempts: 0, upstreamStatus: undefined, waitedMs: 0 };
    // A synchronous throw of resolveContact becomes a rejection, so every error reaches next() the same way.
    const answered = Promise.resolve()
      .then(() => decide(req, ledger))
      .then((outcome): TracedCall => ({ outcome: answer(res, outcome), ...ledger }))
      .catch((error: unknown): TracedCall => {
        next(error);
        return { outcome: 'error', error, ...ledger };
      });
    trace?.follow(answered);
  };
}

/**
 * True when the call can only come from the site's own pages: the marker header is there (a custom header
 * forces a CORS preflight that the route never grants), and either the call is from the request's own origin
 * or its `Origin` is an allowed one. A browser that says `Sec-Fetch-Site: same-site` or `cross-site` is believed
 * over the request's own origin, which a sibling subdomain can forge with `X-Forwarded-Host` where a permissive
 * CORS middleware lets the header through and `trust proxy` is on.
 */
export function isFromOwnPage(req: Request, allowedOrigins: ReadonlySet<string>): boolean {
  if (req.headers[markerHeader] !== '1') return false;
  const origin = req.headers.origin;
  const normalised = origin === undefined ? undefined : normaliseOrigin(origin);
  if (normalised !== undefined && allowedOrigins.has(normalised)) return true;
  const site = req.headers['sec-fetch-site'];
  if (site === 'same-site' || site === 'cross-site') return false;
  if (origin === undefined) return true;
  return normalised !== undefined && normalised === ownOrigin(req);
}

function normaliseOrigin(origin: string): string | undefined {
  if (origin.length > 2048) return undefined;
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The origin the visitor used: protocol and host as Express sees them, `trust proxy` honoured (Express 4 and 5). */
function ownOrigin(req: Request): string | undefined {
  const trust = req.app.get('trust proxy fn') as
    ((address: string | undefined, hop: number) => boolean) | undefined;
  let host = req.headers.host;
  const forwardedHost = req.headers['x-forwarded-host'];
  if (typeof forwardedHost === 'string' && forwardedHost !== '' && trust?.(req.socket.remoteAddress, 0)) {
    host = forwardedHost.split(',')[0]?.trim();
  }
  return host ? normaliseOrigin(`${req.protocol}://${host}`) : undefined;
}
