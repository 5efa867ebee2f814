import { type ApiRequest, jsonBodyProblem } from './api-request.js';
import { unauthorizedReply } from './authorization.js';
import { jsonReply, type Reply, textReply } from './replies.js';
import { type InboxStore, readContactKey } from './store.js';

/** Path of Reteno's contact token route. */
export const tokenPath = '/v1/auth/contact/token';

/**
 * `POST /v1/auth/contact/token`: Basic auth with the API key as password, a JSON body with at least one of
 * email, phone, externalCustomerId; `{"token": ""}` for a contact the emulator does not know.
 */
export function answerTokenRequest(request: ApiRequest, store: InboxStore): Reply {
  if (request.method !== 'POST') return textReply(405, undefined, { allow: 'POST' });
  if (request.authorization !== 'valid') return unauthorizedReply();
  const bodyProblem = jsonBodyProblem(request);
  if (bodyProblem) return textReply(400, `Bad Request: ${bodyProblem}`);
  const key = readContactKey(request.body.json);
  if (typeof key === 'string') return textReply(400, `Bad Request: ${key}`);
  const contact = store.find(key);
  return jsonReply(200, { token: contact ? store.issueToken(contact) : '' });
}
