import { fileURLToPath } from 'node:url';
import express, { type Express, type Request, type RequestHandler } from 'express';
import session from 'express-session';
import { type Contact, type Logger, type RetenoInboxOptions, retenoInbox } from '../../src/index.js';

export const apiKey = 'test-api-key-7d0c2b1e9a';
export const scriptId = '0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b';
export const tokenPath = '/reteno/app-inbox/token';

/** Demo users a test can sign in as; `raw` lets a test store any contact value in the session. */
export const users: Record<string, Contact> = {
  anna: { email: 'anna@example.com' },
  bob: { phone: '+380501234567' },
  carol: { externalCustomerId: 'carol-42' },
  dave: { email: 'dave@example.com', phone: '+4915112345678', externalCustomerId: 'dave-7' },
  stranger: { email: 'stranger@example.com' },
};

declare module 'express-session' {
  interface SessionData {
    contact?: unknown;
  }
}

export interface SiteOptions {
  /** Where the middleware is mounted: a path, or a regular expression as a wildcard mount would be. */
  mountPath?: string | RegExp;
  /** Runs before the middleware, e.g. an i18n middleware. */
  before?: RequestHandler[];
  /** Configures the app before anything is mounted, e.g. `trust proxy`. */
  configure?: (app: Express) => void;
  /** The express-session store (default: MemoryStore). */
  sessionStore?: session.Store;
  /** Replaces the session-based resolveContact. */
  resolveContact?: RetenoInboxOptions['resolveContact'];
}

/** Messages the middleware logged, by level. */
export interface LogRecorder extends Logger {
  warnings: string[];
  errors: string[];
}

export function recordLogs(): LogRecorder {
  const warnings: string[] = [];
  const errors: string[] = [];
  return {
    warnings,
    errors,
    warn: (message) => warnings.push(message),
    error: (message) => errors.push(message),
  };
}

/**
 * An Express/EJS site as sites use the package: express-session, sign-in routes, one `app.use` line and one
 * template line. `options` go to retenoInbox (`baseUrl` usually points at the emulator).
 */
export function buildSite(options: Partial<RetenoInboxOptions> = {}, site: SiteOptions = {}) {
  const app = express();
  const resolveCalls: Request[] = [];
  site.configure?.(app);
  app.set('view engine', 'ejs');
  app.set('views', fileURLToPath(new URL('../fixtures/views', import.meta.url)));
  app.use(express.json());
  app.use(express.urlencoded({ extended: false }));
  app.use(
    session({
      secret: 'test-session-secret',
      resave: false,
      saveUninitialized: false,
      ...(site.sessionStore ? { store: site.sessionStore } : {}),
    }),
  );
  app.post('/sign-in', (req, res) => {
    const body = req.body as { user?: string; contact?: unknown };
    req.session.contact = body.user !== undefined ? users[body.user] : body.contact;
    res.sendStatus(204);
  });
  app.post('/sign-out', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.sendStatus(204)));
  });
  for (const handler of site.before ?? []) app.use(handler);

  const middleware = retenoInbox({
    apiKey,
    scriptId,
    resolveContact: (req) => {
      resolveCalls.push(req);
      if (site.resolveContact) return site.resolveContact(req);
      return req.session.contact as Contact | undefined;
    },
    ...options,
  });
  const router = express.Router();
  router.get('/page', (req, res) => {
    res.render('page', { title: 'Shop', twice: req.query.twice === '1' });
  });
  if (site.mountPath) {
    app.use(site.mountPath, middleware, router);
  } else {
    app.use(middleware);
    app.use(router);
  }
  return { app, resolveCalls };
}

/** The inline script of the embed, or undefined. */
export function embedScript(html: string): string | undefined {
  return /<script[^>]*>([\s\S]*?)<\/script>/.exec(html)?.[1];
}

/** Every `<script ...>` opening tag in a page. */
export function scriptTags(html: string): string[] {
  return html.match(/<script\b[^>]*>/g) ?? [];
}
