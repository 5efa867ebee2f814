import { errorCodes, RetenoInboxError } from './errors.js';
import { iso6391Codes } from './iso-639-1.js';
import { normaliseNonce } from './html-safe.js';
import { defaultTokenPath, isTokenPath, tokenPathRule } from './token-path.js';
import { markerHeader } from './token-route.js';
import type { Config, Logger, RetenoFlags, RetenoInboxOptions } from './types.js';

export const defaults = {
  baseUrl: 'https://reteno.com',
  scriptBaseUrl: 'https://statics.esputnik.com/scripts/',
  tokenPath: defaultTokenPath,
  defaultLanguage: 'en',
  timeout: 5000,
  retries: 2,
  csrfHeader: 'x-csrf-token',
  tokenBudget: { limit: 60, windowMs: 60_000 },
  maxInFlight: 32,
  maxQueued: 256,
  maxPerSecond: 50,
  contactUrl: 'https://api.reteno.com/api/v1/contact',
} as const;

/** The token endpoint, relative to `baseUrl`. */
export const tokenEndpointPath = '/v1/auth/contact/token';

// A compiler-checked list of every option: adding one to RetenoInboxOptions without listing it here fails the build.
const knownOptions: { [K in keyof Required<RetenoInboxOptions>]: true } = {
  apiKey: true,
  resolveContact: true,
  scriptId: true,
  baseUrl: true,
  scriptBaseUrl: true,
  tokenPath: true,
  languages: true,
  defaultLanguage: true,
  language: true,
  flags: true,
  embedAnonymous: true,
  timeout: true,
  retries: true,
  nonce: true,
  allowedOrigins: true,
  csrfToken: true,
  csrfHeader: true,
  tokenBudget: true,
  maxInFlight: true,
  maxQueued: true,
  maxPerSecond: true,
  redis: true,
  redisPrefix: true,
  createContact: true,
  contactUrl: true,
  allowHttp: true,
  logger: true,
};
const knownFlags: { [K in keyof Required<RetenoFlags>]: true } = { RECOMS: true, TRACKING: true };

export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// RFC 9110's token characters.
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const maxTimeout = 120_000;
const redisPrefixPattern = /^[\x21-\x7e]{1,100}$/;
const maxRetries = 10;

const quietLogger: Logger = {
  warn() {},
  error(message) {
    console.error(message);
  },
};

/** Turns user options into a complete {@link Config}, or throws a {@link RetenoInboxError} that names the fix. */
export function parseOptions(options: unknown): Config {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(
      'options',
      'retenoInbox() expects an options object: retenoInbox({ apiKey, resolveContact, scriptId }).',
    );
  }
  const given = options as Record<string, unknown>;
  rejectUnknownKeys(given, knownOptions, '');

  const apiKey = given.apiKey;
  if (apiKey === undefined || apiKey === '') {
    throw missing(
      'apiKey',
      'Pass your Reteno API key (Settings > API keys), e.g. from process.env.RETENO_API_KEY.',
    );
  }
  if (typeof apiKey !== 'string' || /[\s\p{Cc}]/u.test(apiKey)) {
    // The value itself is never echoed: it is a secret.
    throw invalid('apiKey', '`apiKey` must be a string without spaces or control characters.');
  }

  const resolveContact = given.resolveContact;
  if (resolveContact === undefined) {
    throw missing(
      'resolveContact',
      'Pass `resolveContact(req)` returning the signed-in contact, e.g. (req) => req.session.user && { email: req.session.user.email }.',
    );
  }
  if (typeof resolveContact !== 'function') {
    throw invalid('resolveContact', '`resolveContact` must be a function of the request.');
  }

  const scriptId = given.scriptId;
  if (scriptId === undefined || scriptId === '') {
    throw missing('scriptId', "Pass `scriptId`, the UUID from Reteno's Settings > Web Tracking.");
  }
  if (typeof scriptId !== 'string' || !uuidPattern.test(scriptId)) {
    throw invalid(
      'scriptId',
      "`scriptId` must be the UUID from Reteno's Settings > Web Tracking, like '0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b'.",
    );
  }

  const allowHttp = given.allowHttp ?? false;
  if (typeof allowHttp !== 'boolean') throw invalid('allowHttp', '`allowHttp` must be true or false.');
  const baseUrl = parseHttpUrl('baseUrl', given.baseUrl ?? defaults.baseUrl, allowHttp).replace(/\/+$/, '');
  let scriptBaseUrl = parseHttpUrl('scriptBaseUrl', given.scriptBaseUrl ?? defaults.scriptBaseUrl, allowHttp);
  if (!scriptBaseUrl.endsWith('/')) scriptBaseUrl += '/';

  const tokenPath = given.tokenPath ?? defaults.tokenPath;
  if (!isTokenPath(tokenPath)) throw invalid('tokenPath', `\`tokenPath\` ${tokenPathRule}`);

  const languages = parseLanguages(given.languages);
  const defaultLanguage = given.defaultLanguage ?? defaults.defaultLanguage;
  if (typeof defaultLanguage !== 'string' || !languages.has(defaultLanguage)) {
    throw invalid(
      'defaultLanguage',
      `\`defaultLanguage\` must be a lowercase ISO 639-1 code listed in \`languages\`, like 'en'.`,
    );
  }

  const language = given.language;
  if (language !== undefined && typeof language !== 'function') {
    throw invalid('language', '`language` must be a function (req, res) => string.');
  }

  const flags = parseFlags(given.flags);

  const embedAnonymous = given.embedAnonymous ?? false;
  if (typeof embedAnonymous !== 'boolean') {
    throw invalid('embedAnonymous', '`embedAnonymous` must be true or false.');
  }

  const timeout = given.timeout ?? defaults.timeout;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > maxTimeout) {
    throw invalid('timeout', `\`timeout\` must be a whole number of milliseconds from 1 to ${maxTimeout}.`);
  }

  const retries = given.retries ?? defaults.retries;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > maxRetries) {
    throw invalid('retries', `\`retries\` must be a whole number from 0 to ${maxRetries}.`);
  }

  const nonce = parseNonce(given.nonce);
  const allowedOrigins = parseAllowedOrigins(given.allowedOrigins);
  const csrfToken = given.csrfToken;
  if (csrfToken !== undefined && typeof csrfToken !== 'function') {
    throw invalid(
      'csrfToken',
      '`csrfToken` must be a function (req, res) => string, like (req) => req.csrfToken() with csurf.',
    );
  }
  const csrfHeader = given.csrfHeader ?? defaults.csrfHeader;
  if (
    typeof csrfHeader !== 'string' ||
    !headerNamePattern.test(csrfHeader) ||
    csrfHeader.toLowerCase() === markerHeader
  ) {
    throw invalid('csrfHeader', "`csrfHeader` must be an HTTP header name, like 'x-csrf-token'.");
  }
  const tokenBudget = parseTokenBudget(given.tokenBudget);
  const maxInFlight = parseCount('maxInFlight', given.maxInFlight ?? defaults.maxInFlight, 1, 10_000);
  const maxQueued = parseCount('maxQueued', given.maxQueued ?? defaults.maxQueued, 0, 100_000);
  const maxPerSecond = parseCount('maxPerSecond', given.maxPerSecond ?? defaults.maxPerSecond, 1, 10_000);
  const redisPrefix = given.redisPrefix;
  if (
    redisPrefix !== undefined &&
    (typeof redisPrefix !== 'string' || !redisPrefixPattern.test(redisPrefix))
  ) {
    throw invalid(
      'redisPrefix',
      "`redisPrefix` must be 1 to 100 visible ASCII characters, like 'shop-eu:reteno-inbox'; by default it is derived from the API key.",
    );
  }
  const redis = given.redis;
  if (
    redis !== undefined &&
    (typeof redis !== 'object' ||
      redis === null ||
      typeof (redis as { multi?: unknown }).multi !== 'function')
  ) {
    throw invalid(
      'redis',
      '`redis` must be a connected node-redis (v4 or later) or ioredis client, like createClient({ url }) after connect().',
    );
  }
  const createContact = given.createContact ?? false;
  if (typeof createContact !== 'boolean' && typeof createContact !== 'function') {
    throw invalid(
      'createContact',
      '`createContact` must be true, false or a function (req, contact) => ({ firstName, lastName, languageCode }).',
    );
  }
  const contactUrl = parseHttpUrl('contactUrl', given.contactUrl ?? defaults.contactUrl, allowHttp);
  const logger = parseLogger(given.logger);

  return {
    apiKey,
    resolveContact: resolveContact as Config['resolveContact'],
    scriptUrl: `${scriptBaseUrl}${scriptId}.js`,
    tokenEndpoint: `${baseUrl}${tokenEndpointPath}`,
    contactEndpoint: contactUrl,
    tokenPath,
    languages,
    defaultLanguage,
    language: language as Config['language'],
    flags,
    embedAnonymous,
    timeout,
    retries,
    nonce,
    allowedOrigins,
    csrfToken: csrfToken as Config['csrfToken'],
    csrfHeader: csrfHeader.toLowerCase(),
    tokenBudget,
    maxInFlight,
    maxQueued,
    maxPerSecond,
    redis: redis as object | undefined,
    redisPrefix,
    createContact: createContact === true ? () => undefined : (createContact as Config['createContact']),
    logger,
  };
}

function parseHttpUrl(option: string, value: unknown, allowHttp: boolean): string {
  const fix = `\`${option}\` must be an absolute http(s) URL without credentials, query or fragment.`;
  if (typeof value !== 'string') throw invalid(option, fix);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(option, fix);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    value.includes('?') ||
    value.includes('#')
  ) {
    throw invalid(option, fix);
  }
  if (url.protocol === 'http:' && !allowHttp && !isLoopback(url.hostname)) {
    throw invalid(
      option,
      `\`${option}\` uses http: for a host that is not loopback, so the API key would cross the network in clear text. Use https:, or pass allowHttp: true for a trusted network.`,
    );
  }
  return url.href;
}

/** localhost, 127.0.0.0/8 and [::1]: hosts whose traffic never leaves the machine. */
export function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127(\.\d{1,3}){3}$/.test(hostname)
  );
}

function parseTokenBudget(value: unknown): Config['tokenBudget'] {
  if (value === undefined) return { ...defaults.tokenBudget };
  if (value === false) return false;
  const fix =
    '`tokenBudget` must be false or { limit, windowMs } with a whole number limit from 1 and windowMs in whole seconds from 1000 to 86400000, like { limit: 60, windowMs: 60000 }.';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('tokenBudget', fix);
  const {
    limit = defaults.tokenBudget.limit,
    windowMs = defaults.tokenBudget.windowMs,
    ...rest
  } = value as Record<string, unknown>;
  if (
    Object.keys(rest).length > 0 ||
    typeof limit !== 'number' ||
    !Number.isSafeInteger(limit) ||
    limit < 1 ||
    typeof windowMs !== 'number' ||
    !Number.isInteger(windowMs) ||
    windowMs % 1000 !== 0 ||
    windowMs < 1000 ||
    windowMs > 86_400_000
  ) {
    throw invalid('tokenBudget', fix);
  }
  return { limit, windowMs };
}

function parseCount(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(option, `\`${option}\` must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

function parseLanguages(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set(iso6391Codes);
  const fix = "`languages` must be a non-empty array of lowercase ISO 639-1 codes, like ['en', 'uk', 'de'].";
  if (!Array.isArray(value) || value.length === 0) throw invalid('languages', fix);
  const known = new Set(iso6391Codes);
  for (const code of value) {
    if (typeof code !== 'string' || !known.has(code)) {
      throw invalid(
        'languages',
        `${fix} ${typeof code === 'string' ? `'${code.slice(0, 20)}' is not one.` : ''}`.trim(),
      );
    }
  }
  return new Set(value as string[]);
}

function parseFlags(value: unknown): RetenoFlags {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('flags', '`flags` must be an object like { TRACKING: true, RECOMS: false }.');
  }
  const given = value as Record<string, unknown>;
  rejectUnknownKeys(given, knownFlags, 'flags.');
  const flags: RetenoFlags = {};
  for (const name of Object.keys(knownFlags) as (keyof RetenoFlags)[]) {
    const flag = given[name];
    if (flag === undefined) continue;
    if (typeof flag !== 'boolean') throw invalid(`flags.${name}`, `\`flags.${name}\` must be true or false.`);
    flags[name] = flag;
  }
  return flags;
}

function parseNonce(value: unknown): Config['nonce'] {
  if (value === undefined) return undefined;
  if (typeof value === 'function') return value as Config['nonce'];
  if (typeof value === 'string' && normaliseNonce(value) !== undefined) return () => value;
  throw invalid(
    'nonce',
    '`nonce` must be a base64 string or a function (req, res) => string; by default res.locals.cspNonce is used.',
  );
}

function parseAllowedOrigins(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  const fix = "`allowedOrigins` must be an array of origins like ['https://shop.example.com'].";
  if (!Array.isArray(value)) throw invalid('allowedOrigins', fix);
  const origins = new Set<string>();
  for (const origin of value) {
    let parsed: URL | undefined;
    try {
      parsed = typeof origin === 'string' ? new URL(origin) : undefined;
    } catch {
      parsed = undefined;
    }
    if (
      parsed === undefined ||
      (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') ||
      parsed.origin !== String(origin).replace(/\/$/, '').toLowerCase()
    ) {
      throw invalid('allowedOrigins', `${fix} '${String(origin).slice(0, 60)}' is not an origin.`);
    }
    origins.add(parsed.origin);
  }
  return origins;
}

function parseLogger(value: unknown): Logger {
  if (value === undefined) return quietLogger;
  const candidate = value as Partial<Logger> | null;
  if (typeof candidate !== 'object' || candidate === null) {
    throw invalid('logger', '`logger` must have warn(message) and error(message) methods, like console.');
  }
  if (typeof candidate.warn !== 'function' || typeof candidate.error !== 'function') {
    throw invalid('logger', '`logger` must have warn(message) and error(message) methods, like console.');
  }
  return candidate as Logger;
}

function rejectUnknownKeys(
  given: Record<string, unknown>,
  known: Record<string, true>,
  prefix: string,
): void {
  for (const key of Object.keys(given)) {
    if (Object.hasOwn(known, key)) continue;
    const suggestion = closest(key, Object.keys(known));
    throw new RetenoInboxError(
      errorCodes.unknownOption,
      `retenoInbox received an unknown option, \`${prefix}${key.slice(0, 40)}\`.${
        suggestion
          ? ` Did you mean \`${prefix}${suggestion}\`?`
          : ` Known options: ${Object.keys(known).join(', ')}.`
      }`,
      `${prefix}${key}`,
    );
  }
}

/** The known name a typo most likely meant, if any is close. */
function closest(key: string, names: readonly string[]): string | undefined {
  const simplify = (name: string) => name.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    if (simplify(name) === simplify(key)) return name;
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 4;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function missing(option: string, fix: string): RetenoInboxError {
  return new RetenoInboxError(
    errorCodes.missingOption,
    `retenoInbox is missing \`${option}\`. ${fix}`,
    option,
  );
}

function invalid(option: string, fix: string): RetenoInboxError {
  return new RetenoInboxError(
    errorCodes.invalidOption,
    `retenoInbox received an invalid \`${option}\`. ${fix}`,
    option,
  );
}
