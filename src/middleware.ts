import type { NextFunction, Request, Response } from 'express';
import { checkContact, type ValidContact } from './contact.js';
import { createContactCreation } from './contact-creation.js';
import { createEmbedRenderer } from './embed.js';
import { errorCodes } from './errors.js';
import { normaliseNonce } from './html-safe.js';
import { createLanguagePicker } from './language.js';
import { createSafeLogger, type SafeLogger } from './log.js';
import { parseOptions } from './options.js';
import { createRetenoClient } from './reteno-client.js';
import { createSessionWatch, mayCarrySessionCookie } from './session-watch.js';
import { createTokenGuard } from './token-guard.js';
import { createTokenPathMatch } from './token-path.js';
import { createTokenRoute } from './token-route.js';
import type {
  Config,
  RetenoInboxMiddleware,
  RetenoInboxOptions,
  RetenoInboxShorthandOptions,
} from './types.js';

/**
 * Reteno's App Inbox for an Express site. Mounts the token route (`POST tokenPath`) and, for visitors
 * `resolveContact` finds, sets `res.locals.retenoInbox()`, which renders Reteno's loader and the one init call.
 * The first page after the visitor signed out or changed tells the site's other tabs (see src/session-watch.ts).
 * Mount it after the session middleware (and Passport); after a global CSRF middleware, pass `csrfToken`.
 *
 * @example
 * app.use(retenoInbox({
 *   apiKey: process.env.RETENO_API_KEY,
 *   scriptId: process.env.RETENO_SCRIPT_ID,
 *   resolveContact: (req) => req.session.user && { email: req.session.user.email },
 * }));
 * // in a layout: <%- locals.retenoInbox ? retenoInbox() : '' %>
 */
export function retenoInbox(options: RetenoInboxOptions): RetenoInboxMiddleware;
/** The shorthand: `retenoInbox(apiKey, resolveContact, { scriptId, ... })`. */
export function retenoInbox(
  apiKey: string,
  resolveContact: RetenoInboxOptions['resolveContact'],
  options: RetenoInboxShorthandOptions,
): RetenoInboxMiddleware;
export function retenoInbox(
  optionsOrApiKey: RetenoInboxOptions | string,
  resolveContact?: RetenoInboxOptions['resolveContact'],
  options?: RetenoInboxShorthandOptions,
): RetenoInboxMiddleware {
  // The shorthand is recognised by its shape, so `retenoInbox(process.env.UNSET, fn, …)` reports a missing apiKey.
  const shorthand =
    typeof optionsOrApiKey === 'string' || resolveContact !== undefined || options !== undefined;
  const config = parseOptions(
    shorthand ? { ...options, apiKey: optionsOrApiKey, resolveContact } : optionsOrApiKey,
  );
  const log = createSafeLogger(config.logger, config.apiKey);
  const renderEmbed = createEmbedRenderer(config);
  const sessionWatch = createSessionWatch(config.apiKey);
  const pickLanguage = createLanguagePicker(config);
  const client = createRetenoClient(config);
  const guard = createTokenGuard(config);
  const tokenForNewContact = createContactCreation(config, client, guard, log);
  const tokenRoute = createTokenRoute(config, client, guard, tokenForNewContact, log);
  const isTokenPath = createTokenPathMatch(config.tokenPath);

  const embedFor = (
    req: Request,
    res: Response,
    contact: ValidContact | undefined,
  ): (() => string) | undefined => {
    // Captured now: a router mounted later changes req.baseUrl by the time the template renders.
    const tokenUrl = contact === undefined ? undefined : `${req.baseUrl}${config.tokenPath}`;
    if (tokenUrl !== undefined && leavesTheOrigin(tokenUrl)) {
      log.configurationError(
        'tokenUrl',
        errorCodes.invalidTokenUrl,
        "The token route's URL on this page would lead the browser to another origin (a mount path starting with '//' or holding '\\'), so the page has no embed. Mount retenoInbox() on a plain path.",
      );
      return undefined;
    }
    let rendered = false;
    return function retenoInbox() {
      if (rendered) return '';
      rendered = true;
      // Only a page that renders the helper moves the cookie on, so the page that announces a change is one a tab
      // shows, not an XHR or an asset.
      const session = sessionWatch.update(req, res, contact);
      const signedOutNotice = tokenUrl === undefined && session.announce;
      if (tokenUrl === undefined && !config.embedAnonymous && !signedOutNotice) return '';
      const nonce = nonceFor(config, log, req, res);
      const embed =
        tokenUrl !== undefined || config.embedAnonymous
          ? renderEmbed({
              nonce,
              tokenUrl,
              csrfToken: tokenUrl === undefined ? undefined : csrfTokenFor(config, log, req, res),
              language: languageFor(config, log, pickLanguage, req, res),
              session,
            })
          : '';
      return signedOutNotice ? embed + sessionWatch.renderSignedOut(nonce) : embed;
    };
  };

  const attachEmbed = (req: Request, res: Response, next: NextFunction, contact: unknown): void => {
    const check = checkContact(contact);
    if (check.kind === 'invalid') {
      log.warnAtMostEvery(
        'invalid-contact',
        10_000,
        errorCodes.invalidContact,
        `No inbox for this page: ${check.reason} (logged at most every 10 s).`,
      );
    }
    const helper =
      check.kind === 'valid'
        ? embedFor(req, res, check.contact)
        : config.embedAnonymous || mayCarrySessionCookie(req)
          ? embedFor(req, res, undefined)
          : undefined;
    if (helper !== undefined) res.locals.retenoInbox = helper;
    next();
  };

  return function retenoInboxMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (isTokenPath(req)) {
      tokenRoute(req, res, next);
      return;
    }
    let resolved: ReturnType<Config['resolveContact']>;
    try {
      resolved = config.resolveContact(req);
    } catch (error) {
      next(error);
      return;
    }
    if (
      (resolved === null || resolved === undefined) &&
      !config.embedAnonymous &&
      !mayCarrySessionCookie(req)
    ) {
      next();
      return;
    }
    // A synchronous answer is handled at once: no extra tick for the common case of a session lookup.
    if (isPromiseLike(resolved)) {
      // A throwing logger must not become an unhandled rejection.
      resolved.then((value) => attachEmbed(req, res, next, value), next).then(undefined, next);
    } else {
      attachEmbed(req, res, next, resolved);
    }
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** A path a browser would resolve to another origin: '//host…' and, after turning '\\' into '/', '/\\host…'. */
function leavesTheOrigin(path: string): boolean {
  return path.startsWith('//') || path.includes('\\');
}

function nonceFor(config: Config, log: SafeLogger, req: Request, res: Response): string | undefined {
  let value: unknown;
  try {
    value = config.nonce === undefined ? res.locals.cspNonce : config.nonce(req, res);
  } catch {
    log.configurationError(
      'nonce-threw',
      errorCodes.callbackFailed,
      'The nonce option threw; the embed was rendered without a nonce.',
    );
    return undefined;
  }
  if (value === undefined || value === null || value === '') return undefined;
  const nonce = normaliseNonce(value);
  if (nonce === undefined) {
    log.configurationError(
      'nonce',
      errorCodes.invalidNonce,
      'The CSP nonce is not base64-like, so it was not printed. Fix the nonce source.',
    );
  }
  return nonce;
}

// Visible ASCII: what csurf, csrf-csrf and lusca issue, and nothing that could break out of a header value.
const csrfTokenPattern = /^[\x21-\x7e]{1,1024}$/;

function csrfTokenFor(config: Config, log: SafeLogger, req: Request, res: Response): string | undefined {
  if (config.csrfToken === undefined) return undefined;
  let value: unknown;
  try {
    value = config.csrfToken(req, res);
  } catch {
    value = undefined;
  }
  if (typeof value === 'string' && csrfTokenPattern.test(value)) return value;
  log.configurationError(
    'csrfToken',
    errorCodes.invalidCsrfToken,
    'The csrfToken option threw or gave something that is not a string of visible ASCII characters, so the embed sends no CSRF token. Fix the csrfToken option.',
  );
  return undefined;
}

function languageFor(
  config: Config,
  log: SafeLogger,
  pickLanguage: (req: Request, res: Response) => string,
  req: Request,
  res: Response,
): string {
  try {
    return pickLanguage(req, res);
  } catch {
    log.configurationError(
      'language',
      errorCodes.callbackFailed,
      `The language option threw; '${config.defaultLanguage}' was used.`,
    );
    return config.defaultLanguage;
  }
}
