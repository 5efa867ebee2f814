import { controlPathPrefix } from './control-api.js';
import { emulatorErrorCodes, RetenoEmulatorError } from './errors.js';
import { inboxPathPrefix } from './inbox-api.js';
import { type ContactKey, messageProblem, readContactKey } from './store.js';
import { tokenPath } from './token-api.js';
import type { NewInboxMessage, RetenoEmulatorOptions } from './types.js';

/** The emulator's settings, complete. */
export interface EmulatorConfig {
  apiKey: string;
  scriptId: string;
  port: number;
  host: string;
  contacts: ContactKey[];
  bellSelector: string | null;
  pollIntervalMs: number;
  maxLoggedRequests: number;
  maxLoggedBytes: number;
  maxStoreBytes: number;
  /** `null`: none. */
  welcomeMessage: NewInboxMessage | null;
  controlApi: boolean;
  tokenTtlMs: number;
  /** `null`: reflect any `Origin`. */
  corsOrigins: ReadonlySet<string> | null;
  contactPath: string;
  /** 0: never answer 409. */
  contactRepeatWindowMs: number;
  contactRateLimit: { requests: number; perMs: number };
}

export const minPollIntervalMs = 100;
export const defaultContactPath = '/api/v1/contact';

export const optionNames: Readonly<Record<keyof RetenoEmulatorOptions, true>> = {
  apiKey: true,
  scriptId: true,
  port: true,
  host: true,
  contacts: true,
  bellSelector: true,
  pollIntervalMs: true,
  maxLoggedRequests: true,
  maxLoggedBytes: true,
  maxStoreBytes: true,
  welcomeMessage: true,
  controlApi: true,
  tokenTtlMs: true,
  corsOrigins: true,
  contactPath: true,
  contactRepeatWindowMs: true,
  contactRateLimit: true,
};
const rateLimitNames: Readonly<Record<keyof NonNullable<RetenoEmulatorOptions['contactRateLimit']>, true>> = {
  requests: true,
  perMs: true,
};

/** The widget's path; the contact API must not take it. */
const scriptPathPrefix = '/scripts/';

/** Validates the options of `createRetenoEmulator` once and fills in the defaults. */
export function parseEmulatorOptions(options: RetenoEmulatorOptions): EmulatorConfig {
  if (typeof options !== 'object' || options === null) {
    invalid('createRetenoEmulator() needs an options object like { apiKey, scriptId }');
  }
  for (const name of Object.keys(options)) {
    if (!Object.hasOwn(optionNames, name)) {
      invalid(`unknown option \`${name}\`; known options: ${Object.keys(optionNames).join(', ')}`);
    }
  }
  const {
    apiKey,
    scriptId,
    port = 0,
    host = '127.0.0.1',
    contacts = [],
    bellSelector,
    pollIntervalMs = 5000,
    maxLoggedRequests = 10_000,
    maxLoggedBytes = 16 * 1024 * 1024,
    maxStoreBytes = 32 * 1024 * 1024,
    welcomeMessage,
    controlApi = false,
    tokenTtlMs = 60 * 60 * 1000,
    corsOrigins,
    contactPath = defaultContactPath,
    contactRepeatWindowMs = 60_000,
    contactRateLimit,
  } = options;

  if (typeof apiKey !== 'string' || apiKey === '') {
    invalid('`apiKey` must be a non-empty string: the password the token route accepts, e.g. "test-api-key"');
  }
  if (typeof scriptId !== 'string' || scriptId === '') {
    invalid('`scriptId` must be a non-empty string: the id in /scripts/<scriptId>.js, e.g. a UUID');
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    invalid(
      `\`port\` must be an integer from 0 to 65535, 0 for any free port (received ${JSON.stringify(port)})`,
    );
  }
  if (typeof host !== 'string' || host === '')
    invalid('`host` must be a non-empty string such as "127.0.0.1"');
  if (!Array.isArray(contacts))
    invalid('`contacts` must be an array of contacts like [{ email: "anna@example.com" }]');
  const contactKeys = contacts.map((contact, index) => {
    const key = readContactKey(contact);
    if (typeof key === 'string') invalid(`\`contacts[${index}]\`: ${key}`);
    return key;
  });
  if (bellSelector !== undefined && (typeof bellSelector !== 'string' || bellSelector.trim() === '')) {
    invalid('`bellSelector` must be a non-empty CSS selector, or absent for a bell fixed in the corner');
  }
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < minPollIntervalMs) {
    invalid(
      `\`pollIntervalMs\` must be an integer of at least ${minPollIntervalMs} (received ${JSON.stringify(pollIntervalMs)})`,
    );
  }
  if (!Number.isInteger(maxLoggedRequests) || maxLoggedRequests < 0) {
    invalid(
      `\`maxLoggedRequests\` must be an integer of at least 0, 0 to keep no log (received ${JSON.stringify(maxLoggedRequests)})`,
    );
  }
  if (!Number.isSafeInteger(maxLoggedBytes) || maxLoggedBytes < 0) {
    invalid(
      `\`maxLoggedBytes\` must be an integer of at least 0, 0 to keep no log (received ${JSON.stringify(maxLoggedBytes)})`,
    );
  }
  if (!Number.isSafeInteger(maxStoreBytes) || maxStoreBytes < 0) {
    invalid(`\`maxStoreBytes\` must be an integer of at least 0 (received ${JSON.stringify(maxStoreBytes)})`);
  }
  const welcomeProblem = welcomeMessage === undefined ? undefined : messageProblem(welcomeMessage);
  if (welcomeProblem !== undefined) {
    invalid(`\`welcomeMessage\`: ${welcomeProblem}, or absent for none`);
  }
  if (typeof controlApi !== 'boolean') {
    invalid(`\`controlApi\` must be true or false (received ${JSON.stringify(controlApi)})`);
  }
  if (!Number.isSafeInteger(tokenTtlMs) || tokenTtlMs < 1) {
    invalid(
      `\`tokenTtlMs\` must be a positive integer of milliseconds, e.g. 3600000 for an hour (received ${JSON.stringify(tokenTtlMs)})`,
    );
  }
  if (corsOrigins !== undefined && !Array.isArray(corsOrigins)) {
    invalid(
      '`corsOrigins` must be an array of origins like ["http://localhost:3000"], or absent to reflect any origin',
    );
  }
  checkContactPath(contactPath);
  if (!Number.isSafeInteger(contactRepeatWindowMs) || contactRepeatWindowMs < 0) {
    invalid(
      `\`contactRepeatWindowMs\` must be an integer of at least 0, 0 to never answer 409 (received ${JSON.stringify(contactRepeatWindowMs)})`,
    );
  }
  return {
    apiKey,
    scriptId,
    port,
    host,
    contacts: contactKeys,
    bellSelector: bellSelector ?? null,
    pollIntervalMs,
    maxLoggedRequests,
    maxLoggedBytes,
    maxStoreBytes,
    welcomeMessage: welcomeMessage === undefined ? null : { ...welcomeMessage },
    controlApi,
    tokenTtlMs,
    corsOrigins: corsOrigins === undefined ? null : new Set(corsOrigins.map(parseOrigin)),
    contactPath,
    contactRepeatWindowMs,
    contactRateLimit: parseRateLimit(contactRateLimit),
  };
}

function checkContactPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || !/^\/[^?#\s]*$/.test(path)) {
    invalid(
      `\`contactPath\` must be a path starting with "/", without query or spaces, e.g. "/api/v1/contact" (received ${JSON.stringify(path)})`,
    );
  }
  const taken = [inboxPathPrefix, scriptPathPrefix, controlPathPrefix].some((prefix) =>
    path.startsWith(prefix),
  );
  if (path === tokenPath || taken) {
    invalid(
      `\`contactPath\` ${JSON.stringify(path)} is taken by the token route, the App Inbox API, the widget or the control API; choose another`,
    );
  }
}

function parseRateLimit(
  limit: RetenoEmulatorOptions['contactRateLimit'],
): EmulatorConfig['contactRateLimit'] {
  if (limit !== undefined && (typeof limit !== 'object' || limit === null || Array.isArray(limit))) {
    invalid('`contactRateLimit` must be an object like { requests: 200, perMs: 1000 }');
  }
  for (const name of Object.keys(limit ?? {})) {
    if (!Object.hasOwn(rateLimitNames, name)) {
      invalid(`\`contactRateLimit\` has an unknown property \`${name}\`; known: requests, perMs`);
    }
  }
  const { requests = 200, perMs = 1000 } = limit ?? {};
  for (const [name, value] of Object.entries({ requests, perMs })) {
    if (!Number.isSafeInteger(value) || value < 1) {
      invalid(
        `\`contactRateLimit.${name}\` must be a positive integer, e.g. { requests: 200, perMs: 1000 } (received ${JSON.stringify(value)})`,
      );
    }
  }
  return { requests, perMs };
}

function parseOrigin(origin: unknown, index: number): string {
  let parsed: URL | undefined;
  if (typeof origin === 'string') {
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
  }
  if (!parsed || parsed.origin !== origin) {
    const hint = parsed && parsed.origin !== 'null' ? ` (did you mean "${parsed.origin}"?)` : '';
    invalid(`\`corsOrigins[${index}]\` must be an origin like "http://localhost:3000"${hint}`);
  }
  return parsed.origin;
}

function invalid(problem: string): never {
  throw new RetenoEmulatorError(emulatorErrorCodes.invalidOption, `createRetenoEmulator(): ${problem}.`);
}
