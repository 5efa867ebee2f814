import { isLoopback } from '../options.js';

// The doctor keeps cookies as a browser does (RFC 6265, without the public-suffix list: it only ever talks to the
// one site it was pointed at): from --cookie, from a --cookie-jar file, and from the Set-Cookie headers of the pages
// it fetches, so that the token route gets what the page's own embed would send.

/** A cookie the doctor holds for the site. */
export interface Cookie {
  name: string;
  value: string;
  /** Lower-case host or domain, without a leading dot. */
  domain: string;
  /** Sent to that host only, not to its subdomains. */
  hostOnly: boolean;
  path: string;
  /** Sent over https (or to a loopback host, as browsers do) only. */
  secure: boolean;
  /** When it expires, in ms since the epoch; `undefined` for a session cookie. */
  expires: number | undefined;
}

/** Why a --cookie or --cookie-jar text cannot be read; the message never quotes a value. */
export class CookieSyntaxError extends Error {
  override readonly name = 'CookieSyntaxError';
}

const cookieName = /^[!#$%&'*+.^_`|~\w-]{1,256}$/;
// What a Cookie header can carry, without the separator.
const cookieValue = /^[\x20-\x3a\x3c-\x7e]{0,8192}$/;

/** The cookies of a Cookie header (`name=value; name2=value2`), for every path of the page's host. */
export function cookiesFromHeader(header: string, url: URL): Cookie[] {
  return header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .map((pair, index) => {
      const equals = pair.indexOf('=');
      const name = pair.slice(0, equals).trim();
      const value = pair.slice(equals + 1).trim();
      if (equals === -1 || !cookieName.test(name) || !cookieValue.test(value)) {
        throw new CookieSyntaxError(`cookie ${index + 1} is not name=value in visible ASCII characters`);
      }
      return { name, value, ...hostOnlyCookie(url) };
    });
}

/**
 * The cookies of a cookie file in the Netscape format that curl (`-c`), wget and browser extensions write: one
 * cookie a line, seven tab-separated fields (domain, subdomains TRUE/FALSE, path, secure TRUE/FALSE, expiry in
 * seconds or 0, name, value); `#` starts a comment, except the `#HttpOnly_` prefix of an HttpOnly cookie's domain.
 */
export function cookiesFromJar(text: string): Cookie[] {
  const cookies: Cookie[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const record = line.startsWith('#HttpOnly_') ? line.slice('#HttpOnly_'.length) : line;
    if (record.trim() === '' || record.startsWith('#')) return;
    const fields = record.split('\t');
    // Some writers leave out an empty value's field.
    if (fields.length === 6) fields.push('');
    const [domainField = '', subdomains, path = '', secure, expiry = '', name = '', value = ''] = fields;
    const domain = domainField.toLowerCase().replace(/^\./, '');
    if (
      fields.length !== 7 ||
      !/^[a-z0-9.:[\]-]+$/.test(domain) ||
      !/^(TRUE|FALSE)$/i.test(subdomains ?? '') ||
      !path.startsWith('/') ||
      !/^(TRUE|FALSE)$/i.test(secure ?? '') ||
      !/^\d{1,16}$/.test(expiry) ||
      !cookieName.test(name) ||
      !cookieValue.test(value)
    ) {
      throw new CookieSyntaxError(
        `line ${index + 1} is not a cookie: seven tab-separated fields (domain, TRUE/FALSE, path, TRUE/FALSE, expiry, name, value)`,
      );
    }
    cookies.push({
      name,
      value,
      domain,
      hostOnly: !domainField.startsWith('.') && subdomains?.toUpperCase() !== 'TRUE',
      path,
      secure: secure?.toUpperCase() === 'TRUE',
      expires: expiry === '0' ? undefined : Number(expiry) * 1000,
    });
  });
  return cookies;
}

/** The cookies after an answer from `url` with these `Set-Cookie` headers; those it cannot keep are ignored. */
export function withSetCookies(
  cookies: readonly Cookie[],
  url: URL,
  setCookies: readonly string[],
  now: number,
): Cookie[] {
  const result = [...cookies];
  for (const header of setCookies) {
    const cookie = parseSetCookie(header, url, now);
    if (cookie === undefined) continue;
    const expired = cookie.expires !== undefined && cookie.expires <= now;
    const same = result.findIndex(
      (kept) => kept.name === cookie.name && kept.domain === cookie.domain && kept.path === cookie.path,
    );
    // A replaced cookie keeps its place: among cookies of one path length, the oldest is sent first.
    if (same === -1) {
      if (!expired) result.push(cookie);
    } else if (expired) result.splice(same, 1);
    else result[same] = cookie;
  }
  return result;
}

/** The Cookie header a browser sends to `url` with these cookies, longest paths first; `undefined` for none. */
export function cookieHeader(cookies: readonly Cookie[], url: URL, now: number): string | undefined {
  const sent = cookies
    .filter((cookie) => sendsTo(cookie, url, now))
    .sort((a, b) => b.path.length - a.path.length)
    .map(({ name, value }) => `${name}=${value}`);
  return sent.length === 0 ? undefined : sent.join('; ');
}

/** Whether the cookies hold any for this URL. */
export function hasCookieFor(cookies: readonly Cookie[], url: URL, now: number): boolean {
  return cookies.some((cookie) => sendsTo(cookie, url, now));
}

function sendsTo(cookie: Cookie, url: URL, now: number): boolean {
  const host = url.hostname.toLowerCase();
  return (
    (cookie.expires === undefined || cookie.expires > now) &&
    (cookie.hostOnly ? host === cookie.domain : domainMatches(host, cookie.domain)) &&
    pathMatches(url.pathname, cookie.path) &&
    (!cookie.secure || securelyReached(url))
  );
}

function parseSetCookie(header: string, url: URL, now: number): Cookie | undefined {
  const [pair = '', ...attributes] = header.split(';');
  const equals = pair.indexOf('=');
  const name = pair.slice(0, equals).trim();
  const value = pair.slice(equals + 1).trim();
  if (equals === -1 || !cookieName.test(name) || !cookieValue.test(value)) return undefined;
  const cookie: Cookie = { name, value, ...hostOnlyCookie(url), path: defaultPath(url) };
  let maxAge: number | undefined;
  for (const attribute of attributes) {
    const split = attribute.indexOf('=');
    const key = (split === -1 ? attribute : attribute.slice(0, split)).trim().toLowerCase();
    const text = split === -1 ? '' : attribute.slice(split + 1).trim();
    if (key === 'secure') cookie.secure = true;
    else if (key === 'path' && text.startsWith('/')) cookie.path = text;
    else if (key === 'max-age' && /^-?\d{1,12}$/.test(text)) maxAge = Number(text);
    else if (key === 'expires' && !Number.isNaN(Date.parse(text))) cookie.expires = Date.parse(text);
    else if (key === 'domain' && text !== '') {
      const domain = text.toLowerCase().replace(/^\./, '');
      // A cookie for another domain than the page's is refused, as browsers refuse it.
      if (!domainMatches(url.hostname.toLowerCase(), domain)) return undefined;
      cookie.domain = domain;
      cookie.hostOnly = false;
    }
  }
  if (maxAge !== undefined) cookie.expires = now + maxAge * 1000;
  if (cookie.secure && !securelyReached(url)) return undefined;
  return cookie;
}

function hostOnlyCookie(url: URL): Omit<Cookie, 'name' | 'value'> {
  return { domain: url.hostname.toLowerCase(), hostOnly: true, path: '/', secure: false, expires: undefined };
}

/** RFC 6265 5.1.4: the request path up to its last '/', or '/'. */
function defaultPath(url: URL): string {
  const last = url.pathname.lastIndexOf('/');
  return last <= 0 ? '/' : url.pathname.slice(0, last);
}

function domainMatches(host: string, domain: string): boolean {
  return host === domain || (host.endsWith(`.${domain}`) && !/^[\d.]+$|^\[/.test(host));
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  return (
    requestPath === cookiePath ||
    (requestPath.startsWith(cookiePath) &&
      (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'))
  );
}

/** Browsers send and keep `Secure` cookies over https, and to loopback hosts, which they treat as secure. */
function securelyReached(url: URL): boolean {
  return url.protocol === 'https:' || isLoopback(url.hostname);
}
