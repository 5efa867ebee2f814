import type { NextFunction, Request, Response } from 'express';
import { createClientScript } from './client-script.js';
import { createContactCreation } from './contact-creation.js';
import { createSafeLogger } from './log.js';
import { parseOptions } from './options.js';
import { createPageMiddleware } from './page.js';
import { createRetenoClient } from './reteno-client.js';
import { createTokenGuard } from './token-guard.js';
import { createTokenPathMatch } from './token-path.js';
import { createTokenRoute } from './token-route.js';
import type { RetenoInboxMiddleware, RetenoInboxOptions, RetenoInboxShorthandOptions } from './types.js';

/**
 * Reteno's App Inbox for an Express site. Three named middlewares behind one `app.use` line, each made from its
 * part of the options: the token route (`POST tokenPath`), the client script that signed-in pages load
 * (`GET tokenPath/client.<version>.js`), and the page middleware, which for visitors `resolveContact` finds sets
 * `res.locals.retenoInbox()` (Reteno's loader and the client's tag) and keeps the visitor cookie in step, by which
 * open tabs see a sign-out. Mount it after the session middleware (and Passport); after a global CSRF middleware,
 * pass `csrfToken`.
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
  const client = createRetenoClient(config);
  const guard = createTokenGuard(config);
  const tokenForNewContact = createContactCreation(config, client, guard, log);
  const tokenRoute = createTokenRoute(config, client, guard, tokenForNewContact, log);
  const isTokenPath = createTokenPathMatch(config.tokenPath);
  const clientScript = createClientScript(config.tokenPath);
  const page = createPageMiddleware(config, clientScript.path, log);
  const { tokenPath } = config;

  return function retenoInboxMiddleware(req: Request, res: Response, next: NextFunction): void {
    // Most requests are pages: their URL is outside tokenPath, under which the token route and the client script
    // live. req.path parses the URL, so it is read only for the others (an absolute-form target such as
    // 'http://host/path' does not start with '/').
    const url = req.url;
    if (url[0] === '/' && !url.startsWith(tokenPath)) {
      page(req, res, next);
    } else if (isTokenPath(req)) {
      tokenRoute(req, res, next);
    } else if (clientScript.serves(req.path)) {
      clientScript.middleware(req, res);
    } else {
      page(req, res, next);
    }
  };
}
