import { fileURLToPath } from 'node:url';
import express, { type Express, type Request, type RequestHandler } from 'express';
import session from 'express-session';
import {
  type PageConfig,
  pageConfigAttribute,
  parsePageConfig,
  tokenRequestHeaders,
} from '../../src/client/page-config.js';
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

/** The first inline script of a page (the embed's loader), or undefined. */
export function embedScript(html: string): string | undefined {
  return /<script[^>]*>([\s\S]*?)<\/script>/.exec(html)?.[1];
}

/** A signed-in page's embed as a browser reads it: Reteno's loader, then the client's tag with the page's values. */
export interface InboxEmbed {
  /** The loader's inline script. */
  loader: string;
  /** The nonce of each of the two tags (`undefined` where it has none). */
  nonces: (string | undefined)[];
  /** The client script's URL, as the `src` attribute gives it. */
  clientUrl: string;
  /** The values the page hands the client, parsed as the client parses them. */
  config: PageConfig;
  /** The client tag's other attributes (`defer`), by name. */
  attributes: Record<string, string>;
}

const characterReference = /&#(\d+);|&(quot|apos|amp|lt|gt);/g;
const namedReferences: Record<string, string> = { quot: '"', apos: "'", amp: '&', lt: '<', gt: '>' };

/** The attributes of an opening tag's text, values with their character references decoded. */
function attributesOf(text: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [, name = '', doubled, single, bare] of text.matchAll(
    /([^\s=>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g,
  )) {
    const value = doubled ?? single ?? bare ?? '';
    attributes[name.toLowerCase()] = value.replace(characterReference, (_, code: string, named: string) =>
      code === undefined ? (namedReferences[named] ?? '') : String.fromCharCode(Number(code)),
    );
  }
  return attributes;
}

/** The page's inbox embed, or undefined when it has none (or its values do not parse). */
export function readInboxEmbed(html: string): InboxEmbed | undefined {
  const match = /<script\b([^>]*)>([\s\S]*?)<\/script>\s*<script\b([^>]*)><\/script>/.exec(html);
  if (!match) return undefined;
  const [, loaderTag = '', loader = '', clientTag = ''] = match;
  const { nonce, src, [pageConfigAttribute]: values, ...attributes } = attributesOf(clientTag);
  const config = parsePageConfig(values);
  if (src === undefined || config === undefined) return undefined;
  return { loader, nonces: [attributesOf(loaderTag).nonce, nonce], clientUrl: src, config, attributes };
}

/** The headers of the page's token calls, names in lower case, or undefined when the page has no inbox. */
export function tokenCallHeaders(html: string): Record<string, string> | undefined {
  const embed = readInboxEmbed(html);
  return embed && tokenRequestHeaders(embed.config);
}

/** Every `<script ...>` opening tag in a page. */
export function scriptTags(html: string): string[] {
  return html.match(/<script\b[^>]*>/g) ?? [];
}
