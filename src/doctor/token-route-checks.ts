import { markerHeader } from '../token-route.js';
import type { DoctorSettings } from './arguments.js';
import { type Check, failed, passed, readmeUrl } from './check.js';
import { type Exchange, exchange, jsonBody, noAnswer } from './exchange.js';

type Site = NonNullable<DoctorSettings['site']>;

/** What one call to the token route should get, and what each other answer means. */
interface TokenCall {
  name: string;
  headers: Record<string, string>;
  expected: readonly number[];
  /** The fix for an answer of the route itself (it carries the marker header) with another status. */
  fixFor(status: number): string;
}

/** An origin no site has: the doctor's stand-in for an attacker's page. */
const foreignOrigin = 'https://reteno-inbox-doctor.invalid';
const proxyFix = `The route refused a call from its own origin: behind a proxy, set app.set('trust proxy', …); another domain goes in allowedOrigins (${readmeUrl}#production-checklist).`;

/**
 * Calls the token route three times, as the embed does (POST, `x-reteno-inbox: 1`): without the cookie, from
 * another site with the cookie, and from the page with the cookie.
 */
export function checkTokenRoute(site: Site, timeout: number): Promise<Check[]> {
  const origin = site.pageUrl.origin;
  const calls: TokenCall[] = [
    {
      name: 'The token route refuses anonymous calls',
      headers: { origin, 'sec-fetch-site': 'same-origin' },
      expected: [401],
      fixFor: (status) =>
        status === 403 ? proxyFix : 'resolveContact must return nothing for a visitor who is not signed in.',
    },
    {
      name: 'The token route refuses cross-site calls',
      headers: { cookie: site.cookie, origin: foreignOrigin, 'sec-fetch-site': 'cross-site' },
      expected: [403],
      fixFor: () =>
        'The route answered a call from another site: is a proxy dropping the Origin and Sec-Fetch-Site headers?',
    },
    {
      name: 'The token route answers the signed-in user',
      headers: { cookie: site.cookie, origin, 'sec-fetch-site': 'same-origin' },
      expected: [200, 404],
      fixFor: signedInFix,
    },
  ];
  return Promise.all(
    calls.map(async (call) => {
      const outcome = await exchange(
        site.tokenUrl,
        { method: 'POST', headers: { [markerHeader]: '1', accept: 'application/json', ...call.headers } },
        timeout,
      );
      return judge(call, site.tokenUrl, outcome, timeout);
    }),
  );
}

function judge(call: TokenCall, url: URL, outcome: Exchange, timeout: number): Check {
  if (outcome.kind !== 'answer') {
    return failed(
      call.name,
      noAnswer(url, outcome, timeout),
      outcome.kind === 'timeout'
        ? 'The token route must answer quickly: does a middleware before retenoInbox() hang (a session store)?'
        : 'Check --site-url: the site must be running and reachable from here.',
    );
  }
  const { status } = outcome;
  if (outcome.headers.get(markerHeader) !== '1') {
    return failed(
      call.name,
      `HTTP ${status} without the ${markerHeader} header: something other than the token route answered`,
      otherAnswerFix(status, url),
    );
  }
  const body = jsonBody(outcome) as { token?: unknown; error?: unknown } | undefined;
  if (body === undefined) {
    return failed(call.name, `HTTP ${status} without JSON`, "A middleware rewrote the token route's answer.");
  }
  const detail = describeAnswer(status, body);
  if (!call.expected.includes(status)) return failed(call.name, detail, call.fixFor(status));
  if (status === 200 && !hasToken(body)) {
    return failed(
      call.name,
      detail,
      'The token route answers 200 only with a token: is it express-reteno-inbox?',
    );
  }
  return passed(call.name, detail);
}

function hasToken(body: { token?: unknown }): boolean {
  return typeof body.token === 'string' && body.token !== '';
}

/** The status and what the route said, never the token itself. */
function describeAnswer(status: number, body: { token?: unknown; error?: unknown }): string {
  if (hasToken(body)) return `HTTP ${status} with a token`;
  const said = typeof body.error === 'string' ? ` ${JSON.stringify({ error: body.error })}` : '';
  const note = status === 404 ? ': the route works; Reteno does not know this contact yet' : '';
  return `HTTP ${status}${said}${note}`;
}

/** What answered instead of the route, guessed from the status, as the embed's own message does. */
function otherAnswerFix(status: number, url: URL): string {
  if (status === 403) {
    return `The token route sits behind a CSRF middleware: mount retenoInbox before it or pass csrfToken (${readmeUrl}#mount-order).`;
  }
  if (status >= 300 && status < 400) {
    return `A redirect (to a sign-in page?): mount retenoInbox() before the login guard (${readmeUrl}#troubleshooting).`;
  }
  if (status === 404) {
    return `Nothing answers ${url.pathname}: is retenoInbox() mounted on this app, and is --token-path its tokenPath option?`;
  }
  return `Another middleware answered: mount retenoInbox() before it (${readmeUrl}#troubleshooting).`;
}

function signedInFix(status: number): string {
  switch (status) {
    case 401:
      return "resolveContact found nobody: the cookie is not a signed-in user's, or resolveContact does not read your session.";
    case 403:
      return proxyFix;
    case 422:
      return "resolveContact returned a malformed contact: see ERR_RETENO_INBOX_INVALID_CONTACT in the site's log.";
    case 502:
      return "The site's call to Reteno failed: its apiKey is refused (ERR_RETENO_INBOX_UPSTREAM_AUTH in its log) or Reteno failed.";
    case 503:
    case 504:
      return 'Reteno was busy or slow for the site: run the doctor again in a minute.';
    default:
      return `The token route answers 200 with a token, or 404 for a contact Reteno does not know (${readmeUrl}#the-token-route).`;
  }
}
