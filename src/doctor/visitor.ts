import { markerHeader } from '../token-route.js';
import type { SiteSettings } from './arguments.js';
import { type Cookie, cookieHeader, withSetCookies } from './cookies.js';
import type { PageEmbed } from './embed.js';
import { type Exchange, exchange, noAnswer } from './exchange.js';
import { htmlElements } from './html.js';

/** What the doctor sends the site as one visitor: cookies, and the headers the visitor's page gives its embed. */
export interface Visitor {
  cookies: readonly Cookie[];
  /** The CSRF header(s) of the visitor's page, sent with each token call. */
  headers: Readonly<Record<string, string>>;
}

/** The headers of a request to the site as this visitor: its own, then `--header`, then its cookies for `url`. */
export function visitorHeaders(site: SiteSettings, visitor: Visitor, url: URL): Headers {
  const headers = new Headers(visitor.headers);
  for (const [name] of site.headers) headers.delete(name);
  for (const [name, value] of site.headers) headers.append(name, value);
  const cookie = cookieHeader(visitor.cookies, url, Date.now());
  if (cookie !== undefined) headers.set('cookie', cookie);
  return headers;
}

/** A GET of a page as this visitor, and the visitor with the cookies the answer sets. */
export async function visit(
  site: SiteSettings,
  visitor: Visitor,
  url: URL,
  timeout: number,
): Promise<{ outcome: Exchange; visitor: Visitor }> {
  const headers = visitorHeaders(site, { ...visitor, headers: {} }, url);
  headers.set('accept', 'text/html');
  const outcome = await exchange(url, { headers }, timeout);
  if (outcome.kind !== 'answer') return { outcome, visitor };
  const cookies = withSetCookies(visitor.cookies, url, outcome.headers.getSetCookie(), Date.now());
  return { outcome, visitor: { ...visitor, cookies } };
}

/** The headers the embed sends besides the marker: the CSRF token, when the site passes `csrfToken`. */
export function csrfHeadersOf(embed: PageEmbed): Record<string, string> {
  return Object.fromEntries(
    Object.entries(embed.headers).filter(([name]) => name.toLowerCase() !== markerHeader),
  );
}

/** An anonymous visitor a CSRF middleware lets through, or why there is none. */
export type AnonymousVisitor =
  { kind: 'visitor'; visitor: Visitor; page: URL } | { kind: 'none'; detail: string };

const maxRedirects = 5;

/**
 * A visitor of `--site-url` without the user's cookies, following redirects on the site's origin (to its sign-in
 * page, usually): the cookies the site gives it, and the CSRF token its page carries for its forms, sent in the
 * header the signed-in page's embed uses. A CSRF middleware that guards the token route then lets its call
 * through to the route, whose answer is what the doctor checks.
 */
export async function anonymousVisitor(
  site: SiteSettings,
  csrfHeader: string,
  timeout: number,
): Promise<AnonymousVisitor> {
  let visitor: Visitor = { cookies: [], headers: {} };
  let url = site.pageUrl;
  for (let redirects = 0; ; redirects++) {
    const visited = await visit(site, visitor, url, timeout);
    const { outcome } = visited;
    if (outcome.kind !== 'answer') return { kind: 'none', detail: noAnswer(url, outcome, timeout) };
    visitor = visited.visitor;
    const location = outcome.headers.get('location');
    if (outcome.status >= 300 && outcome.status < 400 && location !== null) {
      const next = sameOrigin(location, url);
      if (next === undefined || redirects === maxRedirects) {
        return {
          kind: 'none',
          detail: `for an anonymous visitor, ${url.href} redirects ${next === undefined ? 'off the site' : 'again and again'}`,
        };
      }
      url = next;
      continue;
    }
    const token = pageCsrfToken(outcome.body);
    if (token === undefined) {
      return {
        kind: 'none',
        detail: `the page an anonymous visitor gets (${url.href}, HTTP ${outcome.status}) carries no CSRF token: no hidden _csrf field, no <meta name="csrf-token">`,
      };
    }
    return { kind: 'visitor', visitor: { ...visitor, headers: { [csrfHeader]: token } }, page: url };
  }
}

/** `location` resolved against `base`, when it stays on `base`'s origin. */
export function sameOrigin(location: string, base: URL): URL | undefined {
  try {
    const url = new URL(location, base);
    return url.origin === base.origin ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Names under which pages carry a CSRF token for their forms and scripts. */
const tokenFieldNames = new Set([
  '_csrf',
  'csrf',
  'csrftoken',
  'csrf_token',
  'csrf-token',
  '_csrf_token',
  'xsrf-token',
  '_xsrf',
  '_token',
  'authenticity_token',
]);
const tokenElements: ReadonlySet<string> = new Set(['input', 'meta']);
// What the package itself accepts as a CSRF token.
const tokenPattern = /^[\x21-\x7e]{1,1024}$/;

/**
 * The CSRF token a page carries for its forms: in a hidden field (`<input name="_csrf">`) or a
 * `<meta name="csrf-token">`, as csurf, csrf-csrf and lusca examples and hackathon-starter render it.
 */
export function pageCsrfToken(html: string): string | undefined {
  for (const { name, attributes } of htmlElements(html, tokenElements)) {
    const field = attributes.get('name')?.toLowerCase();
    if (field === undefined || !tokenFieldNames.has(field)) continue;
    const token = attributes.get(name === 'input' ? 'value' : 'content');
    if (token !== undefined && tokenPattern.test(token)) return token;
  }
  return undefined;
}
