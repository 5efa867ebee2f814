import type { NextFunction, Request, Response } from 'express';
import { checkContact, isPlainEmailContact } from './contact.js';
import { createEmbedRenderer } from './embed.js';
import { errorCodes } from './errors.js';
import { normaliseNonce } from './html-safe.js';
import { pickLanguage } from './language.js';
import { createSafeLogger, type SafeLogger } from './log.js';
import { parseOptions } from './options.js';
import { createRetenoClient } from './reteno-client.js';
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
 * Mount it after the session middleware and before any global CSRF middleware (the route protects itself).
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
  const tokenRoute = createTokenRoute(config, createRetenoClient(config), log);
  const tokenPaths = new Set([config.tokenPath, `${config.tokenPath}/`]);

  const embedFor = (req: Request, res: Response, withInbox: boolean): (() => string) => {
    // Captured now: a router mounted later changes req.baseUrl by the time the template renders.
    // Unmounted (the usual case), it is the configured string itself, so the renderer's cache compares it by identity.
    const tokenUrl = withInbox
      ? req.baseUrl
        ? `${req.baseUrl}${config.tokenPath}`
        : config.tokenPath
      : undefined;
    let rendered = false;
    return function retenoInbox() {
      if (rendered) return '';
      rendered = true;
      // Read once for the nonce and the locale: every request's res has a hidden class of its own, so each read of
      // one of its properties goes to V8's runtime (docs/PERFORMANCE.md).
      const locals = res.locals;
      return renderEmbed({
        nonce: nonceFor(config, log, req, res, locals),
        tokenUrl,
        language: languageFor(config, log, req, res, locals),
      });
    };
  };

  const attachEmbed = (req: Request, res: Response, next: NextFunction, contact: unknown): void => {
    // The usual contact is settled without the general check (see isPlainEmailContact).
    const check = isPlainEmailContact(contact) ? undefined : checkContact(contact);
    if (check === undefined || check.kind === 'valid') {
      res.locals.retenoInbox = embedFor(req, res, true);
    } else {
      if (check.kind === 'invalid') {
        log.warn(errorCodes.invalidContact, `No inbox for this page: ${check.reason}.`);
      }
      if (config.embedAnonymous) res.locals.retenoInbox = embedFor(req, res, false);
    }
    next();
  };

  return function retenoInboxMiddleware(req: Request, res: Response, next: NextFunction): void {
    // Most URLs do not start with tokenPath: they skip Express's req.path getter. An absolute-form target
    // ('http://host/path') still goes through it.
    const url = req.url;
    if ((url[0] !== '/' || url.startsWith(config.tokenPath)) && tokenPaths.has(req.path)) {
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
    // Anonymous pages should cost next to nothing.
    if ((resolved === null || resolved === undefined) && !config.embedAnonymous) {
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

function nonceFor(
  config: Config,
  log: SafeLogger,
  req: Request,
  res: Response,
  locals: Record<string, unknown>,
): string | undefined {
  let value: unknown;
  try {
    value = config.nonce === undefined ? locals.cspNonce : config.nonce(req, res);
  } catch {
    log.warn(errorCodes.callbackFailed, 'The nonce option threw; the embed was rendered without a nonce.');
    return undefined;
  }
  if (value === undefined || value === null || value === '') return undefined;
  const nonce = normaliseNonce(value);
  if (nonce === undefined) {
    log.error(
      errorCodes.invalidNonce,
      'The CSP nonce is not base64-like, so it was not printed. Fix the nonce source.',
    );
  }
  return nonce;
}

function languageFor(
  config: Config,
  log: SafeLogger,
  req: Request,
  res: Response,
  locals: Record<string, unknown>,
): string {
  try {
    return pickLanguage(config, req, res, locals);
  } catch {
    log.warn(errorCodes.callbackFailed, `The language option threw; '${config.defaultLanguage}' was used.`);
    return config.defaultLanguage;
  }
}
