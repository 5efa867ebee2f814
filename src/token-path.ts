import type { Request } from 'express';
import { errorCodes, RetenoInboxError } from './errors.js';
import { markerHeader } from './token-route.js';

export const defaultTokenPath = '/reteno/app-inbox/token';
const plainPathPattern = /^\/[A-Za-z0-9\-._~/]*$/;
// Paths a browser would not fetch as written: '//host…' names another origin; '.' and '..' segments are resolved
// away. The embed's token callback fetches the token path, so these would miss the route.
const browserRewrites = /^\/\/|(^|\/)\.{1,2}(\/|$)/;

/** What `tokenPath` must be, for the error messages of every function that takes one. */
export const tokenPathRule =
  "must be a path starting with '/' made of letters, digits and - . _ ~ /, like '/reteno/app-inbox/token', without a leading '//' or '.' and '..' segments, and not '/' alone.";

/** A path a browser fetches as written, made of unreserved characters. */
function isPlainPath(path: unknown): path is string {
  return (
    typeof path === 'string' &&
    plainPathPattern.test(path) &&
    !browserRewrites.test(path) &&
    path.length <= 200
  );
}

/** Whether `path` may be the token route's path; '/' may not, as it would make every page the token route. */
export function isTokenPath(path: unknown): path is string {
  return isPlainPath(path) && path.replace(/\/+$/, '') !== '';
}

/** What {@link retenoInboxTokenCall}'s predicate reads of a request: Express 4's and 5's `req` both have it. */
export type TokenCallRequest = Pick<Request, 'method' | 'url' | 'path' | 'headers'>;

/**
 * Matches a request to the token route's path, relative to where the matcher runs, as the route itself does: the
 * path, or the path with one '/' more.
 */
export function createTokenPathMatch(path: string): (req: Pick<Request, 'url' | 'path'>) => boolean {
  const paths = new Set([path, `${path}/`]);
  // req.path parses the URL: asked only when the URL may be the token route (an absolute-form target such as
  // 'http://host/path' does not start with '/').
  return (req) => {
    const url = req.url;
    return (url[0] !== '/' || url.startsWith(path)) && paths.has(req.path);
  };
}

/** Options of {@link retenoInboxTokenCall}. */
export interface RetenoInboxTokenCallOptions {
  /**
   * Where `retenoInbox(...)` is mounted, relative to the CSRF middleware that asks: `''` when both are mounted on
   * the same app or router, else the path between them (`app.use(csrf)` with `app.use('/account', retenoInbox(...))`:
   * `'/account'`).
   * @default ''
   */
  mountPath?: string;
  /**
   * The `tokenPath` given to `retenoInbox(...)`.
   * @default '/reteno/app-inbox/token'
   */
  tokenPath?: string;
}

/**
 * A predicate for a global CSRF middleware mounted before `retenoInbox(...)`: true for the embed's token calls
 * (`POST {mountPath}{tokenPath}` with `X-Reteno-Inbox: 1`), which the token route protects itself (that header
 * forces a CORS preflight, and the route checks `Origin` and `Sec-Fetch-Site`). Every other request, including any
 * call to the token path without the header, stays with the CSRF middleware.
 *
 * @example
 * const isTokenCall = retenoInboxTokenCall();
 * doubleCsrf({ getSecret, getSessionIdentifier, skipCsrfProtection: isTokenCall }); // csrf-csrf
 * app.use((req, res, next) => (isTokenCall(req) ? next() : csrf(req, res, next))); // lusca.csrf(), csurf()
 */
export function retenoInboxTokenCall(
  options: RetenoInboxTokenCallOptions = {},
): (req: TokenCallRequest) => boolean {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new RetenoInboxError(
      errorCodes.invalidOption,
      'retenoInboxTokenCall() expects an options object: retenoInboxTokenCall({ mountPath, tokenPath }).',
      'options',
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== 'mountPath' && key !== 'tokenPath') {
      throw new RetenoInboxError(
        errorCodes.unknownOption,
        `retenoInboxTokenCall received an unsupported option, \`${key}\`. It takes \`mountPath\` and \`tokenPath\`.`,
        key,
      );
    }
  }
  const { mountPath = '', tokenPath = defaultTokenPath } = options;
  if (mountPath !== '' && !isPlainPath(mountPath)) {
    throw new RetenoInboxError(
      errorCodes.invalidOption,
      "retenoInboxTokenCall received an invalid `mountPath`. It must be the plain path retenoInbox() is mounted at below the CSRF middleware, like '/account', or '' when both are mounted on the same app or router.",
      'mountPath',
    );
  }
  if (!isTokenPath(tokenPath)) {
    throw new RetenoInboxError(
      errorCodes.invalidOption,
      `retenoInboxTokenCall received an invalid \`tokenPath\`. It ${tokenPathRule}`,
      'tokenPath',
    );
  }
  const onTokenPath = createTokenPathMatch(`${mountPath.replace(/\/+$/, '')}${tokenPath}`);
  return function isRetenoInboxTokenCall(req) {
    return req.method === 'POST' && req.headers[markerHeader] === '1' && onTokenPath(req);
  };
}
