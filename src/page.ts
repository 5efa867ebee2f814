import type { NextFunction, Request, Response } from 'express';
import { checkContact } from './contact.js';
import { createEmbedRenderer } from './embed.js';
import { errorCodes } from './errors.js';
import { normaliseNonce } from './html-safe.js';
import { createLanguagePicker } from './language.js';
import type { SafeLogger } from './log.js';
import { createSessionWatch, mayCarrySessionCookie } from './session-watch.js';
import type { Config } from './types.js';

/** What a page gets, decided once per request: the inbox, Reteno's tracking alone, or nothing. */
type PageMode = { kind: 'inbox'; contactId: string } | { kind: 'tracking' } | { kind: 'none' };

type PageSettings = Pick<
  Config,
  | 'apiKey'
  | 'resolveContact'
  | 'scriptUrl'
  | 'flags'
  | 'tokenPath'
  | 'embedAnonymous'
  | 'nonce'
  | 'csrfToken'
  | 'csrfHeader'
  | 'language'
  | 'languages'
  | 'defaultLanguage'
>;

/**
 * The page side of the middleware: resolves the visitor once, keeps the visitor cookie in step with them (the only
 * header it sets, see session-watch.ts), and decides the page's mode. For the inbox and tracking modes it sets
 * `res.locals.retenoInbox()`, which renders the embed once per response and sets no header.
 */
export function createPageMiddleware(settings: PageSettings, clientPath: string, log: SafeLogger) {
  const renderEmbed = createEmbedRenderer({ ...settings, clientPath });
  const sessionWatch = createSessionWatch(settings.apiKey);
  const pickLanguage = createLanguagePicker(settings);

  const modeOf = (value: unknown): PageMode => {
    const check = checkContact(value);
    if (check.kind === 'invalid') {
      log.warnAtMostEvery(
        'invalid-contact',
        10_000,
        errorCodes.invalidContact,
        `No inbox for this page: ${check.reason} (logged at most every 10 s).`,
      );
    }
    if (check.kind === 'valid') {
      return { kind: 'inbox', contactId: sessionWatch.contactIdOf(check.contact) };
    }
    return settings.embedAnonymous ? { kind: 'tracking' } : { kind: 'none' };
  };

  const inboxHelper = (req: Request, res: Response, contactId: string) => {
    // Captured now: a router mounted later changes req.baseUrl by the time the template renders.
    const mountPath = req.baseUrl;
    if (leavesTheOrigin(mountPath)) {
      log.configurationError(
        'tokenUrl',
        errorCodes.invalidTokenUrl,
        "The token route's URL on this page would lead the browser to another origin (a mount path starting with '//' or holding '\\'), so the page has no embed. Mount retenoInbox() on a plain path.",
      );
      return undefined;
    }
    return () => {
      const csrfToken = csrfTokenFor(settings, log, req, res);
      return renderEmbed.inbox({
        nonce: nonceFor(settings, log, req, res),
        mountPath,
        contact: contactId,
        language: languageFor(settings, log, pickLanguage, req, res),
        csrf: csrfToken === undefined ? undefined : { header: settings.csrfHeader, token: csrfToken },
      });
    };
  };

  const preparePage = (req: Request, res: Response, next: NextFunction, value: unknown): void => {
    const mode = modeOf(value);
    sessionWatch.keepInStep(req, res, mode.kind === 'inbox' ? mode.contactId : '');
    const render =
      mode.kind === 'inbox'
        ? inboxHelper(req, res, mode.contactId)
        : mode.kind === 'tracking'
          ? () => renderEmbed.tracking(nonceFor(settings, log, req, res))
          : undefined;
    if (render !== undefined) res.locals.retenoInbox = once(render);
    next();
  };

  return function retenoInboxPage(req: Request, res: Response, next: NextFunction): void {
    let resolved: ReturnType<Config['resolveContact']>;
    try {
      resolved = settings.resolveContact(req);
    } catch (error) {
      next(error);
      return;
    }
    // Most anonymous requests: nothing to render and no cookie to clear.
    if (
      (resolved === null || resolved === undefined) &&
      !settings.embedAnonymous &&
      !mayCarrySessionCookie(req)
    ) {
      next();
      return;
    }
    // A synchronous answer is handled at once: no extra tick for the common case of a session lookup.
    if (isPromiseLike(resolved)) {
      // A throwing logger must not become an unhandled rejection.
      resolved.then((value) => preparePage(req, res, next, value), next).then(undefined, next);
    } else {
      preparePage(req, res, next, resolved);
    }
  };
}

/** The helper: the embed the first time a response calls it, '' after (a layout and a partial both calling it). */
function once(render: () => string): () => string {
  let rendered = false;
  return function retenoInbox() {
    if (rendered) return '';
    rendered = true;
    return render();
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** A path a browser would resolve to another origin: '//host…' and, after turning '\\' into '/', '/\\host…'. */
function leavesTheOrigin(path: string): boolean {
  return path.startsWith('//') || path.includes('\\');
}

function nonceFor(
  settings: Pick<Config, 'nonce'>,
  log: SafeLogger,
  req: Request,
  res: Response,
): string | undefined {
  let value: unknown;
  try {
    value = settings.nonce === undefined ? res.locals.cspNonce : settings.nonce(req, res);
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

function csrfTokenFor(
  settings: Pick<Config, 'csrfToken'>,
  log: SafeLogger,
  req: Request,
  res: Response,
): string | undefined {
  if (settings.csrfToken === undefined) return undefined;
  let value: unknown;
  try {
    value = settings.csrfToken(req, res);
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
  settings: Pick<Config, 'defaultLanguage'>,
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
      `The language option threw; '${settings.defaultLanguage}' was used.`,
    );
    return settings.defaultLanguage;
  }
}
