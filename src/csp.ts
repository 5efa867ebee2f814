import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import { errorCodes, RetenoInboxError } from './errors.js';

/**
 * A source of a CSP directive: a string, or a function helmet calls per response, like a nonce source. Under Express,
 * helmet calls it with Express's `req` and `res`, so `res.locals.cspNonce` type-checks; a function typed with
 * helmet's own `(req: IncomingMessage, res: ServerResponse)` is accepted too.
 */
export type CspSource = string | ((req: Request, res: Response) => string);
/** Directives as helmet's `contentSecurityPolicy.directives` takes them, in either key style. */
export type CspDirectives = Record<string, Iterable<CspSource> | null>;
/** The directives {@link retenoInboxCsp} returns, typed as helmet's `contentSecurityPolicy.directives`. */
export type HelmetCspDirectives = Record<
  string,
  Iterable<string | ((req: IncomingMessage, res: ServerResponse) => string)> | null
>;

/** Options of {@link retenoInboxCsp}. */
export interface RetenoInboxCspOptions {
  /**
   * The emulator's URL in development: its origin replaces Reteno's hosts (script, API and images).
   * @example emulator.url
   */
  emulatorUrl?: string;
}

/**
 * The hosts Reteno's web script is seen loading from and talking to. Reteno publishes no CSP list, so this is
 * the set observed in public integrations; sites that see a violation can add to it in their own directives.
 */
export const retenoHosts = {
  script: ['https://statics.esputnik.com'],
  connect: ['https://esputnik.com', 'https://*.esputnik.com', 'https://reteno.com', 'https://*.reteno.com'],
  image: ['https://*.esputnik.com', 'https://*.reteno.com'],
} as const;

const additions = (origins: {
  script: readonly string[];
  connect: readonly string[];
  image: readonly string[];
}) => ({
  'script-src': origins.script,
  'connect-src': origins.connect,
  'img-src': origins.image,
});

/**
 * Adds what the embed needs to a helmet `contentSecurityPolicy.directives` object and returns the merged copy.
 * The embed's own inline script is allowed by its nonce (`res.locals.cspNonce`), so no 'unsafe-inline' is added.
 * Directives the site left out start from its `default-src` (or `'self'`), so nothing it allowed is lost.
 *
 * @example
 * app.use(helmet({
 *   contentSecurityPolicy: {
 *     directives: retenoInboxCsp({
 *       scriptSrc: ["'self'", (req, res) => `'nonce-${res.locals.cspNonce}'`],
 *     }),
 *   },
 * }));
 */
export function retenoInboxCsp(
  directives: CspDirectives = {},
  options: RetenoInboxCspOptions = {},
): HelmetCspDirectives {
  let origins: { script: readonly string[]; connect: readonly string[]; image: readonly string[] } =
    retenoHosts;
  if (options.emulatorUrl !== undefined) {
    const origin = originOf(options.emulatorUrl);
    origins = { script: [origin], connect: [origin], image: [origin] };
  }
  // Typed by what it accepts (so that a nonce source's `(req, res)` gets Express's types without annotations) and
  // returned as helmet declares it: under Express, helmet's req and res are Express's.
  const given = directives as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...given };
  const fallback = [...sourcesOf(given, 'default-src', ["'self'"])];
  for (const [name, sources] of Object.entries(additions(origins))) {
    const key = keyOf(given, name);
    const existing = [...sourcesOf(given, name, fallback)];
    merged[key] = [...existing, ...sources.filter((source) => !existing.includes(source))];
  }
  return merged as HelmetCspDirectives;
}

function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** The key the site used for a directive (helmet takes both 'script-src' and 'scriptSrc'); camelCase if absent. */
function keyOf(directives: Record<string, unknown>, name: string): string {
  return name in directives ? name : camelCase(name);
}

function sourcesOf(
  directives: Record<string, unknown>,
  name: string,
  fallback: CspSource[],
): Iterable<CspSource> {
  const value = directives[keyOf(directives, name)];
  return value !== null && typeof value === 'object' && Symbol.iterator in value
    ? (value as Iterable<CspSource>)
    : fallback;
}

function originOf(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return parsed.origin;
  } catch {
    // reported below
  }
  throw new RetenoInboxError(
    errorCodes.invalidOption,
    "retenoInboxCsp received an invalid `emulatorUrl`. Pass the emulator's http(s) URL, e.g. emulator.url.",
    'emulatorUrl',
  );
}
