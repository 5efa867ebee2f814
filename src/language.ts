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

/** The allowed language the visitor prefers most, by `Accept-Language` q-values; `undefined` if none. */
export function negotiateLanguage(header: unknown, allowed: ReadonlySet<string>): string | undefined {
  if (typeof header !== 'string' || header.length === 0 || header.length > maxHeaderLength) return undefined;
  let best: string | undefined;
  let bestQuality = 0;
  for (const entry of header.split(',', maxHeaderEntries)) {
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

/** The names i18n middleware sets: i18n's `getLocale()` and `locale`, i18next's `language` (and `locale`). */
interface I18nRequest {
  getLocale?: unknown;
  locale?: unknown;
  language?: unknown;
}

/**
 * The page language: `options.language`, else what i18n middleware set (i18n's `req.getLocale()` / `req.locale`,
 * i18next's `req.language`, `res.locals.locale`), else `Accept-Language`. The first source that answers
 * decides; an invalid answer gives `defaultLanguage`.
 */
export function pickLanguage(
  config: Pick<Config, 'language' | 'languages' | 'defaultLanguage'>,
  req: Request,
  res: Response,
  negotiate = (header: unknown) => negotiateLanguage(header, config.languages),
): string {
  const { languages, defaultLanguage } = config;
  const fromSite = config.language ? config.language(req, res) : localeFromMiddleware(req, res);
  if (fromSite !== undefined && fromSite !== null && fromSite !== '') {
    return normaliseLanguage(fromSite, languages) ?? defaultLanguage;
  }
  return negotiate(req.headers['accept-language']) ?? defaultLanguage;
}

const maxRememberedHeaders = 256;
const maxRememberedHeaderLength = 256;

/**
 * {@link pickLanguage} for one middleware, remembering its last 256 `Accept-Language` answers: browsers send the
 * same few values, and reading one is the largest part of a signed-in page's cost (`npm run bench`).
 */
export function createLanguagePicker(
  config: Pick<Config, 'language' | 'languages' | 'defaultLanguage'>,
): (req: Request, res: Response) => string {
  const answers = new Map<string, string | undefined>();
  const negotiate = (header: unknown) => {
    if (typeof header !== 'string' || header.length > maxRememberedHeaderLength) {
      return negotiateLanguage(header, config.languages);
    }
    if (answers.has(header)) return answers.get(header);
    const answer = negotiateLanguage(header, config.languages);
    if (answers.size >= maxRememberedHeaders) answers.delete(answers.keys().next().value as string);
    answers.set(header, answer);
    return answer;
  };
  return (req, res) => pickLanguage(config, req, res, negotiate);
}

function localeFromMiddleware(req: Request & I18nRequest, res: Response): unknown {
  // i18n keeps req.language at its default while getLocale()/req.locale follow ?lang= and cookies;
  // i18next sets req.language and req.locale alike. So the locale getter goes first.
  if (typeof req.getLocale === 'function') {
    const locale: unknown = req.getLocale();
    if (locale) return locale;
  }
  return req.locale || req.language || res.locals.locale;
}
