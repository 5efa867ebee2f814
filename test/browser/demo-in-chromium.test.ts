import { fileURLToPath } from 'node:url';
import {
  bellNames,
  chromiumMissing,
  describeInChromium,
  domContentLoadedMs,
  failedToLoad,
  initCalls,
  listedMessages,
  navigateBy,
  observeQuietPeriod,
  panelLabels,
  settledExchanges,
  stopNotices,
  typeofES,
  useChromium,
  waitFor,
  widget,
  widgetLabels as labels,
  saveArtefactScreenshot,
} from '../helpers/browser.js';
import { demoBell as bell, demoScenarios, demoTokenRoute as tokenRoute } from '../helpers/demo-scenario.js';

const pollIntervalMs = 400;
const testTimeoutMs = 40_000;
const refreshDocs = process.env.REFRESH_DOCS_SCREENSHOT === '1';
const docsScreenshot = fileURLToPath(new URL('../../docs/demo.png', import.meta.url));

const anna = { email: 'anna@example.com' };
const taras = { externalCustomerId: 'customer-7' };
const retenoTokenPath = '/v1/auth/contact/token';
const countPath = '/appinbox/v1/messages/count';

const panel = widget.panel;

if (refreshDocs && chromiumMissing !== null) {
  throw new Error(`REFRESH_DOCS_SCREENSHOT=1 needs a browser, and there is ${chromiumMissing}.`);
}

describeInChromium('the demo site in Chromium', () => {
  const chromium = useChromium('demo', testTimeoutMs);

  const startScenario = demoScenarios(chromium, { pollIntervalMs });

  it(
    'shows an anonymous visitor no inbox: no eS, no token request, no bell',
    async () => {
      const scenario = await startScenario();
      const { page, watched } = await scenario.openPage();

      for (const path of ['/', '/about']) {
        await page.goto(scenario.url(path));
        expect(await typeofES(page)).toBe('undefined');
        expect(await initCalls(page)).toEqual([]);
        expect(await page.locator('#inbox-bell').innerHTML()).toBe('');
        expect(await page.locator('[data-reteno-inbox-bell]').count()).toBe(0);
      }
      await page.goto(scenario.url('/'));
      expect(await page.locator('[data-form="sign-in"]').count()).toBe(1);
      await navigateBy(page, () => page.click('[data-lang="uk"]'));
      expect(await page.getAttribute('html', 'lang')).toBe('uk');
      expect(await typeofES(page)).toBe('undefined');
      expect(await page.locator('[data-reteno-inbox-bell]').count()).toBe(0);

      expect(scenario.tokenRequests(watched)).toEqual([]);
      expect(watched.exchanges.filter((exchange) => exchange.url.startsWith(scenario.emulator.url))).toEqual(
        [],
      );
      expect(scenario.emulator.requests).toEqual([]);
      scenario.expectCleanRun(watched, []);
    },
    testTimeoutMs,
  );

  it(
    'signs Anna in: the bell shows the unread count the emulator holds, after one init and one token request',
    async () => {
      const scenario = await startScenario();
      const { emulator } = scenario;
      const { page, watched } = await scenario.openPage();
      await page.goto(scenario.url('/'));
      await scenario.signIn(page, 'anna');
      expect(page.url()).toBe(scenario.url('/'));

      await scenario.waitForBell(page, 2);
      expect(emulator.messagesOf(anna).filter((message) => message.status === 'UNOPENED')).toHaveLength(2);
      expect(await page.locator(bell).getAttribute('aria-label')).toBe(bellNames.en[2]);

      // Watch a few polls go by: the widget keeps using the rotating ES-TOKEN, without asking for a new one.
      const answeredPolls = () =>
        emulator.requests.filter((request) => request.path === countPath && request.status === 200).length;
      await waitFor('four answered count polls', () => answeredPolls() >= 4);

      expect(await initCalls(page)).toEqual([
        { features: { APP_INBOX: true }, language: 'en', hasTokenCallback: true },
      ]);
      const tokenRequests = await settledExchanges(
        'the token answered',
        () => scenario.tokenRequests(watched),
        1,
      );
      expect(tokenRequests.map((exchange) => exchange.status)).toEqual([200]);
      expect(tokenRequests[0]?.headers['x-reteno-inbox']).toBe('1');
      const askedReteno = emulator.requests.filter((request) => request.path === retenoTokenPath);
      expect(askedReteno.map((request) => ({ body: request.body, status: request.status }))).toEqual([
        { body: anna, status: 200 },
      ]);
      expect(emulator.requests.filter((request) => request.status === 401)).toEqual([]);
      // One loader, hence one copy of Reteno's script, and the package's client.
      const scripts = watched.exchanges.filter(
        (exchange) => exchange.resourceType === 'script' && exchange.page === page,
      );
      expect(scripts.map((exchange) => new URL(exchange.url).pathname).sort()).toEqual([
        expect.stringMatching(/^\/reteno\/app-inbox\/token\/client\.[0-9a-f]{12}\.js$/),
        `/scripts/${'00000000-0000-4000-8000-000000000000'}.js`,
      ]);
      scenario.expectCleanRun(watched, []);
    },
    testTimeoutMs,
  );

  it(
    'opens the panel in the page language, and an opened message stays read, also after a reload',
    async () => {
      const scenario = await startScenario();
      const { emulator } = scenario;
      const { page, watched } = await scenario.signedInTab('anna', 2);

      await scenario.openPanel(page);
      expect(await panelLabels(page)).toEqual(labels.en);
      expect(await page.locator(panel).getAttribute('lang')).toBe('en');
      expect(await page.locator(bell).getAttribute('aria-expanded')).toBe('true');
      const listed = await listedMessages(page);
      expect(listed.map(({ title, status }) => ({ title, status }))).toEqual([
        { title: 'Your order has shipped', status: 'UNOPENED' },
        { title: 'Welcome to the shop', status: 'UNOPENED' },
      ]);
      expect(listed.map((message) => message.id)).toEqual(
        emulator.messagesOf(anna).map((message) => message.id),
      );
      if (refreshDocs) await page.screenshot({ path: docsScreenshot });

      // The message without a link: clicking opens it in place.
      const welcome = emulator.messagesOf(anna)[1];
      if (!welcome) throw new Error('Anna has no second message');
      const item = `[data-reteno-inbox-message][data-id="${welcome.id}"]`;
      await page.click(`${item} [data-reteno-inbox-message-content]`);
      await page.waitForSelector(`${item}[data-status="OPENED"]`);
      await scenario.waitForBell(page, 1);
      expect(emulator.messagesOf(anna).map(({ title, status }) => ({ title, status }))).toEqual([
        { title: 'Your order has shipped', status: 'UNOPENED' },
        { title: 'Welcome to the shop', status: 'OPENED' },
      ]);
      const statusCalls = emulator.requests.filter(
        (request) => request.path === '/appinbox/v1/messages/status' && request.method !== 'OPTIONS',
      );
      expect(statusCalls.map(({ method, body, status }) => ({ method, body, status }))).toEqual([
        { method: 'POST', body: { status: 'OPENED', ids: [welcome.id] }, status: 204 },
      ]);
      expect(watched.context.pages()).toHaveLength(1);

      await page.reload();
      await scenario.waitForBell(page, 1);
      await scenario.openPanel(page);
      expect((await listedMessages(page)).map(({ title, status }) => ({ title, status }))).toEqual([
        { title: 'Your order has shipped', status: 'UNOPENED' },
        { title: 'Welcome to the shop', status: 'OPENED' },
      ]);
      expect(await initCalls(page)).toHaveLength(1);
      scenario.expectCleanRun(watched, []);
    },
    testTimeoutMs,
  );

  it(
    'renews an invalidated token through getAuthTokenCallback and keeps working, without a reload',
    async () => {
      const scenario = await startScenario();
      const { emulator } = scenario;
      const { page, watched } = await scenario.signedInTab('anna', 2);
      await page.evaluate(() => {
        (window as unknown as { sameDocument: boolean }).sameDocument = true;
      });
      expect(scenario.tokenRequests(watched)).toHaveLength(1);

      const seen = emulator.requests.length;
      emulator.invalidateTokens(anna);
      const apiCalls = () => emulator.requests.slice(seen).filter((request) => request.method !== 'OPTIONS');
      const refused = await waitFor('a 401 from the App Inbox API', () =>
        apiCalls().find((request) => request.path.startsWith('/appinbox/') && request.status === 401),
      );
      await waitFor(
        'the renewed call answered',
        () => apiCalls().filter((request) => request.status === 200).length >= 2,
      );

      // Refused, then a token from Reteno through the site's route, then the same call again with the new token.
      const [first, second, third] = apiCalls();
      expect(first).toBe(refused);
      expect(refused.path).toBe(countPath);
      expect(second).toMatchObject({ method: 'POST', path: retenoTokenPath, body: anna, status: 200 });
      expect(third).toMatchObject({ method: 'GET', path: countPath, status: 200 });
      expect(third?.headers['es-token']).toEqual(expect.any(String));
      expect(third?.headers['es-token']).not.toBe(refused.headers['es-token']);
      const renewed = await settledExchanges(
        'the renewal answered in the browser',
        () => scenario.tokenRequests(watched),
        2,
      );
      expect(renewed.map((exchange) => exchange.status)).toEqual([200, 200]);
      expect(
        watched.exchanges.filter(
          (exchange) => exchange.url === `${emulator.url}${countPath}` && exchange.status === 401,
        ),
      ).toHaveLength(1);

      emulator.pushMessage(anna, { title: 'After renewal', content: 'The widget still works.' });
      await scenario.waitForBell(page, 3);
      expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(
        true,
      );
      expect(await initCalls(page)).toHaveLength(1);
      scenario.expectCleanRun(watched, [failedToLoad(401, `emulator${countPath}`)]);
    },
    testTimeoutMs,
  );

  it(
    'stops quietly in a tab whose session ended without a page telling it: 401 from the token route, bell gone, no more calls',
    async () => {
      const scenario = await startScenario();
      const { emulator } = scenario;
      const { page: first, watched } = await scenario.openPage();
      await first.goto(scenario.url('/'));
      await scenario.signIn(first, 'anna');
      await scenario.waitForBell(first, 2);

      // Signed out by a request that shows no page (as when the session ends on the server), so no tab announces
      // it; the demo's sign-out also ends Anna's tokens in the emulator.
      const signOut = await watched.context.request.post(scenario.url('/sign-out'), { maxRedirects: 0 });
      expect(signOut.status()).toBe(303);

      // The first tab must renew its token, and the site no longer knows who is there.
      const refusedAt = await waitFor(
        "the token route's 401 to the first tab",
        () =>
          scenario.tokenRequests(watched, first).find((exchange) => exchange.status === 401)?.answeredAt ??
          false,
      );
      await first.waitForSelector(bell, { state: 'detached' });
      await waitFor('the widget to say it stopped', () => stopNotices(watched, first).length > 0);
      expect(stopNotices(watched, first)).toEqual(['getAuthTokenCallback failed (Reteno token: HTTP 401).']);

      expect(
        watched.exchanges.some((exchange) => 'es-token' in exchange.headers && exchange.sentAt < refusedAt),
      ).toBe(true);
      await observeQuietPeriod(3 * pollIntervalMs);
      expect(
        emulator.requests.filter((request) => 'es-token' in request.headers && request.at > refusedAt),
      ).toEqual([]);
      expect(
        watched.exchanges.filter((exchange) => 'es-token' in exchange.headers && exchange.sentAt > refusedAt),
      ).toEqual([]);
      expect(scenario.tokenRequests(watched, first).map((exchange) => exchange.status)).toEqual([200, 401]);
      expect(await first.locator('#inbox-bell').innerHTML()).toBe('');
      expect(await first.locator(panel).count()).toBe(0);
      expect(first.url()).toBe(scenario.url('/'));
      scenario.expectCleanRun(watched, [
        failedToLoad(401, `emulator${countPath}`),
        failedToLoad(401, tokenRoute),
      ]);
    },
    testTimeoutMs,
  );

  it(
    'runs under the strict CSP without a single violation, on every page and in every state',
    async () => {
      const scenario = await startScenario();
      const { page, watched } = await scenario.openPage();
      await page.goto(scenario.url('/'));
      await page.goto(scenario.url('/about'));
      await page.goto(scenario.url('/'));
      await scenario.signIn(page, 'anna');
      await scenario.waitForBell(page, 2);
      await scenario.openPanel(page);

      await page.goto(scenario.url('/about'));
      await scenario.waitForBell(page, 2);
      await navigateBy(page, () => page.click('[data-lang="uk"]'));
      expect(page.url()).toBe(scenario.url('/about'));
      await scenario.waitForBell(page, 2);
      await scenario.openPanel(page);
      expect((await panelLabels(page)).title).toBe(labels.uk.title);

      await page.goto(scenario.url('/'));
      await page.fill('[data-form="push"] input[name="title"]', 'CSP check');
      await navigateBy(page, () => page.click('[data-form="push"] button'));
      expect(page.url()).toBe(scenario.url('/?pushed=1'));
      await scenario.waitForBell(page, 3);
      await scenario.openPanel(page);
      expect((await listedMessages(page))[0]?.title).toBe('CSP check');

      expect(watched.violations).toEqual([]);
      const documents = watched.exchanges.filter((exchange) => exchange.resourceType === 'document');
      const pages = documents.filter((exchange) => exchange.status === 200);
      expect(pages.map((exchange) => exchange.url.replace(scenario.demo.url, ''))).toEqual([
        '/',
        '/about',
        '/',
        '/',
        '/about',
        '/about',
        '/',
        '/?pushed=1',
      ]);
      for (const exchange of pages) {
        const policy = (await exchange.responseHeaders)?.['content-security-policy'];
        expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' /);
        expect(policy).not.toContain('unsafe-inline');
      }
      scenario.expectCleanRun(watched, []);

      // The watcher does see a violation when there is one.
      await page.evaluate(() => {
        const script = document.createElement('script');
        script.textContent = 'window.inlineScriptRan = true;';
        document.body.append(script);
      });
      const violation = await waitFor('the violation to be reported', () => watched.violations[0]);
      expect(violation).toMatchObject({ directive: 'script-src-elem', blockedURI: 'inline' });
      expect(
        await page.evaluate(() => (window as unknown as { inlineScriptRan?: boolean }).inlineScriptRan),
      ).toBe(undefined);
      expect(watched.consoleErrors().map((entry) => entry.text)).toEqual([
        expect.stringMatching(
          /^Executing inline script violates the following Content Security Policy directive/,
        ),
      ]);
    },
    testTimeoutMs,
  );

  it(
    "passes the page's language to init, and the widget's labels follow it",
    async () => {
      const scenario = await startScenario();
      const { page, watched } = await scenario.openPage();
      await page.goto(scenario.url('/'));
      await scenario.signIn(page, 'anna');

      const expectLanguage = async (language: 'en' | 'uk' | 'de') => {
        expect(await page.getAttribute('html', 'lang')).toBe(language);
        expect(await initCalls(page)).toEqual([
          { features: { APP_INBOX: true }, language, hasTokenCallback: true },
        ]);
        const handed = await page.getAttribute('script[data-reteno-config]', 'data-reteno-config');
        expect(JSON.parse(handed ?? '{}')).toMatchObject({ language });
        await scenario.waitForBell(page, 2);
        expect(await page.locator(bell).getAttribute('aria-label')).toBe(bellNames[language][2]);
        await scenario.openPanel(page);
        expect(await panelLabels(page)).toEqual(labels[language]);
        expect(await page.locator(panel).getAttribute('lang')).toBe(language);
      };

      await expectLanguage('en');
      await navigateBy(page, () => page.click('[data-lang="uk"]'));
      expect(page.url()).toBe(scenario.url('/'));
      await expectLanguage('uk');
      await page.goto(scenario.url('/about'));
      await navigateBy(page, () => page.click('[data-lang="de"]'));
      expect(page.url()).toBe(scenario.url('/about'));
      await expectLanguage('de');

      // One token per signed-in page: /, / in Ukrainian, /about in Ukrainian, /about in German.
      const tokenRequests = await settledExchanges(
        'the tokens answered',
        () => scenario.tokenRequests(watched),
        4,
      );
      expect(tokenRequests.map((exchange) => exchange.status)).toEqual([200, 200, 200, 200]);
      scenario.expectCleanRun(watched, []);
    },
    testTimeoutMs,
  );

  it(
    'fits a 375 px wide screen in en, uk and de: nothing overflows sideways or is clipped, with the panel open too',
    async () => {
      const scenario = await startScenario();
      const { page, watched } = await scenario.openPage({ viewport: { width: 375, height: 800 } });

      /**
       * How wide the document is; the header's links and buttons that do not fit their box or the screen, or whose
       * words break onto a second line; and how many rows the language buttons take.
       */
      const layout = () =>
        page.evaluate((bell) => {
          const lines = (element: Element) => {
            const range = document.createRange();
            range.selectNodeContents(element);
            return new Set(Array.from(range.getClientRects(), (rect) => Math.round(rect.bottom))).size;
          };
          const parts = Array.from(
            document.querySelectorAll('header :is(a, button), [data-reteno-inbox-panel] button'),
          ).filter((part) => part.getClientRects().length > 0);
          const languageRows = Array.from(document.querySelectorAll('[data-lang]'), (button) =>
            Math.round(button.getBoundingClientRect().top),
          );
          return {
            documentWidth: document.documentElement.scrollWidth,
            clipped: parts
              .filter((part) => {
                const rect = part.getBoundingClientRect();
                return part.scrollWidth > part.clientWidth || rect.left < 0 || rect.right > window.innerWidth;
              })
              .map((part) => part.textContent?.trim()),
            brokenInHeader: parts
              // The bell has no words, only an icon and a badge of different heights.
              .filter((part) => part.closest('header') && !part.matches(bell) && lines(part) > 1)
              .map((part) => part.textContent?.trim()),
            languageRows: new Set(languageRows).size,
          };
        }, widget.bell);
      const expectFits = async () => {
        const { documentWidth, ...problems } = await layout();
        expect(problems).toEqual({ clipped: [], brokenInHeader: [], languageRows: 1 });
        expect(documentWidth).toBeLessThanOrEqual(375);
      };

      await page.goto(scenario.url('/'));
      await expectFits();
      await scenario.signIn(page, 'anna');
      for (const language of ['en', 'uk', 'de'] as const) {
        if (language !== 'en') await navigateBy(page, () => page.click(`[data-lang="${language}"]`));
        await scenario.waitForBell(page, 2);
        await expectFits();
        await scenario.openPanel(page);
        expect(await panelLabels(page)).toEqual(labels[language]);
        await expectFits();
        await saveArtefactScreenshot(page, `demo-375-${language}`);
      }

      await page.keyboard.press('Escape');
      await page.setViewportSize({ width: 1280, height: 800 });
      await scenario.openPanel(page);
      expect(await layout()).toMatchObject({ clipped: [], brokenInHeader: [], languageRows: 1 });
      await saveArtefactScreenshot(page, 'demo-1280-de');
      scenario.expectCleanRun(watched, []);
    },
    testTimeoutMs,
  );

  it(
    'keeps the site fast and working while Reteno hangs or fails; the widget gives up quietly',
    async () => {
      const scenario = await startScenario({ timeout: 1500 });
      const { emulator } = scenario;
      const { page, watched } = await scenario.openPage();
      await page.goto(scenario.url('/'));

      let stops = 0;
      /** Clicks, checks the next page came at once and shows `heading`, then waits for the widget to give up. */
      const step = async (selector: string, heading: string, widgetOutcome: number | 'none') => {
        await navigateBy(page, () => page.click(selector));
        expect(await domContentLoadedMs(page)).toBeLessThan(1000);
        expect(await page.textContent('h1')).toBe(heading);
        if (widgetOutcome === 'none') {
          expect(await typeofES(page)).toBe('undefined');
          return;
        }
        stops += 1;
        await waitFor('the widget to give up', () => stopNotices(watched, page).length === stops);
        expect(stopNotices(watched, page).at(-1)).toBe(
          `getAuthTokenCallback failed (Reteno token: HTTP ${widgetOutcome}).`,
        );
        expect(await page.locator('#inbox-bell').innerHTML()).toBe('');
      };

      emulator.fail({ kind: 'timeout', route: 'all' });
      await step('[data-user="anna"]', 'Hello, Anna!', 504);
      await step('[data-lang="uk"]', 'Вітаємо, Anna!', 504);
      // Signing out ends the session, and the language chosen in it.
      await step('[data-action="sign-out"]', 'Demo shop', 'none');

      emulator.clearFaults();
      emulator.fail({ kind: 'status', status: 500, route: 'all' });
      await step('[data-user="anna"]', 'Hello, Anna!', 502);
      await step('[data-lang="de"]', 'Hallo, Anna!', 502);
      await step('[data-action="sign-out"]', 'Demo shop', 'none');

      expect(stopNotices(watched, page)).toEqual([
        'getAuthTokenCallback failed (Reteno token: HTTP 504).',
        'getAuthTokenCallback failed (Reteno token: HTTP 504).',
        'getAuthTokenCallback failed (Reteno token: HTTP 502).',
        'getAuthTokenCallback failed (Reteno token: HTTP 502).',
      ]);
      expect(scenario.tokenRequests(watched).map((exchange) => exchange.status)).toEqual([
        504, 504, 502, 502,
      ]);
      const askedReteno = emulator.requests.filter((request) => request.path === retenoTokenPath);
      // Hung requests never got an answer; a 500 is retried twice.
      expect(askedReteno.map((request) => request.status)).toEqual([
        null,
        null,
        500,
        500,
        500,
        500,
        500,
        500,
      ]);
      expect(emulator.requests.filter((request) => request.path.startsWith('/appinbox/'))).toEqual([]);
      scenario.expectCleanRun(watched, [
        failedToLoad(504, tokenRoute),
        failedToLoad(504, tokenRoute),
        failedToLoad(502, tokenRoute),
        failedToLoad(502, tokenRoute),
      ]);
    },
    testTimeoutMs,
  );

  it(
    'keeps keyboard focus on a message while polls refresh the open panel, so Enter still opens it',
    async () => {
      const scenario = await startScenario();
      const { emulator } = scenario;
      const { page, watched } = await scenario.signedInTab('anna', 2);
      await scenario.openPanel(page);

      const welcome = emulator.messagesOf(anna)[1];
      if (!welcome) throw new Error('Anna has no second message');
      const item = `[data-reteno-inbox-message][data-id="${welcome.id}"]`;
      await page.focus(item);
      const listCalls = () =>
        emulator.requests.filter(
          (request) => request.path === '/appinbox/v1/messages' && request.status === 200,
        ).length;
      const before = listCalls();
      await waitFor('two list refreshes while the panel is open', () => listCalls() >= before + 2);
      expect(await page.evaluate(() => document.activeElement?.getAttribute('data-id'))).toBe(welcome.id);

      await page.keyboard.press('Enter');
      await page.waitForSelector(`${item}[data-status="OPENED"]`);
      await scenario.waitForBell(page, 1);
      expect(emulator.messagesOf(anna).map((message) => message.status)).toEqual(['UNOPENED', 'OPENED']);
      scenario.expectCleanRun(watched, []);
    },
    testTimeoutMs,
  );

  it(
    'keeps two users apart: each browser sees only their own inbox',
    async () => {
      const scenario = await startScenario();
      const { emulator } = scenario;
      const annas = await scenario.openPage();
      const tarass = await scenario.openPage();
      await Promise.all([annas.page.goto(scenario.url('/')), tarass.page.goto(scenario.url('/'))]);
      await Promise.all([scenario.signIn(annas.page, 'anna'), scenario.signIn(tarass.page, 'taras')]);
      await Promise.all([scenario.waitForBell(annas.page, 2), scenario.waitForBell(tarass.page, 1)]);

      await Promise.all([scenario.openPanel(annas.page), scenario.openPanel(tarass.page)]);
      expect((await listedMessages(annas.page)).map((message) => message.title)).toEqual([
        'Your order has shipped',
        'Welcome to the shop',
      ]);
      expect((await listedMessages(tarass.page)).map((message) => message.title)).toEqual(['Вітаємо!']);
      expect((await panelLabels(tarass.page)).title).toBe(labels.uk.title);
      const tokenBodies = emulator.requests
        .filter((request) => request.path === retenoTokenPath)
        .map((request) => JSON.stringify(request.body));
      expect(tokenBodies.sort()).toEqual([JSON.stringify(anna), JSON.stringify(taras)].sort());

      // A message for Taras reaches Taras alone: Anna's bell keeps its count through the polls that follow.
      emulator.pushMessage(taras, { title: 'Тільки для Тараса', content: 'Особисте повідомлення.' });
      const pushedAt = Date.now();
      await scenario.waitForBell(tarass.page, 2);
      await waitFor(
        "two of Anna's polls after the push",
        () =>
          emulator.requests.filter(
            (request) =>
              request.path === countPath &&
              request.at > pushedAt &&
              request.status === 200 &&
              annas.watched.exchanges.some(
                (exchange) => exchange.headers['es-token'] === request.headers['es-token'],
              ),
          ).length >= 2,
      );
      await scenario.waitForBell(annas.page, 2);
      expect((await listedMessages(annas.page)).map((message) => message.title)).not.toContain(
        'Тільки для Тараса',
      );
      scenario.expectCleanRun(annas.watched, []);
      scenario.expectCleanRun(tarass.watched, []);
    },
    testTimeoutMs,
  );
});
