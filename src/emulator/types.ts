import type { IncomingHttpHeaders } from 'node:http';
import type { Contact } from '../contact-type.js';

/** Options of {@link createRetenoEmulator}. */
export interface RetenoEmulatorOptions {
  /**
   * The API key the token route and the contact API accept as the password of HTTP Basic auth (any username).
   * @example 'test-api-key'
   */
  apiKey: string;
  /**
   * The site's script id: the widget is served at `/scripts/<scriptId>.js`, any other id answers 404.
   * @example '00000000-0000-4000-8000-000000000000'
   */
  scriptId: string;
  /**
   * TCP port to listen on; `0` picks a free one (read it back from `url`).
   * @default 0
   */
  port?: number;
  /**
   * Interface to listen on. Loopback by default, so nothing outside this machine can reach the emulator; any other
   * address prints a warning. Whatever the interface, only requests whose `Host` is a loopback name (`localhost`,
   * `*.localhost`, `127.x.x.x`, `[::1]`) or this host are served; others answer 421 (a defence against DNS
   * rebinding).
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Contacts Reteno knows from the start; more can be added with `addContact` or through the contact API.
   * @default []
   * @example [{ email: 'anna@example.com' }, { externalCustomerId: '42' }]
   */
  contacts?: Contact[];
  /**
   * CSS selector of the element the widget appends its bell to. When absent, or when nothing on the page matches,
   * the bell is fixed in the top-right corner of the page.
   * @example '#site-header .notifications'
   */
  bellSelector?: string;
  /**
   * How often the widget refreshes the unread count, in milliseconds (at least 100).
   * @default 5000
   */
  pollIntervalMs?: number;
  /**
   * How many requests `requests` keeps. When it is full, the oldest entry is dropped for each new one; 0 keeps
   * none.
   * @default 10000
   */
  maxLoggedRequests?: number;
  /**
   * How much memory `requests` may take, in bytes. Each entry keeps its body as text and counts its method, URL,
   * headers and body at two bytes a character, plus its objects (768 bytes); its `body` is parsed again each time it
   * is read. When a new request would pass the bound, the oldest entries are dropped; a request larger than the
   * bound on its own is not kept. 0 keeps none.
   * @default 16777216 (16 MiB)
   */
  maxLoggedBytes?: number;
  /**
   * How much memory contacts and their messages may take, in bytes, counted as for `maxLoggedBytes` (256 bytes a
   * contact or message, plus two bytes a character of its strings). What would pass it changes nothing: the contact
   * API answers 507, the control API 507, `addContact` and `pushMessage` throw `ERR_RETENO_EMULATOR_STORE_FULL`.
   * @default 33554432 (32 MiB)
   */
  maxStoreBytes?: number;
  /**
   * A message every contact of `contacts` finds in its inbox at start. The command line gives one unless
   * `--no-welcome-message`.
   * @default undefined (none)
   * @example { title: 'Welcome', content: 'Messages pushed to you appear here.' }
   */
  welcomeMessage?: NewInboxMessage;
  /**
   * Serves the control API under `/_emulator/` (push a message, end tokens, list contacts and messages, add and
   * clear faults) for programs on this machine: the `reteno-emulator push` command, a test runner in another
   * process. Requests from web pages (with an `Origin` header, or a `Sec-Fetch-Site` other than `none`) get 403.
   * The command line serves it always.
   * @default false
   */
  controlApi?: boolean;
  /**
   * How long a token works, in milliseconds, if it is not used first: a token from the token route or from an
   * `ES-TOKEN` answer header. An expired token gets 401 from the App Inbox API, as a used one does.
   * @default 3600000 (1 hour)
   */
  tokenTtlMs?: number;
  /**
   * Origins allowed to call the App Inbox API from a browser. When absent, the request's `Origin` is reflected,
   * so any local site works.
   * @example ['http://localhost:3000']
   */
  corsOrigins?: string[];
  /**
   * Path of the contact API, Reteno's `POST /api/v1/contact`: it creates a contact, or updates the known one that
   * its e-mail channel, sms channel or `externalCustomerId` matches, and answers `{"id": <number>}`.
   * @default '/api/v1/contact'
   */
  contactPath?: string;
  /**
   * How long the contact API answers 409 ("repeated request within 1 minute", as Reteno does) to a request whose
   * body is the same JSON as one it accepted, in milliseconds; 0 never answers 409.
   * @default 60000
   */
  contactRepeatWindowMs?: number;
  /**
   * How many contact API requests with the right key are answered per window of `perMs` milliseconds; the ones
   * above that get 429 with `Retry-After` (whole seconds until the window ends). Reteno's default limit is 200
   * requests a second.
   * @default { requests: 200, perMs: 1000 }
   * @example { requests: 2, perMs: 60000 }
   */
  contactRateLimit?: { requests?: number; perMs?: number };
}

/** A contact the emulator knows, as `contacts()` lists it. */
export interface EmulatorContact {
  /** The id the contact API answers for it; the first contact is 1. */
  id: number;
  /** Trimmed, in lower case; `null` when not known. */
  email: string | null;
  /** Trimmed; `null` when not known. */
  phone: string | null;
  /** Trimmed; `null` when not known. */
  externalCustomerId: string | null;
  /** As the contact API last received it; `null` when it never did. */
  firstName: string | null;
  lastName: string | null;
  languageCode: string | null;
  timeZone: string | null;
  /** `'setup'`: from the `contacts` option or `addContact`; `'contact-api'`: created by the contact API. */
  createdBy: 'setup' | 'contact-api';
}

/** A message in a contact's App Inbox, as the App Inbox API lists it. */
export interface InboxMessage {
  /** Opaque message id (a UUID). */
  id: string;
  /** Creation time in milliseconds since the epoch. */
  createdDate: number;
  title: string;
  content: string;
  /** Image URL, or `null`. */
  image: string | null;
  /** Link URL exactly as pushed (the widget shows only http(s) links), or `null`. */
  link: string | null;
  /** `true` until the message is opened. */
  newMessage: boolean;
  status: 'OPENED' | 'UNOPENED';
}

/** What `pushMessage` needs to create an {@link InboxMessage}. */
export interface NewInboxMessage {
  title: string;
  content: string;
  link?: string;
  image?: string;
}

/** What a fault does to the request it hits. */
export type EmulatorFaultKind =
  'status' | 'timeout' | 'reset' | 'garbage' | 'malformed-json' | 'trickle' | 'oversize';

/**
 * Which API requests a fault hits: the token route, the App Inbox API, the contact API, or all of them. The script
 * is never hit.
 */
export type EmulatorFaultRoute = 'token' | 'inbox' | 'contact' | 'all';

/**
 * A failure the emulator plays on the next API requests.
 *
 * - `status`: answers `status` with a short text body (and `Retry-After` when `retryAfter` is given).
 * - `timeout`: never answers; with `delayMs`, answers normally once that time has passed.
 * - `reset`: destroys the connection (TCP reset).
 * - `garbage`: 200 with an HTML body.
 * - `malformed-json`: 200, `application/json`, body `{"token":`.
 * - `trickle`: the normal answer, sent one byte every `delayMs` (default 200) milliseconds.
 * - `oversize`: 200 with a 10 MiB JSON body, chunked (no `Content-Length`).
 *
 * For every kind but `timeout` and `trickle`, `delayMs` delays the fault by that long.
 *
 * @example
 * emulator.fail({ kind: 'status', status: 429, retryAfter: 2, times: 1, route: 'token' });
 */
export interface EmulatorFault {
  kind: EmulatorFaultKind;
  /**
   * HTTP status of a `status` fault.
   * @default 500
   */
  status?: number;
  /**
   * How many requests the fault hits; when absent, every request until `clearFaults()`.
   * @default Infinity
   */
  times?: number;
  /** `Retry-After` of a `status` fault: seconds, or an HTTP date. */
  retryAfter?: number | string;
  /** See {@link EmulatorFault}: a delay, a hang length (`timeout`) or a byte interval (`trickle`). */
  delayMs?: number;
  /**
   * Which requests the fault hits.
   * @default 'all'
   */
  route?: EmulatorFaultRoute;
}

/**
 * What a request's `Authorization` header was: `absent`, `valid` (HTTP Basic with the API key as the password,
 * any username) or `invalid` (anything else).
 */
export type AuthorizationCheck = 'absent' | 'valid' | 'invalid';

/** One request the emulator received. `status` is `null` while no answer was started, and stays so if none was. */
export interface LoggedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Request headers, names in lower case, without `authorization`: its value is never kept. */
  headers: IncomingHttpHeaders;
  /** What the `Authorization` header was, checked against the API key. */
  authorization: AuthorizationCheck;
  /**
   * The body parsed as JSON, the raw text when it is not JSON, or `undefined` when empty or over 1 MiB. Parsed from
   * the kept text each time it is read, so each read gives a new value.
   */
  body: unknown;
  status: number | null;
  /** Arrival time in milliseconds since the epoch. */
  at: number;
}

/** A running emulator. */
export interface RetenoEmulator {
  /** Base URL, without a trailing slash. @example 'http://127.0.0.1:40123' */
  readonly url: string;
  /**
   * The requests received since start or the last `clearRequests()`, oldest first: the newest of them, within
   * `maxLoggedRequests` and `maxLoggedBytes`.
   */
  readonly requests: readonly LoggedRequest[];
  /**
   * Makes a contact known. A contact that shares a field with a known one adds its other fields to it. It gets no
   * `welcomeMessage`: that is for `contacts` at start.
   */
  addContact(contact: Contact): void;
  /**
   * Copies of every known contact, in the order they became known; `createdBy` tells the ones the contact API
   * created.
   */
  contacts(): EmulatorContact[];
  /** Puts an unread message in a known contact's inbox and returns a copy of it. Throws for an unknown contact. */
  pushMessage(contact: Contact, message: NewInboxMessage): InboxMessage;
  /** Copies of a known contact's messages, newest first. Throws for an unknown contact. */
  messagesOf(contact: Contact): InboxMessage[];
  /** Makes every token of that contact (throws when unknown), or of every contact, answer 401, as expiry does. */
  invalidateTokens(contact?: Contact): void;
  /** Queues a fault; faults are played in the order they were queued. */
  fail(fault: EmulatorFault): void;
  clearFaults(): void;
  clearRequests(): void;
  /** Stops listening and destroys every connection, hanging ones included. Safe to call twice. */
  close(): Promise<void>;
}
