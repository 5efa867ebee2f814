import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Page } from 'playwright-core';
import { troubleshootingUrl } from '../../src/client/diagnosis.js';
import { type PageConfig, visitorChangeEvent, visitorCookie } from '../../src/client/page-config.js';
import { attributeSafeJson } from '../../src/html-safe.js';
import {
  consoleTexts,
  describeInChromium,
  type LoopbackServer,
  observeQuietPeriod,
  serveOnLoopback,
  useChromium,
  type WatchedContext,
  waitFor,
} from '../helpers/browser.js';

// The client as pages load it (dist/client, built from src/client/), on pages that give it a stand-in for Reteno's
// loader: `eS` records its calls. The site is a bare node:http server whose token route each test sets.

const client = readFileSync(new URL('../../dist/client/reteno-inbox.js', import.meta.url), 'utf8');
const testTimeoutMs = 30_000;
const anna = 'A'.repeat(22);
const bob = 'B'.repeat(22);

/** How the site's /token answers: as the token route (with its marker), or as something in front of it. */
type TokenAnswer =
  | { by: 'route'; status: number; body: unknown }
  | { by: 'middleware'; status: number }
  | { by: 'login-redirect' };

interface ClientSite extends LoopbackServer {
  /** What /token answers from now on. */
  token: TokenAnswer;
  /** The token calls' headers, names in lower case. */
  tokenCalls: Record<string, string | string[] | undefined>[];
}

/** A page for `contact`: the stand-in loader, a text field, and the client's tag with the page's values. */
function pageHtml(config: PageConfig): string {
  return `<!doctype html><html><head><title>Page</title><link rel="icon" href="data:,">
<script>window.initCalls = []; window.visitorChanges = 0;
window.eS = function () { window.initCalls.push(Array.prototype.slice.call(arguments)); };
addEventListener(${JSON.stringify(visitorChangeEvent)}, function () { window.visitorChanges += 1; });</script>
<script src="/client.js" data-reteno-config='${attributeSafeJson(config)}' defer></script>
</head><body><h1>Page</h1><input id="field"></body></html>`;
}

function visitorCookieLine(contact: string): string {
  return contact === ''
    ? `${visitorCookie}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT`
    : `${visitorCookie}=${contact}; Path=/; SameSite=Lax`;
}

async function startClientSite(): Promise<ClientSite> {
  const state: Pick<ClientSite, 'token' | 'tokenCalls'> = {
    token: { by: 'route', status: 200, body: { token: 'token-1' } },
    tokenCalls: [],
  };
  // The handler reads the test's current answer from the site it returns.
  let site: ClientSite | undefined;
  const server = await serveOnLoopback((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://site');
    if (url.pathname === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(client);
    } else if (url.pathname.startsWith('/page/')) {
      // /page/<contact>[?csrf=…&sets=1]: a page for that contact; `sets` makes the page's GET set the visitor
      // cookie to it, as the middleware does for the visitor a request is for.
      const contact = url.pathname.slice('/page/'.length);
      const csrf = url.searchParams.get('csrf');
      const config: PageConfig = {
        tokenUrl: '/token',
        contact,
        language: 'uk',
        flags: { TRACKING: false },
        ...(csrf === null ? {} : { csrf: { header: 'x-csrf-token', token: csrf } }),
      };
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        ...(url.searchParams.get('sets') === '1' ? { 'set-cookie': visitorCookieLine(contact) } : {}),
      });
      res.end(pageHtml(config));
    } else if (url.pathname.startsWith('/visitor/')) {
      // What another tab's request does when the session changed: the middleware sets or clears the cookie.
      const contact = url.pathname.slice('/visitor/'.length);
      res
        .writeHead(200, { 'content-type': 'text/html', 'set-cookie': visitorCookieLine(contact) })
        .end('<link rel="icon" href="data:,"><p>Changed</p>');
    } else if (url.pathname === '/token' && req.method === 'POST') {
      const current = site ?? state;
      current.tokenCalls.push({ ...req.headers });
      const answer = current.token;
      if (answer.by === 'route') {
        res
          .writeHead(answer.status, { 'content-type': 'application/json', 'x-reteno-inbox': '1' })
          .end(JSON.stringify(answer.body));
      } else if (answer.by === 'middleware') {
        res.writeHead(answer.status, { 'content-type': 'text/html' }).end('<h1>Refused</h1>');
      } else {
        res.writeHead(302, { location: '/login' }).end();
      }
    } else if (url.pathname === '/login') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Sign in</h1>');
    } else {
      res.writeHead(404).end();
    }
  });
  site = Object.assign(server, state);
  return site;
}

/** The page's token callback, called in the page: its token, or its rejection's message. */
function askToken(page: Page): Promise<string> {
  return page.evaluate(() => {
    const settings = (
      window as unknown as { initCalls: [string, unknown, { getAuthTokenCallback(): Promise<string> }][] }
    ).initCalls[0]?.[2];
    if (settings === undefined) throw new Error('no init call');
    return settings.getAuthTokenCallback().then(
      (token) => `token ${token}`,
      (error: Error) => `rejected: ${error.message}`,
    );
  });
}

/** Marks the page's document, so that a test can tell whether the tab loaded another one. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { sameDocument: boolean }).sameDocument = true;
  });
}

function isSameDocument(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true);
}

/** The documents the context loaded, as paths. */
function documentsLoaded(watched: WatchedContext, page?: Page): string[] {
  return watched.exchanges
    .filter(
      (exchange) => exchange.resourceType === 'document' && (page === undefined || exchange.page === page),
    )
    .map((exchange) => new URL(exchange.url).pathname);
}

describeInChromium('the page client in Chromium', () => {
  const chromium = useChromium('client', testTimeoutMs);
  let site: ClientSite;
  beforeEach(async () => {
    site = await startClientSite();
    chromium.afterTest(() => site.close());
  });

  /** A fresh context whose visitor cookie names `contact`, on that contact's page. */
  async function openPageOf(contact: string, query = '', options: { noCookieStore?: boolean } = {}) {
    const { page, watched } = await chromium.openPage();
    if (options.noCookieStore) {
      await watched.context.addInitScript(() => {
        Object.defineProperty(window, 'cookieStore', { value: undefined });
      });
    }
    await page.goto(`${site.url}/page/${contact}?sets=1${query}`);
    await page.waitForFunction(() => (window as unknown as { initCalls: unknown[] }).initCalls.length > 0);
    return { page, watched };
  }

  it("makes the page's one init call, with APP_INBOX, the page's flags and language, and a token callback", async () => {
    const { page, watched } = await openPageOf(anna);
    const calls = await page.evaluate(() =>
      (window as unknown as { initCalls: unknown[][] }).initCalls.map(([command, features, settings]) => ({
        command,
        features,
        settings: Object.entries(settings as object).map(([name, value]) => [name, typeof value]),
      })),
    );
    expect(calls).toEqual([
      {
        command: 'init',
        features: { TRACKING: false, APP_INBOX: true },
        settings: [
          ['getAuthTokenCallback', 'function'],
          ['language', 'string'],
        ],
      },
    ]);
    expect(
      await page.evaluate(() => (window as unknown as { initCalls: unknown[][] }).initCalls[0]?.[2]),
    ).toMatchObject({ language: 'uk' });
    // Nothing is fetched until Reteno's script asks for a token.
    expect(site.tokenCalls).toEqual([]);
    expect(consoleTexts(watched, 'error')).toEqual([]);
  });

  it('asks the token route with its marker, the CSRF header and the session cookie, and resolves the token', async () => {
    const { page, watched } = await openPageOf(anna, '&csrf=csrf-42');
    await watched.context.addCookies([{ name: 'sid', value: 'session-7', url: site.url }]);
    expect(await askToken(page)).toBe('token token-1');
    site.token = { by: 'route', status: 200, body: { token: 'token-2' } };
    expect(await askToken(page)).toBe('token token-2');
    expect(site.tokenCalls).toHaveLength(2);
    expect(site.tokenCalls[0]).toMatchObject({
      'x-reteno-inbox': '1',
      'x-csrf-token': 'csrf-42',
      cookie: expect.stringContaining('sid=session-7'),
    });
  });

  it.each([
    [
      'an error from the route',
      { by: 'route', status: 401, body: { error: 'unauthenticated' } },
      'Reteno token: HTTP 401',
    ],
    [
      'an empty token from the route',
      { by: 'route', status: 200, body: { token: '' } },
      'Reteno token: none',
    ],
    ['a body without a token', { by: 'route', status: 200, body: null }, 'Reteno token: none'],
  ] as const)('rejects on %s, quietly', async (_case, answer, message) => {
    const { page, watched } = await openPageOf(anna);
    site.token = answer;
    expect(await askToken(page)).toBe(`rejected: ${message}`);
    expect(consoleTexts(watched, 'error').filter((line) => line.startsWith('Reteno inbox'))).toEqual([]);
  });

  describe('names the likely set-up problem once, on the console and in the rejection, when something else answers first', () => {
    it.each([
      ['a redirect to a sign-in page', { by: 'login-redirect' }, '', 200, 'login-redirect'],
      ['a 404 page', { by: 'middleware', status: 404 }, '', 404, 'route-not-found'],
      [
        'a 403 to a page without a CSRF token',
        { by: 'middleware', status: 403 },
        '',
        403,
        'csrf-token-missing',
      ],
      ['a 403 to a page with one', { by: 'middleware', status: 403 }, '&csrf=t', 403, 'csrf-token-refused'],
      [
        'a 500 to a page without a CSRF token',
        { by: 'middleware', status: 500 },
        '',
        500,
        'csrf-or-server-error',
      ],
      ['a 500 to a page with one', { by: 'middleware', status: 500 }, '&csrf=t', 500, 'other-middleware'],
      ['a 502 from a proxy', { by: 'middleware', status: 502 }, '', 502, 'other-middleware'],
    ] as const)('%s', async (_case, answer, query, status, code) => {
      const { page, watched } = await openPageOf(anna, query);
      site.token = answer;
      const line = `Reteno inbox: HTTP ${status} from something other than the token route [${code}], see ${troubleshootingUrl}`;
      expect(await askToken(page)).toBe(`rejected: ${line}`);
      expect(await askToken(page)).toBe(`rejected: ${line}`);
      const logged = consoleTexts(watched, 'error').filter((text) => text.startsWith('Reteno inbox'));
      expect(logged).toEqual([
        expect.stringMatching(/^Reteno inbox: .* @ http:\/\/127\.0\.0\.1:\d+\/client\.js$/),
      ]);
      expect(logged[0]).toBe(`${line} @ ${site.url}/client.js`);
      expect(await isSameDocument(page).catch(() => false)).toBe(false);
    });
  });

  describe('a token call refused by something else after the route has answered on the page: the session ended', () => {
    it('reloads the tab, with no set-up advice on the console', async () => {
      const { page, watched } = await openPageOf(anna, '&csrf=stale');
      expect(await askToken(page)).toBe('token token-1');
      await markDocument(page);
      site.token = { by: 'middleware', status: 403 };
      const reloaded = page.waitForEvent('domcontentloaded');
      expect(await askToken(page).catch(() => 'the page went')).toMatch(
        /^(rejected: Reteno inbox: the session ended|the page went)$/,
      );
      await reloaded;
      expect(await isSameDocument(page)).toBe(false);
      expect(documentsLoaded(watched, page)).toEqual([`/page/${anna}`, `/page/${anna}`]);
      expect(consoleTexts(watched, 'error').filter((line) => line.startsWith('Reteno inbox'))).toEqual([]);
    });

    it('while the visitor types: tells the page, refuses tokens, and reloads once the field is left', async () => {
      const { page, watched } = await openPageOf(anna);
      expect(await askToken(page)).toBe('token token-1');
      await markDocument(page);
      await page.click('#field');
      await page.keyboard.type('half a sent');
      site.token = { by: 'middleware', status: 500 };
      expect(await askToken(page)).toBe('rejected: Reteno inbox: the session ended');
      expect(
        await page.evaluate(() => (window as unknown as { visitorChanges: number }).visitorChanges),
      ).toBe(1);
      expect(await askToken(page)).toBe('rejected: Reteno inbox: the visitor changed in another tab');
      expect(site.tokenCalls).toHaveLength(2);
      expect(await isSameDocument(page)).toBe(true);
      expect(await page.inputValue('#field')).toBe('half a sent');
      const reloaded = page.waitForEvent('domcontentloaded');
      await page.click('h1');
      await reloaded;
      expect(await isSameDocument(page)).toBe(false);
      expect(consoleTexts(watched, 'error').filter((line) => line.startsWith('Reteno inbox'))).toEqual([]);
    });
  });

  describe('the visitor cookie', () => {
    it.each([
      ['with CookieStore change events', { noCookieStore: false }],
      ['without CookieStore, by reading the cookie every second', { noCookieStore: true }],
    ])('reloads a tab within 2 s of another tab signing out, once, %s', async (_case, options) => {
      const { page, watched } = await openPageOf(anna, '', options);
      expect(await page.evaluate(() => typeof (window as { cookieStore?: unknown }).cookieStore)).toBe(
        options.noCookieStore ? 'undefined' : 'object',
      );
      await markDocument(page);
      const other = await watched.newPage();
      const reloaded = page.waitForEvent('domcontentloaded');
      await other.goto(`${site.url}/visitor/`);
      const signedOutAt = Date.now();
      await reloaded;
      expect(Date.now() - signedOutAt).toBeLessThan(2000);
      expect(await isSameDocument(page)).toBe(false);
      await observeQuietPeriod(1500);
      // The page it reloaded to is Anna's again (this stand-in site ignores the session): it reloads no more.
      expect(documentsLoaded(watched, page)).toEqual([`/page/${anna}`, `/page/${anna}`]);
    });

    it('reloads for another user signing in, and asks no token for the previous one meanwhile', async () => {
      const { page, watched } = await openPageOf(anna);
      await page.click('#field');
      const other = await watched.newPage();
      await other.goto(`${site.url}/visitor/${bob}`);
      await page.waitForFunction(
        () => (window as unknown as { visitorChanges: number }).visitorChanges === 1,
      );
      expect(await askToken(page)).toBe('rejected: Reteno inbox: the visitor changed in another tab');
      expect(site.tokenCalls).toEqual([]);
      const reloaded = page.waitForEvent('domcontentloaded');
      await page.bringToFront();
      await page.click('h1');
      await reloaded;
      expect(documentsLoaded(watched, page)).toEqual([`/page/${anna}`, `/page/${anna}`]);
    });

    it('stops two tabs whose addresses each change the session after a reload each, instead of reloading each other', async () => {
      const { page: first, watched } = await openPageOf(anna);
      const second = await watched.newPage();
      await second.goto(`${site.url}/page/${bob}?sets=1`);
      // Anna's tab reloads (its address signs Anna in again), which makes Bob's tab reload, which would make Anna's…
      await waitFor('both tabs to have reloaded once', () => {
        const loaded = documentsLoaded(watched);
        return loaded.filter((path) => path === `/page/${anna}`).length >= 2 &&
          loaded.filter((path) => path === `/page/${bob}`).length >= 2
          ? loaded
          : false;
      });
      await observeQuietPeriod(3000);
      expect(documentsLoaded(watched, first)).toEqual([`/page/${anna}`, `/page/${anna}`]);
      expect(documentsLoaded(watched, second)).toEqual([`/page/${bob}`, `/page/${bob}`]);
      // The tab that stays refuses tokens: its visitor is not the browser's.
      const stayed =
        (await first.evaluate(() => (window as unknown as { visitorChanges: number }).visitorChanges)) === 1
          ? first
          : second;
      expect(await askToken(stayed)).toBe('rejected: Reteno inbox: the visitor changed in another tab');
    });
  });

  describe('spacing of token calls when Reteno asks again and again', () => {
    /** Token calls stand in for the site: the route's 502 at once, so that only the page's own timers count. */
    async function openWithFakeClock() {
      const { page, watched } = await chromium.openPage();
      await page.clock.install({ time: 1_000_000 });
      await page.goto(`${site.url}/page/${anna}?sets=1`);
      await page.waitForFunction(() => (window as unknown as { initCalls: unknown[] }).initCalls.length > 0);
      // Time stands still but for runFor.
      await page.clock.pauseAt(2_000_000);
      await page.evaluate(() => {
        const state = window as unknown as { calledAt: number[]; fetch: typeof fetch };
        state.calledAt = [];
        state.fetch = () => {
          state.calledAt.push(Date.now());
          return Promise.resolve(
            new Response('{"error":"upstream_error"}', { status: 502, headers: { 'x-reteno-inbox': '1' } }),
          );
        };
      });
      return { page, watched };
    }

    const calledAt = (page: Page) =>
      page.evaluate(() => (window as unknown as { calledAt: number[] }).calledAt);
    const mostInAMinute = (times: number[]) =>
      Math.max(
        ...times.map((start) => times.filter((time) => time >= start && time < start + 60_000).length),
      );

    it('spaces calls out (1, 2, 4, 8, 16, then 30 s), at most 6 a minute, however tightly it is asked', async () => {
      const { page } = await openWithFakeClock();
      // A script that asks again as soon as its last ask was rejected, on 5 chains at once.
      await page.evaluate(() => {
        const settings = (
          window as unknown as { initCalls: [string, unknown, { getAuthTokenCallback(): Promise<string> }][] }
        ).initCalls[0]?.[2];
        const askAgain = (): unknown => settings?.getAuthTokenCallback().then(askAgain, askAgain);
        for (let chain = 0; chain < 5; chain++) askAgain();
      });
      await page.clock.runFor(10 * 60_000);
      const times = await calledAt(page);
      const gaps = times.slice(1).map((time, index) => time - (times[index] as number));
      expect(times[0]).toBe(2_000_000);
      expect(gaps.slice(0, 7)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
      expect(Math.min(...gaps)).toBe(1000);
      expect(Math.max(...gaps)).toBe(30_000);
      expect(mostInAMinute(times)).toBeLessThanOrEqual(6);
      expect(times.length).toBeGreaterThanOrEqual(20);
    });

    it('shares one call among callers that ask while it is pending', async () => {
      const { page } = await openWithFakeClock();
      const answers = page.evaluate(() => {
        const settings = (
          window as unknown as { initCalls: [string, unknown, { getAuthTokenCallback(): Promise<string> }][] }
        ).initCalls[0]?.[2];
        return Promise.allSettled(Array.from({ length: 50 }, () => settings?.getAuthTokenCallback()));
      });
      await page.clock.runFor(100);
      expect((await answers).map((answer) => answer.status)).toEqual(Array(50).fill('rejected'));
      expect(await calledAt(page)).toHaveLength(1);
    });

    it('asks at once again after a quiet minute', async () => {
      const { page } = await openWithFakeClock();
      for (let ask = 0; ask < 2; ask++) {
        const asked = askToken(page);
        await page.clock.runFor(1000);
        await asked;
      }
      await page.clock.runFor(61_000);
      const before = await page.evaluate(() => Date.now());
      const asked = askToken(page);
      await page.clock.runFor(10);
      expect(await asked).toBe('rejected: Reteno token: HTTP 502');
      expect((await calledAt(page)).at(-1)).toBe(before);
    });
  });

  it('makes no init call, and says why, when the page config is not one', async () => {
    const { page, watched } = await chromium.openPage();
    await page.route(`${site.url}/bad`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<script>window.initCalls = []; window.eS = function () { window.initCalls.push(1); };</script><script src="/client.js" data-reteno-config='{"tokenUrl":"//evil.example/token"}'></script>`,
      }),
    );
    await page.goto(`${site.url}/bad`);
    await waitFor('the console line', () => consoleTexts(watched, 'error').length > 0);
    expect(consoleTexts(watched, 'error')).toEqual([
      `Reteno inbox: no inbox on this page [page-config], see ${troubleshootingUrl} @ ${site.url}/client.js`,
    ]);
    expect(await page.evaluate(() => (window as unknown as { initCalls: unknown[] }).initCalls)).toEqual([]);
  });
});
