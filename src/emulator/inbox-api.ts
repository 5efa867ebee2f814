import type { ApiRequest } from './api-request.js';
import { emptyReply, jsonReply, type Reply, textReply } from './replies.js';
import type { ContactRecord, InboxStore } from './store.js';
import type { InboxMessage } from './types.js';

/** Every path under this prefix belongs to the App Inbox API. */
export const inboxPathPrefix = '/appinbox/';

export const maxPageSize = 100;
const defaultPageSize = 10;

type InboxHandler = (request: ApiRequest, contact: ContactRecord, store: InboxStore) => Reply;

const routes: Readonly<Record<string, { method: string; handler: InboxHandler }>> = {
  '/appinbox/v1/messages/count': { method: 'GET', handler: answerCount },
  '/appinbox/v1/messages': { method: 'GET', handler: answerList },
  '/appinbox/v1/messages/status': { method: 'POST', handler: answerStatus },
};

/**
 * The App Inbox API. A request must carry a working token in the `ES-TOKEN` header: one that was issued, not used
 * yet and not expired. The token then stops working and the answer's `ES-TOKEN` header carries the next one (on
 * every authenticated answer, 4xx included).
 */
export function answerInboxRequest(request: ApiRequest, store: InboxStore): Reply {
  const route = Object.hasOwn(routes, request.path) ? routes[request.path] : undefined;
  if (!route) return textReply(404);
  if (request.method !== route.method) return textReply(405, undefined, { allow: route.method });
  const token = request.headers['es-token'];
  const contact = typeof token === 'string' && token !== '' ? store.redeemToken(token) : undefined;
  if (!contact)
    return textReply(401, 'Unauthorized: ES-TOKEN is missing, already used, expired or invalidated');
  const reply = route.handler(request, contact, store);
  return { ...reply, headers: { ...reply.headers, 'es-token': store.issueToken(contact) } };
}

function answerCount(_request: ApiRequest, contact: ContactRecord, store: InboxStore): Reply {
  return jsonReply(200, { count: store.unreadCount(contact) });
}

function answerList(request: ApiRequest, contact: ContactRecord, store: InboxStore): Reply {
  const page = positiveInteger(request.query.get('page'), 1);
  const pageSize = positiveInteger(request.query.get('pageSize'), defaultPageSize);
  if (page === null) return textReply(400, 'Bad Request: `page` must be a positive integer');
  if (pageSize === null || pageSize > maxPageSize) {
    return textReply(400, `Bad Request: \`pageSize\` must be an integer from 1 to ${maxPageSize}`);
  }
  const status = request.query.get('status');
  if (status !== null && !isMessageStatus(status)) {
    return textReply(400, 'Bad Request: `status` must be OPENED or UNOPENED');
  }
  return jsonReply(200, store.page(contact, page, pageSize, status));
}

function answerStatus(request: ApiRequest, contact: ContactRecord, store: InboxStore): Reply {
  const body = request.body.json;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return textReply(400, 'Bad Request: the body must be JSON like {"status":"OPENED","ids":["…"]}');
  }
  const { status, ids } = body as { status?: unknown; ids?: unknown };
  if (status !== 'OPENED') return textReply(400, 'Bad Request: `status` must be "OPENED"');
  if (!isIdList(ids))
    return textReply(400, 'Bad Request: `ids` must be an array of message ids, or null for all');
  store.markOpened(contact, ids);
  return emptyReply(204);
}

function positiveInteger(value: string | null, fallback: number): number | null {
  if (value === null) return fallback;
  return /^[1-9][0-9]{0,8}$/.test(value) ? Number(value) : null;
}

function isIdList(value: unknown): value is string[] | null {
  return value === null || (Array.isArray(value) && value.every((id) => typeof id === 'string'));
}

function isMessageStatus(value: string): value is InboxMessage['status'] {
  return value === 'OPENED' || value === 'UNOPENED';
}
