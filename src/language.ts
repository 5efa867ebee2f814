import type { Request, Response } from 'express';
import type { Config } from './types.js';

// A BCP 47-ish tag: a primary subtag of letters, then subtags; only the two-letter primary subtag is used.
const tagPattern = /^([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]{1,8})*$/;
const maxTagLength = 35;
const maxHeaderLength = 4096;
const maxHeaderEntries = 50;

/** 'uk-UA' → 'uk'; `undefined` for anything that is not a tag whose language is allowed. */
export function normaliseLanguage(tag: unknown, allowed: ReadonlySet<string>): string | undefined {
  if (typeof tag !== 'string' || tag.length > maxTagLength) return undefined;
  const primary = tagPattern.exec(tag)?.[1]?.toLowerCase();
  return primary !== undefined && allowed.has(primary) ? primary : undefined;
}

// Browsers send the same few Accept-Language values over and over, and reading one takes a microsecond or
// more: the answers are kept per set of allowed languages, for short headers, the oldest dropped first. The
// last answer is also kept on its own (so one header and one set stay referenced), and checked before any map.
const answersByLanguages = new WeakMap<ReadonlySet<string>, Map<string, string | null>>();
const maxAnswers = 256;
const maxKeptHeaderLength = 256;
let lastHeader: string | undefined;
let lastAllowed: ReadonlySet<string> | undefined;
let lastLanguage: string | undefined;

/** The allowed language the visitor prefers most, by `Accept-Language` q-values; `undefined` if none. */
export function negotiateLanguage(header: unknown, allowed: ReadonlySet<string>): string | undefined {
  if (typeof header !== 'string' || header.length === 0 || header.length > maxHeaderLength) return undefined;
  if (header === lastHeader && allowed === lastAllowed) return lastLanguage;
  if (header.length > maxKeptHeaderLength) return readAcceptLanguage(header, allowed);
  let answers = answersByLanguages.get(allowed);
  if (answers === undefined) {
    answers = new Map();
    answersByLanguages.set(allowed, answers);
  }
  const known = answers.get(header);
  let language: string | undefined;
  if (known === undefined) {
    language = readAcceptLanguage(header, allowed);
    if (answers.size >= maxAnswers) answers.delete(answers.keys().next().value as string);
    answers.set(header, language ?? null);
  } else {
    language = known ?? undefined;
  }
  lastHeader = header;
  lastAllowed = allowed;
  lastLanguage = language;
  return language;
}

function readAcceptLanguage(header: string, allowed: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  let bestQuality = 0;
  const entries = header.split(',', maxHeaderEntries);
  for (const entry of entries) {
    const [tag = '', ...parameters] = entry.split(';');
    let quality = 1;
    for (const parameter of parameters) {
      const match = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/.exec(parameter);
      if (match?.[1] !== undefined) quality = Number(match[1]);
    }
    if (quality <= bestQuality || quality > 1) continue;
    const language = normaliseLanguage(tag.trim(), allowed);
    if (language !== undefined) {
      best = language;
      bestQuality = quality;
    }
  }
  return best;
}

interface I18nRequest {
  language?: unknown;
  locale?: unknown;
  getLocale?: unknown;
}

/**
 * The page language: `options.language`, else what i18n middleware set (i18n's `req.getLocale()` / `req.locale`,
 * i18next's `req.language`, `res.locals.locale`), else `Accept-Language`. The first source that answers
 * decides; an invalid answer gives `defaultLanguage`. `locals` is `res.locals`, for a caller that has read it.
 */
export function pickLanguage(
  config: Pick<Config, 'language' | 'languages' | 'defaultLanguage'>,
  req: Request,
  res: Response,
  locals: Record<string, unknown> = res.locals,
): string {
  const { languages, defaultLanguage } = config;
  const facts = config.language ? undefined : prototypeFacts(req);
  const fromSite = config.language ? config.language(req, res) : localeFromMiddleware(req, locals, facts);
  if (fromSite !== undefined && fromSite !== null && fromSite !== '') {
    return normaliseLanguage(fromSite, languages) ?? defaultLanguage;
  }
  return negotiateLanguage(acceptLanguage(req, facts), languages) ?? defaultLanguage;
}

function localeFromMiddleware(
  req: Request,
  locals: Record<string, unknown>,
  facts: PrototypeFacts | undefined,
): unknown {
  const i18nRequest = req as Request & I18nRequest;
  const inherited = facts?.definesLocale === true;
  // i18n keeps req.language at its default while getLocale()/req.locale follow ?lang= and cookies;
  // i18next sets req.language and req.locale alike. So the locale getter goes first.
  if ((inherited || Object.hasOwn(req, 'getLocale')) && typeof i18nRequest.getLocale === 'function') {
    const locale = (i18nRequest.getLocale as () => unknown).call(req);
    if (locale) return locale;
  }
  if ((inherited || Object.hasOwn(req, 'locale')) && i18nRequest.locale) return i18nRequest.locale;
  if ((inherited || Object.hasOwn(req, 'language')) && i18nRequest.language) return i18nRequest.language;
  return locals.locale;
}

function acceptLanguage(req: Request, facts: PrototypeFacts | undefined): unknown {
  // The same read as req.headers, through the getter found once (see prototypeFacts). A request that has
  // its own `headers` (a test double, say) is read as it is.
  const headers: unknown =
    facts?.headersGetter !== undefined && !Object.hasOwn(req, 'headers')
      ? facts.headersGetter.call(req)
      : req.headers;
  return typeof headers === 'object' && headers !== null
    ? (headers as Record<string, unknown>)['accept-language']
    : undefined;
}

/** What a request's prototype chain says, looked up once per prototype. */
interface PrototypeFacts {
  /** Whether the chain defines `getLocale`, `locale` or `language` (a site may, on `app.request`). */
  definesLocale: boolean;
  /** Node's `headers` getter, if the chain defines `headers` as one. */
  headersGetter: ((this: unknown) => unknown) | undefined;
}

// i18n and i18next set their names on the request itself, and Node's `headers` is a getter on
// IncomingMessage.prototype. Express gives every request a new prototype link, so a name looked up through
// the chain misses V8's caches and is searched in the runtime each time: in CPU profiles, the largest share
// of the embed's cost. So the chain is asked once per prototype and the request itself each time. A getter
// added to a prototype after its first request is not seen.
const factsByPrototype = new WeakMap<object, PrototypeFacts>();
// The last prototype's facts, checked before the map: a site's requests mostly share one prototype (which stays
// referenced).
let lastPrototype: object | undefined;
let lastFacts: PrototypeFacts | undefined;

function prototypeFacts(req: Request): PrototypeFacts | undefined {
  const prototype: unknown = Object.getPrototypeOf(req);
  if (typeof prototype !== 'object' || prototype === null) return undefined;
  if (prototype === lastPrototype) return lastFacts;
  let facts = factsByPrototype.get(prototype);
  if (facts === undefined) {
    facts = {
      definesLocale: 'getLocale' in prototype || 'locale' in prototype || 'language' in prototype,
      headersGetter: getterOf(prototype, 'headers'),
    };
    factsByPrototype.set(prototype, facts);
  }
  lastPrototype = prototype;
  lastFacts = facts;
  return facts;
}

function getterOf(object: object, name: string): ((this: unknown) => unknown) | undefined {
  for (let holder: object | null = object; holder !== null; holder = Object.getPrototypeOf(holder)) {
    const descriptor = Object.getOwnPropertyDescriptor(holder, name);
    if (descriptor !== undefined) return descriptor.get;
  }
  return undefined;
}
