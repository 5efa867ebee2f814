import { createHash } from 'node:crypto';
import { type ApiRequest, jsonBodyProblem } from './api-request.js';
import { unauthorizedReply } from './authorization.js';
import { emulatorErrorCodes, RetenoEmulatorError } from './errors.js';
import type { EmulatorConfig } from './options.js';
import { FixedWindowLimit } from './rate-limit.js';
import { jsonReply, type Reply, textReply } from './replies.js';
import { type ContactKey, type ContactProfile, type InboxStore, readContactKey } from './store.js';

/** The channel types of Reteno's `Contact`. */
const channelTypes: ReadonlySet<string> = new Set([
  'email',
  'sms',
  'viber',
  'mobilepush',
  'webpush',
  'appinbox',
  'widget',
  'inapp',
]);
const profileFields = ['firstName', 'lastName', 'languageCode', 'timeZone'] as const;

/**
 * Accepted bodies remembered at most, for the 409 to a repeat: at Reteno's 200 requests a second, a minute's worth
 * fits. Past it the oldest is forgotten (its repeat is then accepted).
 */
const maxRememberedBodies = 20_000;

/** A valid contact API body: who the contact is, and the profile fields it gives. */
interface ContactUpsert {
  key: ContactKey;
  profile: Partial<ContactProfile>;
}

/**
 * Reteno's `POST /api/v1/contact`: Basic auth as the token route, a `Contact` body with a non-empty `channels`
 * array. Creates the contact, or updates the known one its e-mail channel, sms channel or `externalCustomerId`
 * matches, and answers `{"id": <number>}`. 429 above the rate limit, 409 for the same body again within the repeat
 * window.
 */
export class ContactApi {
  readonly #store: InboxStore;
  readonly #limit: FixedWindowLimit;
  readonly #rateLimit: EmulatorConfig['contactRateLimit'];
  readonly #repeatWindowMs: number;
  readonly #maxStoreBytes: number;
  /**
   * The SHA-256 digests of accepted bodies (as canonical JSON), with when they were accepted, oldest first. Digests,
   * not bodies: a body may be a megabyte.
   */
  readonly #accepted = new Map<string, number>();

  constructor(
    config: Pick<EmulatorConfig, 'contactRepeatWindowMs' | 'contactRateLimit' | 'maxStoreBytes'>,
    store: InboxStore,
  ) {
    this.#store = store;
    this.#maxStoreBytes = config.maxStoreBytes;
    this.#limit = new FixedWindowLimit(config.contactRateLimit);
    this.#rateLimit = config.contactRateLimit;
    this.#repeatWindowMs = config.contactRepeatWindowMs;
  }

  answer(request: ApiRequest): Reply {
    if (request.method !== 'POST') return textReply(405, undefined, { allow: 'POST' });
    if (request.authorization !== 'valid') return unauthorizedReply();
    const now = performance.now();
    const waitMs = this.#limit.take(now);
    if (waitMs !== null) {
      const { requests, perMs } = this.#rateLimit;
      return textReply(429, `Too Many Requests: at most ${requests} contact requests per ${perMs} ms`, {
        'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))),
      });
    }
    const bodyProblem = jsonBodyProblem(request);
    if (bodyProblem) return textReply(400, `Bad Request: ${bodyProblem}`);
    const upsert = readContactUpsert(request.body.json);
    if (typeof upsert === 'string') return textReply(400, `Bad Request: ${upsert}`);
    const digest = createHash('sha256').update(canonicalJson(request.body.json)).digest('base64');
    if (this.#isRepeat(digest, now)) {
      return textReply(409, `Conflict: repeated request within ${this.#repeatWindowMs} ms`);
    }
    try {
      const { id } = this.#store.upsert(upsert.key, upsert.profile);
      this.#remember(digest, now);
      return jsonReply(200, { id });
    } catch (error) {
      if (!(error instanceof RetenoEmulatorError) || error.code !== emulatorErrorCodes.storeFull) throw error;
      return textReply(
        507,
        `Insufficient Storage: the emulator keeps at most ${this.#maxStoreBytes} bytes of contacts and messages (maxStoreBytes)`,
      );
    }
  }

  /** Whether a body with this digest was accepted within the repeat window. */
  #isRepeat(digest: string, now: number): boolean {
    for (const [seen, acceptedAt] of this.#accepted) {
      if (now - acceptedAt < this.#repeatWindowMs) break;
      this.#accepted.delete(seen);
    }
    return this.#accepted.has(digest);
  }

  #remember(digest: string, now: number): void {
    if (this.#repeatWindowMs === 0) return;
    for (const oldest of this.#accepted.keys()) {
      if (this.#accepted.size < maxRememberedBodies) break;
      this.#accepted.delete(oldest);
    }
    this.#accepted.set(digest, now);
  }
}

/** Reads Reteno's `Contact`; returns the reason as a string when the emulator cannot accept it. */
function readContactUpsert(body: unknown): ContactUpsert | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'the body must be a Contact object like {"channels":[{"type":"email","value":"anna@example.com"}]}';
  }
  const contact = body as Record<string, unknown>;
  const { channels, externalCustomerId, fields } = contact;
  if (!Array.isArray(channels) || channels.length === 0) {
    return '`channels` is required: a non-empty array like [{"type":"email","value":"anna@example.com"}]';
  }
  const identifying: { email?: string; sms?: string } = {};
  for (const [index, channel] of channels.entries()) {
    if (typeof channel !== 'object' || channel === null) {
      return `\`channels[${index}]\` must be an object like {"type":"email","value":"anna@example.com"}`;
    }
    const { type, value } = channel as Record<string, unknown>;
    if (typeof type !== 'string' || !channelTypes.has(type)) {
      return `\`channels[${index}].type\` must be one of ${[...channelTypes].join(', ')}`;
    }
    if (typeof value !== 'string' || value.trim() === '') {
      return `\`channels[${index}].value\` must be a non-empty string`;
    }
    if (type !== 'email' && type !== 'sms') continue;
    if (identifying[type] !== undefined) {
      return `\`channels\` has more than one ${type} channel; the emulator keeps one per contact`;
    }
    identifying[type] = value;
  }
  if (fields !== undefined && !Array.isArray(fields)) {
    return '`fields` must be an array like [{"id":1,"value":"…"}]';
  }
  const profile: Partial<ContactProfile> = {};
  for (const field of profileFields) {
    const value = contact[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') return `\`${field}\` must be a string`;
    profile[field] = value;
  }
  const key = readContactKey({ email: identifying.email, phone: identifying.sms, externalCustomerId });
  // The emulator's lookup needs one of them; Reteno would also take a contact with other channels only.
  if (typeof key === 'string') return `${key} (email and phone come from the email and sms channels)`;
  return { key, profile };
}

/** JSON with every object's keys sorted, so that the same body written in another key order compares equal. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}
