import { emptyReply, type Reply, textReply } from './replies.js';

/**
 * CORS headers for an answer to `origin`: the origin is reflected when `allowed` is `null` or lists it, and the
 * rotating `ES-TOKEN` header is exposed to the page's script.
 */
export function corsHeaders(
  origin: string | undefined,
  allowed: ReadonlySet<string> | null,
): Record<string, string> {
  const headers: Record<string, string> = { vary: 'Origin' };
  if (origin !== undefined && isAllowed(origin, allowed)) {
    headers['access-control-allow-origin'] = origin;
    headers['access-control-expose-headers'] = 'ES-TOKEN';
  }
  return headers;
}

/** The answer to a preflight: 204 with what the App Inbox API needs, 403 for an origin that is not allowed. */
export function preflightReply(origin: string | undefined, allowed: ReadonlySet<string> | null): Reply {
  if (origin === undefined || !isAllowed(origin, allowed)) {
    return textReply(403, "Forbidden: this origin is not in the emulator's corsOrigins");
  }
  return emptyReply(204, {
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-allow-headers': 'ES-TOKEN, Content-Type',
    'access-control-max-age': '600',
  });
}

export function isPreflight(
  method: string,
  headers: { 'access-control-request-method'?: string | undefined },
): boolean {
  return method === 'OPTIONS' && headers['access-control-request-method'] !== undefined;
}

function isAllowed(origin: string, allowed: ReadonlySet<string> | null): boolean {
  return allowed === null || allowed.has(origin);
}
