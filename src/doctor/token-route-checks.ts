import { markerHeader } from '../token-route.js';
import type { SiteSettings } from './arguments.js';
import { type Check, failed, passed, quoted, readmeUrl, skipped } from './check.js';
import { type Exchange, exchange, jsonBody, noAnswer } from './exchange.js';
import { type LoadedPage, tokenUrlFor } from './page-checks.js';
import { anonymousVisitor, type Visitor, visitorHeaders } from './visitor.js';

/** What one call to the token route should get, and what each other answer means. */
interface TokenCall {
  name: string;
  /** Who calls, or why nobody can. */
  visitor: Visitor | { unavailable: string };
  headers: Record<string, string>;
  expected: readonly number[];
  /** What the call carried beyond the marker header, for the detail. */
  carried: string;
  /** The fix for an answer of the route itself (it carries the marker header) with another status. */
  fixFor(status: number): string;
}

/** An origin no site has: the doctor's stand-in for an attacker's page. */
const foreignOrigin = 'https://reteno-inbox-doctor.invalid';
const proxyFix = `The route refused a call from its own origin: behind a proxy, set app.set('trust proxy', …); another domain goes in allowedOrigins (${readmeUrl}#production-checklist).`;
const anonymousCheck = 'The token route refuses anonymous calls';

/**
 * Calls the token route three times, as the embed does (POST, `x-reteno-inbox: 1`, the headers and cookies the
 * page gives its embed): as an anonymous visitor, from another site with the user's cookies, and from the page with
 * them. When the embed sends a CSRF token, the anonymous visitor is one the CSRF middleware lets through (see
 * {@link anonymousVisitor}): no call of a correct site's doctor run is a CSRF failure in its log.
 */
export async function checkTokenRoute(
  site: SiteSettings,
  page: LoadedPage,
  timeout: number,
): Promise<Check[]> {
  const url = tokenUrlFor(site, page);
  const origin = site.pageUrl.origin;
  const signedIn: Visitor = page.kind === 'page' ? page.visitor : { cookies: site.cookies, headers: {} };
  const csrfHeader = Object.keys(signedIn.headers)[0];
  const anonymous =
    csrfHeader === undefined
      ? { kind: 'visitor' as const, visitor: { cookies: [], headers: {} }, page: undefined }
      : await anonymousVisitor(site, csrfHeader, timeout);
  const withCsrf =
    csrfHeader === undefined ? '' : `, with the ${csrfHeader} header and cookies the page gives its embed`;
  const calls: TokenCall[] = [
    {
      name: anonymousCheck,
      visitor: anonymous.kind === 'visitor' ? anonymous.visitor : { unavailable: anonymous.detail },
      headers: { origin, 'sec-fetch-site': 'same-origin' },
      expected: [401],
      carried:
        anonymous.kind === 'visitor' && anonymous.page !== undefined
          ? `, as an anonymous visitor of ${anonymous.page.href} with its CSRF token`
          : '',
      fixFor: (status) =>
        status === 403 ? proxyFix : 'resolveContact must return nothing for a visitor who is not signed in.',
    },
    {
      name: 'The token route refuses cross-site calls',
      visitor: signedIn,
      headers: { origin: foreignOrigin, 'sec-fetch-site': 'cross-site' },
      expected: [403],
      carried: withCsrf,
      fixFor: () =>
        'The route answered a call from another site: is a proxy dropping the Origin and Sec-Fetch-Site headers?',
    },
    {
      name: 'The token route answers the signed-in user',
      visitor: signedIn,
      headers: { origin, 'sec-fetch-site': 'same-origin' },
      expected: [200, 404],
      carried: withCsrf,
      fixFor: signedInFix,
    },
  ];
  return Promise.all(
    calls.map(async (call) => {
      if ('unavailable' in call.visitor) {
        return skipped(
          call.name,
          `not run: the embed sends a CSRF token, so a CSRF middleware may guard the route, and ${call.visitor.unavailable}`,
        );
      }
      const headers = visitorHeaders(site, call.visitor, url);
      for (const [name, value] of Object.entries(call.headers)) headers.set(name, value);
      headers.set(markerHeader, '1');
      headers.set('accept', 'application/json');
      const outcome = await exchange(url, { method: 'POST', headers }, timeout);
      return judge(call, url, outcome, timeout, csrfHeader);
    }),
  );
}

function judge(
  call: TokenCall,
  url: URL,
  outcome: Exchange,
  timeout: number,
  csrfHeader: string | undefined,
): Check {
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
      `HTTP ${status} without the ${markerHeader} header: something other than the token route answered${call.carried}`,
      otherAnswerFix(status, url, csrfHeader),
    );
  }
  const body = jsonBody(outcome) as { token?: unknown; error?: unknown } | undefined;
  if (body === undefined) {
    return failed(call.name, `HTTP ${status} without JSON`, "A middleware rewrote the token route's answer.");
  }
  const detail = `${describeAnswer(status, body)}${call.carried}`;
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
  const said = typeof body.error === 'string' ? ` {"error":${quoted(body.error)}}` : '';
  const note = status === 404 ? ': the route works; Reteno does not know this contact yet' : '';
  return `HTTP ${status}${said}${note}`;
}

/**
 * What answered instead of the route, guessed from the status, as the embed's own message does: a CSRF middleware
 * refuses with a 403, or with a 500 through the site's error handler (lusca).
 */
function otherAnswerFix(status: number, url: URL, csrfHeader: string | undefined): string {
  const mountOrder = `${readmeUrl}#mount-order`;
  if ((status === 403 || status === 500) && csrfHeader !== undefined) {
    return `A middleware refused the call although it carried the ${csrfHeader} header and the cookies the page gives its embed. If it is a CSRF middleware: does it read ${csrfHeader} (else set csrfHeader to the header it reads), and does csrfToken hand the embed the token it issued for this page, once per request (${mountOrder})?`;
  }
  if (status === 403) {
    return `The token route sits behind a CSRF middleware: mount retenoInbox before it or pass csrfToken (${mountOrder}).`;
  }
  if (status === 500) {
    return `Another middleware failed: a CSRF middleware that refuses through the error handler (lusca) answers 500, so mount retenoInbox() before it or pass csrfToken (${mountOrder}); else mount retenoInbox() before the middleware that fails (${readmeUrl}#troubleshooting).`;
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
