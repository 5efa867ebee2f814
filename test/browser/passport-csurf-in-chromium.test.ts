import { createRetenoEmulator, type RetenoEmulator } from '../../src/emulator/index.js';
import { createPassportSite, siteUsers } from '../fixtures/passport-site/site.js';
import {
  type ChromiumSession,
  describeInChromium,
  type Exchange,
  expectCleanRun,
  failedToLoad,
  listedMessages,
  navigateBy,
  observeQuietPeriod,
  openPanel,
  serveOnLoopback,
  settledExchanges,
  stopNotices,
  urlsRelativeTo,
  useChromium,
  waitFor,
  waitForBellCount,
  widget,
} from '../helpers/browser.js';

const apiKey = 'passport-site-api-key-3c7a';
const scriptId = '7b1e4d2a-9c3f-4e8b-a6d5-2f0e1c9b8a74';
const pollIntervalMs = 300;
const testTimeoutMs = 30_000;
/** Long enough for three polls: a token call the page did not make in that time, it does not make. */
const quietMs = 3 * pollIntervalMs;
const tokenRoute = '/reteno/app-inbox/token';
const [anna] = siteUsers as [(typeof siteUsers)[0]];
const annaContact = { email: anna.email };
/** The bell inside the site's header slot. */
const bell = `#inbox-bell ${widget.bell}`;

let chromium: ChromiumSession;
let emulator: RetenoEmulator;

/** Starts the site (stopped after the test), opens its sign-in page in a fresh context and signs Anna in. */
async function signInOnSite(passCsrfToken: boolean) {
  const site = await serveOnLoopback(
    createPassportSite({
      reteno: { apiKey, scriptId, baseUrl: emulator.url, scriptBaseUrl: `${emulator.url}/scripts/` },
      passCsrfToken,
    }),
  );
  chromium.afterTest(() => site.close());
  const { page, watched } = await chromium.openPage();
  await page.goto(`${site.url}/login`);
  await page.fill('#username', anna.username);
  await page.fill('#current-password', anna.password);
  await navigateBy(page, () => page.click('button[type="submit"]'));
  expect(page.url()).toBe(`${site.url}/`);
  await expect(page.textContent('h1')).resolves.toBe(`Hello, ${anna.name}`);

  return {
    page,
    watched,
    where: urlsRelativeTo([
      ['emulator', emulator.url],
      ['site', site.url],
    ]),
    tokenCalls: (): Exchange[] =>
      watched.exchanges.filter(
        (exchange) => exchange.method === 'POST' && exchange.url === `${site.url}${tokenRoute}`,
      ),
  };
}

// The fixture site: csurf before Passport, as in Passport's examples; retenoInbox added after Passport.
describeInChromium('a Passport + csurf site in Chromium', () => {
  chromium = useChromium('passport-csurf', testTimeoutMs);

  beforeAll(async () => {
    emulator = await createRetenoEmulator({
      apiKey,
      scriptId,
      contacts: [annaContact],
      bellSelector: '#inbox-bell',
      pollIntervalMs,
    });
  }, testTimeoutMs);

  afterEach(() => {
    emulator.clearRequests();
  });

  afterAll(async () => {
    await emulator?.close();
  }, testTimeoutMs);

  test(
    'with csrfToken: signing in through the form brings the bell, and a pushed message shows in it',
    async () => {
      const { page, watched, where, tokenCalls } = await signInOnSite(true);

      await page.waitForSelector(bell);
      await waitForBellCount(page, 0, bell);
      const [firstCall] = await settledExchanges('the first token call', tokenCalls, 1);
      expect(firstCall?.status).toBe(200);
      expect(firstCall?.headers['x-reteno-inbox']).toBe('1');
      expect(firstCall?.headers['x-csrf-token']).toMatch(/^[\x21-\x7e]+$/);

      const pushed = emulator.pushMessage(annaContact, {
        title: 'Your list',
        content: 'Three things to do.',
      });
      await waitForBellCount(page, 1, bell);
      await openPanel(page, bell);
      await expect(listedMessages(page)).resolves.toEqual([
        { id: pushed.id, status: 'UNOPENED', title: 'Your list' },
      ]);

      expect(tokenCalls().every((call) => call.status === 200)).toBe(true);
      expect(stopNotices(watched, page)).toEqual([]);
      expectCleanRun(watched, {}, where);
    },
    testTimeoutMs,
  );

  test(
    "without csrfToken: csurf's 403 page answers the token call, and the console names the missing CSRF token once",
    async () => {
      const { page, watched, where, tokenCalls } = await signInOnSite(false);

      const [refused] = await settledExchanges('the refused token call', tokenCalls, 1);
      expect(refused?.status).toBe(403);
      expect(refused?.headers['x-csrf-token']).toBeUndefined();
      const reported = await waitFor('the embed to report the dead bell', () =>
        watched.consoleErrors(page).find((entry) => entry.text.startsWith('Reteno inbox:')),
      );
      expect(reported.text).toBe(
        'Reteno inbox: HTTP 403 from something other than the token route [csrf-token-missing], see https://github.com/express-reteno-inbox/express-reteno-inbox#troubleshooting',
      );

      // Said by the client script, which the page loaded from the token route's path.
      expect(where(reported.url)).toMatch(/^site\/reteno\/app-inbox\/token\/client\.[0-9a-f]{12}\.js$/);

      // The widget gives up after the rejected callback: no retry loop, no bell, one message.
      await waitFor('the widget to stop', () => stopNotices(watched, page).length > 0);
      await observeQuietPeriod(quietMs);
      expect(tokenCalls()).toHaveLength(1);
      expect(await page.$(widget.bell)).toBeNull();
      expect(stopNotices(watched, page)).toEqual([`getAuthTokenCallback failed (${reported.text}).`]);
      expectCleanRun(
        watched,
        { errors: [failedToLoad(403, `site${tokenRoute}`), `${reported.text} @ ${where(reported.url)}`] },
        where,
      );
      expect(emulator.requests.filter((logged) => logged.path === '/v1/auth/contact/token')).toEqual([]);
    },
    testTimeoutMs,
  );
});
