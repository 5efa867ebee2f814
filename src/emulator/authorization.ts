import { createHash, timingSafeEqual } from 'node:crypto';
import { type Reply, textReply } from './replies.js';
import type { AuthorizationCheck } from './types.js';

/**
 * Checks an `Authorization` header as Reteno's token route does: HTTP Basic with the API key as the password (any
 * username). Only the outcome leaves this function, so the request log never holds the header.
 */
export function checkAuthorization(header: string | undefined, apiKey: string): AuthorizationCheck {
  if (header === undefined) return 'absent';
  const password = basicAuthPassword(header);
  return password !== null && passwordMatches(password, apiKey) ? 'valid' : 'invalid';
}

/** The answer of the token route and the contact API to a request without the API key. */
export function unauthorizedReply(): Reply {
  return textReply(401, 'Unauthorized: send HTTP Basic auth with the API key as the password', {
    'www-authenticate': 'Basic realm="Reteno emulator"',
  });
}

/** The password of an `Authorization: Basic …` header (the username is ignored), or `null`. */
function basicAuthPassword(header: string): string | null {
  const encoded = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header)?.[1];
  if (encoded === undefined) return null;
  const credentials = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  return colon === -1 ? null : credentials.slice(colon + 1);
}

function passwordMatches(given: string, apiKey: string): boolean {
  // Digests have equal lengths, which timingSafeEqual needs.
  return timingSafeEqual(sha256(given), sha256(apiKey));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
