import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import csurf from 'csurf';
import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import session from 'express-session';
import lusca from 'lusca';
import { createRetenoEmulator, type RetenoEmulator } from '../../src/emulator/index.js';
import { retenoInbox } from '../../src/index.js';
import {
  createAuthenticator,
  csurfToken,
  resolveContact,
  siteUsers,
  viewsDir,
} from '../fixtures/passport-site/site.js';
import {
  consoleTexts,
  describeInChromium,
  navigateBy,
  serveOnLoopback,
  settledExchanges,
  urlsRelativeTo,
  useChromium,
  waitFor,
  waitForBellCount,
  widget,
} from '../helpers/browser.js';
import { loopbackDoubleCsrfOptions } from '../helpers/csrf.js';
import { isSameDocument, markDocument } from '../helpers/demo-scenario.js';

// Sites behind a global CSRF middleware, laid out as Passport's examples (csurf) and express-generator sites with
// hackathon-starter's lusca line are, with an error handler that renders every error as a page.

const apiKey = 'csrf-sites-api-key-6a2d';
const scriptId = '5c2e8b1a-3d4f-4a6b-9c8d-7e6f5a4b3c2d';
const pollIntervalMs = 300;
const testTimeoutMs = 40_000;
const tokenRoute = '/reteno/app-inbox/token';
const [anna] = siteUsers as [(typeof siteUsers)[0]];
const annaContact = { email: anna.email };
const bell = `#inbox-bell ${widget.bell}`;
/** How long the site takes to show the page after signing out. */
const slowSignOutMs = 4000;

type CsrfMiddleware = 'csurf' | 'csrf-csrf' | 'lusca';

/** csrf-csrf as the README's recipe sets it up, with its token bound to the session id. */
const doubleSubmit = doubleCsrf(loopbackDoubleCsrfOptions('csrf-sites-double-submit-secret'));

const csrfMiddlewares: Record<
  CsrfMiddleware,
  { protection: () => express.RequestHandler[]; token: (req: Request, res: Response) => string }
> = {
  csurf: { protection: () => [csurf()], token: csurfToken },
  'csrf-csrf': {
    protection: () => [cookieParser(), doubleSubmit.doubleCsrfProtection],
    token: (req, res) => {
      // Keeps the session the token is bound to (saveUninitialized: false), as the README says.
      (req.session as unknown as { csrf?: boolean }).csrf = true;
      return doubleSubmit.generateCsrfToken(req, res);
    },
  },
  lusca: { protection: () => [lusca.csrf()], token: (_req, res) => res.locals._csrf as string },
};

/**
 * The site: session, the CSRF middleware, Passport, then retenoInbox (with the page's CSRF token when
 * `passCsrfToken`). Signing out ends Anna's tokens in the emulator, as the demo does, and lands on a page that
 * takes `slowSignOutMs` and has no layout.
 */
function csrfSite(emulator: RetenoEmulator, csrf: CsrfMiddleware, passCsrfToken: boolean) {
  const middleware = csrfMiddlewares[csrf];
  const authenticator = createAuthenticator();
  const app = express();
  app.set('views', viewsDir);
  app.set('view engine', 'ejs');
  app.use(express.urlencoded({ extended: false }));
  app.use(session({ secret: 'csrf-sites-secret', resave: false, saveUninitialized: false }));
  app.use(...middleware.protection());
  app.use(authenticator.authenticate('session'));
  app.use((req, res, next) => {
    res.locals.csrfToken = middleware.token(req, res);
    next();
  });
  app.use(
    retenoInbox({
      apiKey,
      scriptId,
      baseUrl: emulator.url,
      scriptBaseUrl: `${emulator.url}/scripts/`,
      resolveContact,
      ...(passCsrfToken
        ? { csrfToken: (_req: Request, res: Response) => res.locals.csrfToken as string }
        : {}),
    }),
  );
  app.get('/', (req, res) => {
    res.render('index', { user: req.user });
  });
  app.get('/login', (_req, res) => {
    res.render('login');
  });
  app.post(
    '/login/password',
    authenticator.authenticate('local', { successRedirect: '/', failureRedirect: '/login' }),
  );
  app.post('/logout', (req, res, next) => {
    emulator.invalidateTokens(annaContact);
    req.logout((error) => (error ? next(error) : res.redirect('/signed-out')));
  });
  app.get('/signed-out', (_req, res) => {
    setTimeout(() => res.send('<!doctype html><title>Signed out</title><h1>Signed out</h1>'), slowSignOutMs);
  });
  // As express-generator writes it: lusca's refusal has no status, so it becomes a 500 page.
  const errorPage: ErrorRequestHandler = (error: { status?: number }, _req, res, _next) => {
    res.status(error.status ?? 500).send('<!doctype html><title>Error</title><h1>Something went wrong</h1>');
  };
  app.use(errorPage);
  return app;
}

describeInChromium('sites behind a CSRF middleware, in Chromium', () => {
  const chromium = useChromium('csrf-sites', testTimeoutMs);
  let emulator: RetenoEmulator;

  beforeAll(async () => {
    emulator = await createRetenoEmulator({
      apiKey,
      scriptId,
      contacts: [annaContact],
      bellSelector: '#inbox-bell',
      pollIntervalMs,
    });
  }, testTimeoutMs);
  afterEach(() => emulator.clearRequests());
  afterAll(() => emulator?.close(), testTimeoutMs);

  /** Starts the site (stopped after the test) and signs Anna in through its form, in a fresh context. */
  async function signInOnSite(csrf: CsrfMiddleware, passCsrfToken: boolean) {
    const site = await serveOnLoopback(csrfSite(emulator, csrf, passCsrfToken));
    chromium.afterTest(() => site.close());
    const { page, watched } = await chromium.openPage();
    await page.goto(`${site.url}/login`);
    await page.fill('#username', anna.username);
    await page.fill('#current-password', anna.password);
    await navigateBy(page, () => page.click('button[type="submit"]'));
    await expect(page.textContent('h1')).resolves.toBe(`Hello, ${anna.name}`);
    const where = urlsRelativeTo([
      ['emulator', emulator.url],
      ['site', site.url],
    ]);
    return { site, page, watched, where };
  }

  it.each(['csurf', 'csrf-csrf', 'lusca'] as const)(
    'with %s, a slow page after signing out: the other tab, refused by the CSRF middleware, reloads as on a sign-out, with no advice on the console',
    async (csrf) => {
      const { site, page: first, watched, where } = await signInOnSite(csrf, true);
      await waitForBellCount(first, 0, bell);
      const second = await watched.newPage();
      await second.goto(`${site.url}/`);
      await waitForBellCount(second, 0, bell);
      await markDocument(first);

      // Signing out in the second tab ends Anna's session (and the CSRF secret in it) and her tokens; the page after
      // it takes its time, so the visitor cookie stays as it was meanwhile.
      const reloaded = first.waitForEvent('domcontentloaded');
      await second.click('button[type="submit"]');
      const signedOutAt = Date.now();
      await reloaded;
      expect(Date.now() - signedOutAt).toBeLessThan(slowSignOutMs);

      expect(await isSameDocument(first)).toBe(false);
      await expect(first.textContent('h1')).resolves.toBe('Todos');
      expect(await first.locator(widget.bell).count()).toBe(0);
      const tokenCalls = watched.exchanges.filter(
        (exchange) => exchange.page === first && exchange.url === `${site.url}${tokenRoute}`,
      );
      // lusca's refusal has no status: the error handler makes it a 500.
      const refused = csrf === 'lusca' ? 500 : 403;
      expect(
        (await settledExchanges('the token calls', () => tokenCalls, 2)).map((call) => call.status),
      ).toEqual([200, refused]);
      await waitFor('the second tab to land on its page', () => second.url().endsWith('/signed-out'));
      // Only Chromium's own lines for the refused calls: nothing from the page blames the set-up.
      expect(
        consoleTexts(watched, 'error', where).filter((line) => !line.startsWith('Failed to load resource')),
      ).toEqual([]);
      expect(watched.pageErrors).toEqual([]);
    },
    testTimeoutMs,
  );

  it(
    "with lusca and no csrfToken: lusca's refusal, a 500 through the error handler, is named as a likely CSRF problem",
    async () => {
      const { page, watched, where } = await signInOnSite('lusca', false);
      const line = await waitFor('the page to name the problem', () =>
        consoleTexts(watched, 'error', where).find((text) => text.startsWith('Reteno inbox')),
      );
      expect(line).toMatch(
        /^Reteno inbox: HTTP 500 from something other than the token route \[csrf-or-server-error\], see https:\/\/github\.com\/express-reteno-inbox\/express-reteno-inbox#troubleshooting @ site\/reteno\/app-inbox\/token\/client\.[0-9a-f]{12}\.js$/,
      );
      expect(await page.locator(widget.bell).count()).toBe(0);
      expect(emulator.requests.filter((logged) => logged.path === '/v1/auth/contact/token')).toEqual([]);
    },
    testTimeoutMs,
  );

  it(
    'with lusca and csrfToken: the token call passes lusca and the bell shows',
    async () => {
      const { page, watched, site } = await signInOnSite('lusca', true);
      await waitForBellCount(page, 0, bell);
      const [call] = await settledExchanges(
        'the token call',
        () => watched.exchanges.filter((exchange) => exchange.url === `${site.url}${tokenRoute}`),
        1,
      );
      expect(call?.status).toBe(200);
      expect(call?.headers['x-csrf-token']).toMatch(/^[\x21-\x7e]+$/);
    },
    testTimeoutMs,
  );
});
