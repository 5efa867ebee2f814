import type { Request, RequestHandler, Response } from 'express';
import type { Contact } from './contact-type.js';

export type { Contact };

/** What `resolveContact` may return: a contact for a signed-in visitor, nothing for anyone else. */
export type ContactResult = Contact | null | undefined;

/** A console-like sink. Messages never contain the API key. */
export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

/** Switches merged into the one `eS('init', …)` call, next to `APP_INBOX: true`. */
export interface RetenoFlags {
  /** Reteno's recommendations. Reteno's script turns them on when left out. */
  RECOMS?: boolean;
  /** Reteno's web tracking. Reteno's script turns it on when left out. */
  TRACKING?: boolean;
}

/** The options of {@link retenoInbox}. */
export interface RetenoInboxOptions {
  /** The site's Reteno API key (Settings > API keys). Sent as the HTTP Basic password; never printed. */
  apiKey: string;

  /**
   * Who the visitor is, from the server side only (the session, your user store): never from what the
   * browser sends. Return `null`/`undefined` for anonymous visitors. Called once per request.
   * Return only identifiers the visitor has verified (a confirmed e-mail or phone) or your own
   * `externalCustomerId`: the contact returned gets that contact's inbox.
   *
   * @example
   * resolveContact: (req) => req.session.user && { email: req.session.user.email }
   */
  resolveContact: (req: Request) => ContactResult | Promise<ContactResult>;

  /** The site's script id from Reteno's Settings > Web Tracking (a UUID). */
  scriptId: string;

  /**
   * Where Reteno's REST API lives; the token is asked from `{baseUrl}/v1/auth/contact/token`.
   * @default 'https://reteno.com'
   * @example 'http://127.0.0.1:4010' // the emulator
   */
  baseUrl?: string;

  /**
   * Where Reteno's script lives; the page loads `{scriptBaseUrl}{scriptId}.js`.
   * @default 'https://statics.esputnik.com/scripts/'
   */
  scriptBaseUrl?: string;

  /**
   * Path of the token route, relative to where the middleware is mounted.
   * @default '/reteno/app-inbox/token'
   */
  tokenPath?: string;

  /**
   * ISO 639-1 codes the inbox may be shown in. `Accept-Language` is negotiated against them.
   * @default every ISO 639-1 code
   * @example ['en', 'uk', 'de']
   */
  languages?: readonly string[];

  /**
   * The language when nothing better is known, or what is known is invalid. Must be in `languages`.
   * @default 'en'
   */
  defaultLanguage?: string;

  /**
   * Picks the page language yourself; wins over i18n middleware and `Accept-Language`.
   * The answer is normalised ('uk-UA' → 'uk'); invalid answers fall back to `defaultLanguage`.
   */
  language?: (req: Request, res: Response) => string | null | undefined;

  /**
   * Merged into the init call: `{ APP_INBOX: true, ...flags }`.
   * @default {}
   * @example { TRACKING: true, RECOMS: false }
   */
  flags?: RetenoFlags;

  /**
   * Also give anonymous visitors the helper: it renders the loader and a tracking-only inline
   * `eS('init', flags)` without App Inbox, so a site that runs Reteno's web tracking replaces its own
   * snippet with the helper and every page has exactly one loader and one init.
   * @default false
   */
  embedAnonymous?: boolean;

  /**
   * The most the token route waits for Reteno, in milliseconds, retries included. Past it: 504.
   * @default 5000
   */
  timeout?: number;

  /**
   * How often a failed token request (network error, 5xx, non-JSON answer, 429) is tried again.
   * @default 2
   */
  retries?: number;

  /**
   * The CSP nonce for the embed's two `<script>` tags (Reteno's loader and the package's client): a string, or a
   * function of the request.
   * A value that is not base64-like is refused (no nonce is printed) and logged.
   * @default (req, res) => res.locals.cspNonce
   */
  nonce?: string | ((req: Request, res: Response) => string | null | undefined);

  /**
   * The page's CSRF token, for a site whose global CSRF middleware (csurf, csrf-csrf, lusca) also guards the
   * token route because `retenoInbox` is mounted after it and does not skip it (`retenoInboxTokenCall()`, the better
   * choice). The page's client sends the value with every token call in the `csrfHeader` header. Called when the
   * page's helper renders. A value that is not visible ASCII is not printed (logged once as
   * `ERR_RETENO_INBOX_INVALID_CSRF_TOKEN`).
   * @default none: mounted before the CSRF middleware, or skipped by it, the route protects itself
   * @example (req) => req.csrfToken() // csurf; csrf-csrf: the token your forms got, (req, res) => res.locals.csrfToken
   */
  csrfToken?: (req: Request, res: Response) => string;

  /**
   * The header that carries `csrfToken`.
   * @default 'x-csrf-token' (read by csurf, csrf-csrf and lusca)
   */
  csrfHeader?: string;

  /**
   * Further origins whose pages may call the token route, for sites served on several domains.
   * The request's own origin (honouring Express's `trust proxy`) is always allowed.
   * @default []
   * @example ['https://shop.example.com', 'https://example.co.uk']
   */
  allowedOrigins?: readonly string[];

  /**
   * How many tokens one contact may ask for in a window that starts with its first request. Over it, the token
   * route answers 429 `{"error":"too_many_requests"}` with `Retry-After` and does not call Reteno. Counted per
   * contact from `resolveContact`, in memory or, with `redis`, across every instance. `false` turns it off.
   * @default { limit: 60, windowMs: 60000 }
   * @example { limit: 20, windowMs: 60_000 }
   */
  tokenBudget?: TokenBudget | false;

  /**
   * The most token requests to Reteno in flight at once, per instance. The rest wait in line.
   * @default 32
   */
  maxInFlight?: number;

  /**
   * The most token requests waiting for a free place, per instance. When the line is full the route answers 503
   * `{"error":"upstream_busy"}` with `Retry-After` at once; a request still waiting at `timeout` gets 504.
   * @default 256
   */
  maxQueued?: number;

  /**
   * The most calls to Reteno per second for the whole site: token and contact calls together, every instance together
   * with `redis`. Reteno allows an account about 200 a second for everything the site does with its key. Over it,
   * calls wait in line (the least-used contacts first) until their `timeout`.
   * @default 50
   */
  maxPerSecond?: number;

  /**
   * A connected Redis client (node-redis v4 or later, or ioredis) that the token budgets, `maxPerSecond` and the
   * back-off after a Reteno 429 are kept in, so that every instance of the site shares them. When Redis is unreachable,
   * or does not answer within 250 ms, each instance counts on its own for 5 s, then asks Redis again.
   * @default none: kept in the instance's memory
   * @example redis: createClient({ url: process.env.REDIS_URL }) // after `await client.connect()`
   */
  redis?: object;

  /**
   * What the keys of `redis` start with. Sites with different API keys never share counts, nor do their keys name a
   * contact: each contact's key is an HMAC keyed with a secret derived from the API key.
   * @default 'reteno-inbox:' and 12 characters of a keyed hash of the API key
   * @example 'shop-eu:reteno-inbox'
   */
  redisPrefix?: string;

  /**
   * Creates the contact in Reteno when Reteno does not know it (a new sign-up), then asks for its token again, all
   * within `timeout`: `true`, or a function giving the contact's details (names, language) for Reteno. At most once
   * a minute per contact and instance; creations count against `maxInFlight` and the back-off like token calls.
   * Contacts with neither `email` nor `phone` cannot be created (Reteno needs a channel).
   * @default false: an unknown contact gets 404 `contact_not_found`
   * @example createContact: (req, contact) => ({ firstName: req.user.firstName, languageCode: req.user.locale })
   */
  createContact?:
    | boolean
    | ((
        req: Request,
        contact: Contact,
      ) => ContactDetails | null | undefined | Promise<ContactDetails | null | undefined>);

  /**
   * Reteno's contact API, for `createContact`.
   * @default 'https://api.reteno.com/api/v1/contact'
   * @example 'http://127.0.0.1:4010/api/v1/contact' // the emulator
   */
  contactUrl?: string;

  /**
   * Allows `baseUrl` and `scriptBaseUrl` with `http:` for a host that is not loopback. The API key would then
   * cross the network in clear text: only for a trusted network, e.g. a staging emulator.
   * @default false: `http:` only for localhost, 127.0.0.0/8 and [::1]
   */
  allowHttp?: boolean;

  /**
   * Where warnings and errors go.
   * @default quiet, except configuration errors (Reteno refusing the API key, a refused nonce) on `console.error`
   */
  logger?: Logger;
}

/** What `createContact` may tell Reteno about a new contact besides its e-mail, phone and externalCustomerId. */
export interface ContactDetails {
  firstName?: string;
  lastName?: string;
  /** RFC 5646, e.g. 'uk' or 'es-AR'. */
  languageCode?: string;
  /** e.g. 'Europe/Kyiv'. */
  timeZone?: string;
}

/** A token budget: at most `limit` token requests per contact in `windowMs`. */
export interface TokenBudget {
  /** Token requests per window; a whole number from 1. */
  limit: number;
  /** The window in milliseconds, whole seconds (the Redis store counts in seconds). */
  windowMs: number;
}

/** The options of the shorthand `retenoInbox(apiKey, resolveContact, options)`. */
export type RetenoInboxShorthandOptions = Omit<RetenoInboxOptions, 'apiKey' | 'resolveContact'>;

/** The middleware returned by {@link retenoInbox}: mount it with one `app.use` after the session middleware. */
export type RetenoInboxMiddleware = RequestHandler;

/** Options after parsing: complete, validated, with defaults applied. */
export interface Config {
  apiKey: string;
  resolveContact: RetenoInboxOptions['resolveContact'];
  scriptUrl: string;
  tokenEndpoint: string;
  contactEndpoint: string;
  tokenPath: string;
  languages: ReadonlySet<string>;
  defaultLanguage: string;
  language: RetenoInboxOptions['language'] | undefined;
  flags: RetenoFlags;
  embedAnonymous: boolean;
  timeout: number;
  retries: number;
  /** The nonce option's function; `undefined` for the default, `res.locals.cspNonce`. */
  nonce: ((req: Request, res: Response) => unknown) | undefined;
  allowedOrigins: ReadonlySet<string>;
  csrfToken: RetenoInboxOptions['csrfToken'] | undefined;
  /** Lowercase. */
  csrfHeader: string;
  tokenBudget: TokenBudget | false;
  maxInFlight: number;
  maxQueued: number;
  maxPerSecond: number;
  redis: object | undefined;
  /** `undefined` for the default, derived from the API key. */
  redisPrefix: string | undefined;
  /** `false`, or the function giving a new contact's details (`true` becomes one that gives none). */
  createContact:
    | false
    | ((
        req: Request,
        contact: Contact,
      ) => ContactDetails | null | undefined | Promise<ContactDetails | null | undefined>);
  logger: Logger;
}

declare global {
  namespace Express {
    interface Locals {
      /**
       * Renders Reteno's loader and the tag of the package's client, which makes the page's one init call;
       * '' when called again in the same response. Set only for visitors `resolveContact` found (and, with
       * `embedAnonymous`, for anonymous ones: the loader and a tracking-only init). Sets no header. Guard with
       * `locals.retenoInbox`.
       */
      retenoInbox?: () => string;
    }
  }
}
