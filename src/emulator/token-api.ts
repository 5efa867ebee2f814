import { createHash, timingSafeEqual } from 'node:crypto';
import { type ApiRequest, hasJsonContentType, parseJsonBody } from './api-request.js';
import { jsonReply, type Reply, textReply } from './replies.js';
import { type InboxStore, readContactKey } from './store.js';

/** Path of Reteno's contact token route. */
export const tokenPath = '/v1/auth/contact/token';

/**
 * `POST /v1/auth/contact/token`: Basic auth with the API key as password, a JSON body with at least one of
 * email, phone, externalCustomerId; `{"token": ""}` for a contact the emulator does not know.
 */
export function answerTokenRequest(request: ApiRequest, apiKey: string, store: InboxStore): Reply {
  if (request.method !== 'POST') return textReply(405, undefined, { allow: 'POST' });
  if (!passwordMatches(basicAuthPassword(request.headers.authorization), apiKey)) {
    return textReply(401, 'Unauthorized: send HTTP Basic auth with the API key as the password', {
      'www-authenticate': 'Basic realm="Reteno emulator"',
    });
  }
  if (!hasJsonContentType(request.headers))
    return textReply(400, 'Bad Request: Content-Type must be application/json');
  const body = parseJsonBody(request.rawBody);
  if (body === undefined) return textReply(400, 'Bad Request: the body must be JSON');
  const key = readContactKey(body);
  if (typeof key === 'string') return textReply(400, `Bad Request: ${key}`);
  const contact = store.find(key);
  return jsonReply(200, { token: contact ? store.issueToken(contact) : '' });
}

/** The password of an `Authorization: Basic …` header (the username is ignored), or `null`. */
function basicAuthPassword(header: string | undefined): string | null {
  const encoded = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header ?? '')?.[1];
  if (encoded === undefined) return null;
  const credentials = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  return colon === -1 ? null : credentials.slice(colon + 1);
}

function passwordMatches(given: string | null, apiKey: string): boolean {
  if (given === null) return false;
  // Digests have equal lengths, which timingSafeEqual needs.
  return timingSafeEqual(sha256(given), sha256(apiKey));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
