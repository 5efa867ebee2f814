import { randomBytes, randomUUID } from 'node:crypto';
import { emulatorErrorCodes, RetenoEmulatorError } from './errors.js';
import { recordBytes, stringBytes } from './memory.js';
import type { EmulatorContact, InboxMessage, NewInboxMessage } from './types.js';

/** The fields a contact is found by, in the order a lookup tries them. */
const lookupFields = ['externalCustomerId', 'email', 'phone'] as const;
type ContactField = (typeof lookupFields)[number];

/** A contact's identifying fields, trimmed, e-mail in lower case; `null` where not given. */
export type ContactKey = Record<ContactField, string | null>;

/** What the contact API keeps about a contact besides its identifying fields; `null` where never given. */
export type ContactProfile = Pick<EmulatorContact, 'firstName' | 'lastName' | 'languageCode' | 'timeZone'>;

/** Every field of a contact that holds a string. */
type ContactFields = ContactKey & ContactProfile;
const contactFieldNames: readonly (keyof ContactFields)[] = [
  ...lookupFields,
  'firstName',
  'lastName',
  'languageCode',
  'timeZone',
];

/**
 * Tokens kept at most: the oldest goes first (it then answers 401, as an expired one does). Ten thousand open
 * tabs are more than a development machine has; without a cap, tokens that are never used pile up for an hour.
 */
const maxTokens = 10_000;

/** A contact the emulator knows, with its inbox (newest message first). */
export interface ContactRecord extends EmulatorContact {
  messages: InboxMessage[];
}

const emptyProfile: Readonly<ContactProfile> = {
  firstName: null,
  lastName: null,
  languageCode: null,
  timeZone: null,
};

export interface MessagePage {
  list: InboxMessage[];
  totalPages: number;
}

/**
 * Reads the identifying fields of a contact-like value (an option, an argument or a request body).
 * Returns the reason as a string when the value cannot identify a contact.
 */
export function readContactKey(value: unknown): ContactKey | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'a contact must be an object with at least one of email, phone, externalCustomerId';
  }
  const fields = value as Partial<Record<ContactField, unknown>>;
  const key: ContactKey = { externalCustomerId: null, email: null, phone: null };
  for (const field of lookupFields) {
    const given = fields[field];
    if (given === undefined || given === null) continue;
    if (typeof given !== 'string') return `\`${field}\` must be a string`;
    const trimmed = given.trim();
    if (trimmed === '') continue;
    key[field] = field === 'email' ? trimmed.toLowerCase() : trimmed;
  }
  if (lookupFields.every((field) => key[field] === null)) {
    return 'a contact needs at least one non-empty email, phone or externalCustomerId';
  }
  return key;
}

/** {@link readContactKey} for the public methods: throws an error that names the method. */
export function contactKeyOrThrow(contact: unknown, method: string): ContactKey {
  const key = readContactKey(contact);
  if (typeof key === 'string')
    throw new RetenoEmulatorError(emulatorErrorCodes.invalidContact, `${method}(): ${key}.`);
  return key;
}

interface IssuedToken {
  contact: ContactRecord;
  /** `performance.now()` after which the token no longer works. */
  expiresAt: number;
}

/**
 * Contacts, their inboxes and the tokens that open them. Contacts and messages together take at most `maxBytes`
 * (as {@link stringBytes} counts): what would pass it throws `ERR_RETENO_EMULATOR_STORE_FULL` and changes nothing.
 */
export class InboxStore {
  readonly #contacts: ContactRecord[] = [];
  #lastContactId = 0;
  /** In the order issued, so the oldest (first to expire) come first. */
  readonly #tokens = new Map<string, IssuedToken>();
  readonly #tokenTtlMs: number;
  readonly #maxBytes: number;
  /** What the contacts and their messages take. */
  #bytes = 0;

  /**
   * @param tokenTtlMs How long an issued token works, in milliseconds, if it is not used first.
   * @param maxBytes How much memory contacts and messages may take.
   */
  constructor(tokenTtlMs: number, maxBytes: number) {
    this.#tokenTtlMs = tokenTtlMs;
    this.#maxBytes = maxBytes;
  }

  /**
   * Adds a contact, or fills in the missing fields of the known contact it matches; returns it. `method` names the
   * caller in errors.
   */
  add(key: ContactKey, method = 'addContact()'): ContactRecord {
    const known = this.find(key);
    if (!known) return this.#create(key, emptyProfile, 'setup', method);
    this.#update(known, { ...fieldsOf(known), ...missingFields(known, key) }, method);
    return known;
  }

  /**
   * The contact API's upsert: the known contact that `key` matches gets the identifying fields it lacks and every
   * profile field given; otherwise a new contact is created.
   */
  upsert(key: ContactKey, profile: Partial<ContactProfile>): ContactRecord {
    const method = 'the contact API';
    const known = this.find(key);
    if (!known) return this.#create(key, { ...emptyProfile, ...profile }, 'contact-api', method);
    this.#update(known, { ...fieldsOf(known), ...missingFields(known, key), ...profile }, method);
    return known;
  }

  /** Copies of every known contact, in the order they became known, without their inboxes. */
  list(): EmulatorContact[] {
    return this.#contacts.map(({ messages: _messages, ...contact }) => contact);
  }

  #create(
    key: ContactKey,
    profile: ContactProfile,
    createdBy: ContactRecord['createdBy'],
    method: string,
  ): ContactRecord {
    this.#reserve(contactBytes({ ...key, ...profile }), method);
    this.#lastContactId += 1;
    const contact: ContactRecord = { id: this.#lastContactId, ...key, ...profile, createdBy, messages: [] };
    this.#contacts.push(contact);
    return contact;
  }

  #update(contact: ContactRecord, fields: ContactFields, method: string): void {
    this.#reserve(contactBytes(fields) - contactBytes(contact), method);
    Object.assign(contact, fields);
  }

  /** Counts `bytes` more (or fewer) against the bound; throws, counting nothing, when they would pass it. */
  #reserve(bytes: number, method: string): void {
    if (bytes > 0 && this.#bytes + bytes > this.#maxBytes) {
      throw new RetenoEmulatorError(
        emulatorErrorCodes.storeFull,
        `${method}: the emulator's contacts and messages would take more than maxStoreBytes ` +
          `(${this.#maxBytes} bytes). Restart the emulator, or give it a larger maxStoreBytes.`,
      );
    }
    this.#bytes += bytes;
  }

  /** The known contact matching `key` by externalCustomerId, else e-mail, else phone. */
  find(key: ContactKey): ContactRecord | undefined {
    for (const field of lookupFields) {
      const wanted = key[field];
      if (wanted === null) continue;
      const match = this.#contacts.find((contact) => contact[field] === wanted);
      if (match) return match;
    }
    return undefined;
  }

  /** Like {@link find}, for the public methods: throws a clear error when the contact is unknown. */
  findOrThrow(contact: unknown, method: string): ContactRecord {
    const key = contactKeyOrThrow(contact, method);
    const known = this.find(key);
    if (!known) {
      throw new RetenoEmulatorError(
        emulatorErrorCodes.unknownContact,
        `${method}(): the emulator does not know the contact ${describeContact(key)}. Add it first with ` +
          'addContact() or the `contacts` option.',
      );
    }
    return known;
  }

  issueToken(contact: ContactRecord): string {
    const now = performance.now();
    this.#dropExpiredTokens(now);
    for (const oldest of this.#tokens.keys()) {
      if (this.#tokens.size < maxTokens) break;
      this.#tokens.delete(oldest);
    }
    const token = randomBytes(32).toString('base64url');
    this.#tokens.set(token, { contact, expiresAt: now + this.#tokenTtlMs });
    return token;
  }

  /** The contact a working token belongs to; the token stops working, as every token works once. */
  redeemToken(token: string): ContactRecord | undefined {
    const issued = this.#tokens.get(token);
    this.#tokens.delete(token);
    return issued && issued.expiresAt > performance.now() ? issued.contact : undefined;
  }

  invalidateTokens(contact?: ContactRecord): void {
    if (!contact) {
      this.#tokens.clear();
      return;
    }
    for (const [token, issued] of this.#tokens) if (issued.contact === contact) this.#tokens.delete(token);
  }

  /** Tokens that were never used would otherwise pile up: they expire in the order they were issued. */
  #dropExpiredTokens(now: number): void {
    for (const [token, issued] of this.#tokens) {
      if (issued.expiresAt > now) return;
      this.#tokens.delete(token);
    }
  }

  /** Puts an unread message first in the contact's inbox; `method` names the caller in errors. */
  pushMessage(contact: ContactRecord, message: NewInboxMessage, method = 'pushMessage()'): InboxMessage {
    const problem = messageProblem(message);
    if (problem) throw new RetenoEmulatorError(emulatorErrorCodes.invalidMessage, `${method}: ${problem}.`);
    const stored: InboxMessage = {
      id: randomUUID(),
      createdDate: Date.now(),
      title: message.title,
      content: message.content,
      image: message.image ?? null,
      link: message.link ?? null,
      newMessage: true,
      status: 'UNOPENED',
    };
    this.#reserve(messageBytes(stored), method);
    contact.messages.unshift(stored);
    return { ...stored };
  }

  unreadCount(contact: ContactRecord): number {
    return contact.messages.filter((message) => message.status === 'UNOPENED').length;
  }

  page(
    contact: ContactRecord,
    page: number,
    pageSize: number,
    status: InboxMessage['status'] | null,
  ): MessagePage {
    const matching = status
      ? contact.messages.filter((message) => message.status === status)
      : contact.messages;
    const start = (page - 1) * pageSize;
    return {
      list: matching.slice(start, start + pageSize).map((message) => ({ ...message })),
      totalPages: Math.ceil(matching.length / pageSize),
    };
  }

  /** Marks the messages with these ids opened (unknown ids are ignored), or every message when `ids` is `null`. */
  markOpened(contact: ContactRecord, ids: readonly string[] | null): void {
    const wanted = ids === null ? null : new Set(ids);
    for (const message of contact.messages) {
      if (wanted && !wanted.has(message.id)) continue;
      message.status = 'OPENED';
      message.newMessage = false;
    }
  }
}

/** The identifying fields of `key` that `contact` does not have yet; the ones it has stay. */
function missingFields(contact: ContactRecord, key: ContactKey): Partial<ContactKey> {
  const missing: Partial<ContactKey> = {};
  for (const field of lookupFields) if (contact[field] === null) missing[field] = key[field];
  return missing;
}

function fieldsOf(contact: ContactFields): ContactFields {
  return Object.fromEntries(contactFieldNames.map((name) => [name, contact[name]])) as ContactFields;
}

function contactBytes(contact: ContactFields): number {
  return contactFieldNames.reduce((bytes, name) => bytes + stringBytes(contact[name]), recordBytes);
}

function messageBytes(message: InboxMessage): number {
  return [message.id, message.title, message.content, message.link, message.image].reduce(
    (bytes, text) => bytes + stringBytes(text),
    recordBytes,
  );
}

/** Why `message` is not a {@link NewInboxMessage}, or `undefined` when it is one. */
export function messageProblem(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null)
    return 'the message must be an object { title, content }';
  const { title, content, link, image } = message as Record<string, unknown>;
  if (typeof title !== 'string') return '`title` must be a string';
  if (typeof content !== 'string') return '`content` must be a string';
  if (link !== undefined && typeof link !== 'string') return '`link` must be a string when given';
  if (image !== undefined && typeof image !== 'string') return '`image` must be a string when given';
  return undefined;
}

/** `with email "anna@example.com", phone "+380…"`: the fields a key gives, for messages. */
export function describeContact(key: ContactKey): string {
  const given = lookupFields.flatMap((field) =>
    key[field] === null ? [] : [`${field} ${JSON.stringify(key[field])}`],
  );
  return `with ${given.join(', ')}`;
}
