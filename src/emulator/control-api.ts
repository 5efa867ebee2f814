import type { IncomingHttpHeaders } from 'node:http';
import { type ApiRequest, hasJsonContentType } from './api-request.js';
import { emulatorErrorCodes, RetenoEmulatorError, type RetenoEmulatorErrorCode } from './errors.js';
import type { FaultQueue } from './faults.js';
import { emptyReply, jsonReply, type Reply } from './replies.js';
import { type ContactRecord, describeContact, type InboxStore, readContactKey } from './store.js';
import type { EmulatorContact, EmulatorFault, NewInboxMessage } from './types.js';

/** Every path under this prefix belongs to the control API. */
export const controlPathPrefix = '/_emulator/';

type ControlHandler = (request: ApiRequest) => Reply;

/** How a failed call is answered: its status and the `error` word of its JSON body. */
const errorStatuses: Readonly<Record<RetenoEmulatorErrorCode, [status: number, error: string]>> = {
  ERR_RETENO_EMULATOR_INVALID_OPTION: [400, 'invalid_option'],
  ERR_RETENO_EMULATOR_INVALID_CONTACT: [400, 'invalid_contact'],
  ERR_RETENO_EMULATOR_INVALID_MESSAGE: [400, 'invalid_message'],
  ERR_RETENO_EMULATOR_INVALID_FAULT: [400, 'invalid_fault'],
  ERR_RETENO_EMULATOR_UNKNOWN_CONTACT: [404, 'unknown_contact'],
  ERR_RETENO_EMULATOR_STORE_FULL: [507, 'store_full'],
};

/**
 * The control API: what a test or the `reteno-emulator` command does to a running emulator from another process,
 * the same operations as the emulator object's methods. JSON in and out; errors are `{"error", "message"}`.
 *
 * It is for programs on this machine, never for web pages: a page the developer visits could otherwise push
 * messages or queue faults. Besides the `Host` check every route has, it answers 403 to any request a browser
 * marks as coming from a page (see {@link pageRequestProblem}), gives no CORS headers (so no preflight succeeds),
 * and takes bodies only as `application/json`, which a page cannot send to another origin without a preflight.
 */
export class ControlApi {
  readonly #store: InboxStore;
  readonly #faults: FaultQueue;
  readonly #routes: Readonly<Record<string, Readonly<Record<string, ControlHandler>>>>;

  constructor(store: InboxStore, faults: FaultQueue) {
    this.#store = store;
    this.#faults = faults;
    this.#routes = {
      '/_emulator/contacts': {
        GET: () => jsonReply(200, this.#store.list()),
        POST: (request) => this.#addContact(request),
      },
      '/_emulator/messages': {
        GET: (request) => this.#messagesOf(request),
        POST: (request) => this.#pushMessage(request),
      },
      '/_emulator/invalidate-tokens': { POST: (request) => this.#invalidateTokens(request) },
      '/_emulator/faults': {
        POST: (request) => this.#fail(request),
        DELETE: () => {
          this.#faults.clear();
          return emptyReply(204);
        },
      },
    };
  }

  answer(request: ApiRequest): Reply {
    const refusal = pageRequestProblem(request.headers);
    if (refusal !== null) return errorReply(403, 'forbidden', refusal);
    const route = Object.hasOwn(this.#routes, request.path) ? this.#routes[request.path] : undefined;
    if (!route) {
      return errorReply(
        404,
        'not_found',
        `no control API route ${request.path}; the routes are ${Object.keys(this.#routes).join(', ')}`,
      );
    }
    const handler = Object.hasOwn(route, request.method) ? route[request.method] : undefined;
    if (!handler) {
      const allowed = Object.keys(route).join(', ');
      return errorReply(405, 'method_not_allowed', `${request.path} takes ${allowed}`, { allow: allowed });
    }
    if (request.method === 'POST') {
      if (!hasJsonContentType(request.headers)) {
        return errorReply(415, 'unsupported_media_type', 'send the body as Content-Type: application/json');
      }
      if (request.body.json === undefined) return errorReply(400, 'bad_request', 'the body must be JSON');
    }
    try {
      return handler(request);
    } catch (error) {
      if (!(error instanceof RetenoEmulatorError)) throw error;
      const [status, word] = errorStatuses[error.code];
      return errorReply(status, word, error.message);
    }
  }

  /** `POST /_emulator/contacts` with a contact such as `{"email": "anna@example.com"}`. */
  #addContact(request: ApiRequest): Reply {
    const key = readContactKey(request.body.json);
    if (typeof key === 'string') return errorReply(400, 'invalid_contact', key);
    return jsonReply(200, listed(this.#store.add(key, 'POST /_emulator/contacts')));
  }

  /** `GET /_emulator/messages?email=…` (or `phone=`, `externalCustomerId=`): the inbox, newest first. */
  #messagesOf(request: ApiRequest): Reply {
    const contact = this.#knownContact(
      Object.fromEntries(
        ['email', 'phone', 'externalCustomerId'].flatMap((field) => {
          const value = request.query.get(field);
          return value === null ? [] : [[field, value]];
        }),
      ),
      'the query, e.g. ?email=anna@example.com,',
    );
    return jsonReply(
      200,
      contact.messages.map((message) => ({ ...message })),
    );
  }

  /** `POST /_emulator/messages` with `{"contact": {…}, "message": {"title", "content", "link"?, "image"?}}`. */
  #pushMessage(request: ApiRequest): Reply {
    const body = bodyObject(request);
    if (!body) return shapeReply('{"contact": {"email": "…"}, "message": {"title": "…", "content": "…"}}');
    const known = this.#knownContact(body.contact, '`contact`');
    const message = body.message as NewInboxMessage;
    return jsonReply(201, this.#store.pushMessage(known, message, 'POST /_emulator/messages'));
  }

  /** `POST /_emulator/invalidate-tokens` with `{"contact": {…}}`, or `{}` for every contact. */
  #invalidateTokens(request: ApiRequest): Reply {
    const body = bodyObject(request);
    if (!body) return shapeReply('{"contact": {"email": "…"}}, or {} for every contact');
    const { contact } = body;
    this.#store.invalidateTokens(
      contact === undefined ? undefined : this.#knownContact(contact, '`contact`'),
    );
    return emptyReply(204);
  }

  /** `POST /_emulator/faults` with a fault as `fail()` takes it, e.g. `{"kind": "status", "status": 503}`. */
  #fail(request: ApiRequest): Reply {
    this.#faults.add(request.body.json as EmulatorFault);
    return emptyReply(204);
  }

  #knownContact(value: unknown, where: string): ContactRecord {
    const key = readContactKey(value);
    if (typeof key === 'string') {
      throw new RetenoEmulatorError(
        emulatorErrorCodes.invalidContact,
        `${where} must name a contact: ${key}`,
      );
    }
    const known = this.#store.find(key);
    if (!known) {
      throw new RetenoEmulatorError(
        emulatorErrorCodes.unknownContact,
        `the emulator does not know the contact ${describeContact(key)}: add it with POST /_emulator/contacts ` +
          '(reteno-emulator add-contact) or --contact at start, or let the site create it through the contact API',
      );
    }
    return known;
  }
}

/**
 * Why a request comes from a web page, or `null` when it does not. Browsers send `Origin` with every request a
 * page makes to another origin and with every POST, and `Sec-Fetch-Site` with every request, `none` only for one
 * the person started (a typed URL, a bookmark). Programs (Node's fetch, curl) send neither.
 */
export function pageRequestProblem(headers: IncomingHttpHeaders): string | null {
  const site = headers['sec-fetch-site'];
  if (headers.origin === undefined && (site === undefined || site === 'none')) return null;
  return 'the control API answers programs on this machine, not web pages (the request has an Origin or a Sec-Fetch-Site header)';
}

/** The body as an object, or `null` when it is not one. */
function bodyObject(request: ApiRequest): Record<string, unknown> | null {
  const body = request.body.json;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  return body as Record<string, unknown>;
}

function shapeReply(shape: string): Reply {
  return errorReply(400, 'bad_request', `the body must be an object like ${shape}`);
}

function listed({ messages: _messages, ...contact }: ContactRecord): EmulatorContact {
  return contact;
}

function errorReply(
  status: number,
  error: string,
  message: string,
  headers: Record<string, string> = {},
): Reply {
  return jsonReply(status, { error, message }, headers);
}
