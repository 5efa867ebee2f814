import type { Route } from 'playwright-core';
import { createRetenoEmulator, type LoggedRequest, type RetenoEmulator } from '../../src/emulator/index.js';
import {
  bellNames,
  type ChromiumSession,
  consoleTexts,
  describeInChromium,
  expectCleanRun,
  focusedElement,
  failedToLoad,
  initCalls,
  listedMessages,
  observeQuietPeriod,
  openPanel,
  panelLabels,
  settledExchanges,
  stopNotices,
  urlsRelativeTo,
  useChromium,
  waitFor,
  waitForBellCount,
  widget,
  widgetLabels,
} from '../helpers/browser.js';
import { type PageSpec, retenoTokenPath, startWidgetSite, type WidgetSite } from '../helpers/widget-site.js';

const apiKey = 'widget-api-key-5e1f';
const scriptId = '3f0c2a9e-5b1d-4c7e-9a8f-0123456789ab';
const pollIntervalMs = 300;
const testTimeoutMs = 30_000;
/** Long enough for three polls: what the widget does not do in that time, it does not do. */
const quietMs = 3 * pollIntervalMs;

const countPath = '/appinbox/v1/messages/count';
const listPath = '/appinbox/v1/messages';
const statusPath = '/appinbox/v1/messages/status';

let chromium: ChromiumSession;
let site: WidgetSite;
/** Three emulators that differ only in where their widget puts the bell. */
let emulators: { corner: RetenoEmulator; slot: RetenoEmulator; invalidSelector: RetenoEmulator };
/** `site/…` or `emulator/…`: where a console line comes from, without the port numbers. */
function where(url: string): string {
  const bases = Object.values(emulators).map((emulator): [string, string] => ['emulator', emulator.url]);
  return urlsRelativeTo([...bases, ['site', site.url]])(url);
}

/** Requests the App Inbox API received (preflights left out), oldest first. */
function inboxRequests(emulator: RetenoEmulator, since = 0): LoggedRequest[] {
  return emulator.requests
    .slice(since)
    .filter((request) => request.path.startsWith('/appinbox/') && request.method !== 'OPTIONS');
}

/** Requests after the first `since` that are not CORS preflights. */
function requestsSince(emulator: RetenoEmulator, since: number): LoggedRequest[] {
  return emulator.requests.slice(since).filter((request) => request.method !== 'OPTIONS');
}

/** A logged request's path, with its query string when it had one. */
function pathAndQuery(request: LoggedRequest): string {
  const query = new URLSearchParams(request.query).toString();
  return query === '' ? request.path : `${request.path}?${query}`;
}

describeInChromium("the emulator's widget in Chromium", () => {
  chromium = useChromium('widget', testTimeoutMs);

  beforeAll(async () => {
    const options = { apiKey, scriptId, pollIntervalMs };
    const [corner, slot, invalidSelector] = await Promise.all([
      createRetenoEmulator(options),
      createRetenoEmulator({ ...options, bellSelector: '#bell-slot' }),
      createRetenoEmulator({ ...options, bellSelector: '#bell-slot[' }),
    ]);
    emulators = { corner, slot, invalidSelector };
    site = await startWidgetSite({ apiKey, scriptId });
  }, testTimeoutMs);

  // After the test's browser contexts are closed, so that no late poll lands in the next test's log.
  afterEach(() => {
    for (const emulator of Object.values(emulators ?? {})) {
      emulator.clearFaults();
      emulator.clearRequests();
    }
  });

  afterAll(async () => {
    await site?.close();
    await Promise.all(Object.values(emulators ?? {}).map((emulator) => emulator.close()));
  }, testTimeoutMs);

  test(
    "runs under a strict CSP (nonce scripts, style-src 'self', Trusted Types) without a violation, inline style or eval",
    async () => {
      const emulator = emulators.corner;
      const reader = site.newReader(emulator);
      const older = emulator.pushMessage(reader, { title: 'Welcome', content: 'Glad you are here.' });
      emulator.pushMessage(reader, {
        title: 'Order shipped',
        content: 'It is on its way.',
        link: 'https://example.com/orders/1',
      });
      const { page, watched } = await site.openPage(chromium, { emulator, contact: reader });

      const policy = (
        await watched.exchanges.find((exchange) => exchange.resourceType === 'document')?.responseHeaders
      )?.['content-security-policy'];
      expect(policy).toContain("require-trusted-types-for 'script'");
      expect(policy).toContain("style-src 'self'");
      expect(policy).not.toMatch(/unsafe-|'strict-dynamic'|\*/);

      // Every state the widget has: bell, open panel with messages, a message opened, closed again.
      await waitForBellCount(page, 2);
      await openPanel(page);
      const olderItem = `${widget.message}[data-id="${older.id}"]`;
      await page.click(`${olderItem} [data-reteno-inbox-message-content]`);
      await page.waitForSelector(`${olderItem}[data-status="OPENED"]`);
      await waitForBellCount(page, 1);
      await page.click('[data-reteno-inbox-close]');
      await page.waitForSelector(widget.panel, { state: 'hidden' });

      // Styles came through the CSSOM, which style-src 'self' allows, and no style sheet was added.
      const looks = await page.evaluate(
        ([bell, message, id]) => {
          const style = (selector: string) => {
            const found = document.querySelector(selector);
            return found ? getComputedStyle(found) : null;
          };
          return {
            styleSheets: document.querySelectorAll('style, link[rel~="stylesheet"]').length,
            bellRadius: style(bell)?.borderTopLeftRadius,
            bellPosition: style(bell)?.position,
            unread: style(`${message}:not([data-id="${id}"])`)?.backgroundColor,
            read: style(`${message}[data-id="${id}"]`)?.backgroundColor,
          };
        },
        [widget.bell, widget.message, older.id] as const,
      );
      expect(looks).toEqual({
        styleSheets: 0,
        bellRadius: '18px',
        bellPosition: 'fixed',
        unread: 'rgb(238, 244, 255)',
        read: 'rgba(0, 0, 0, 0)',
      });
      expectCleanRun(watched, {}, where);

      // The page does report an inline style, an eval and an HTML string: the silence above means something.
      // They run in a task of the page's own, as the widget's code does; code evaluated for a test may eval.
      const outcomes = await page.evaluate(
        () =>
          new Promise((resolve) => {
            const attempt = (action: () => void) => {
              try {
                action();
                return 'ran';
              } catch (error) {
                return (error as Error).name;
              }
            };
            setTimeout(() =>
              resolve({
                styleAttribute: attempt(() => document.body.setAttribute('style', 'color: red')),
                // biome-ignore lint/security/noGlobalEval: the policy must refuse exactly this.
                evalString: attempt(() => eval('1 + 1')),
                htmlString: attempt(() => {
                  document.body.insertAdjacentHTML('beforeend', '<b>bold</b>');
                }),
                color: getComputedStyle(document.body).color,
              }),
            );
          }),
      );
      expect(outcomes).toEqual({
        styleAttribute: 'ran',
        evalString: 'EvalError',
        htmlString: 'TypeError',
        color: 'rgb(0, 0, 0)',
      });
      await waitFor('three violations', () => watched.violations.length >= 3);
      expect(
        watched.violations.map(({ directive, blockedURI, sample }) => ({ directive, blockedURI, sample })),
      ).toEqual([
        { directive: 'style-src-attr', blockedURI: 'inline', sample: '' },
        { directive: 'require-trusted-types-for', blockedURI: 'trusted-types-sink', sample: 'eval|1 + 1' },
        {
          directive: 'require-trusted-types-for',
          blockedURI: 'trusted-types-sink',
          sample: 'Element insertAdjacentHTML|<b>bold</b>',
        },
      ]);
      expect(consoleTexts(watched, 'error')).toEqual([
        expect.stringMatching(/^Applying inline style violates .*'style-src 'self''/),
        expect.stringMatching(/^This document requires 'TrustedScript' assignment/),
        expect.stringMatching(/^This document requires 'TrustedHTML' assignment/),
      ]);
    },
    testTimeoutMs,
  );

  describe('puts the bell', () => {
    test.each([
      {
        placement: 'fixed in the top-right corner when there is no bellSelector',
        emulator: () => emulators.corner,
        bellSlot: true,
        inSlot: false,
        info: [] as string[],
      },
      {
        placement: 'inside the element bellSelector names, in the page flow',
        emulator: () => emulators.slot,
        bellSlot: true,
        inSlot: true,
        info: [],
      },
      {
        placement: 'in the corner when bellSelector matches nothing on the page',
        emulator: () => emulators.slot,
        bellSlot: false,
        inSlot: false,
        info: [],
      },
      {
        placement: 'in the corner, and says why, when bellSelector is not valid CSS',
        emulator: () => emulators.invalidSelector,
        bellSlot: true,
        inSlot: false,
        info: ['[Reteno emulator] bellSelector is not a valid CSS selector; the bell goes in the corner.'],
      },
    ])(
      '$placement',
      async ({ emulator: pick, bellSlot, inSlot, info }) => {
        const emulator = pick();
        const reader = site.newReader(emulator);
        emulator.pushMessage(reader, { title: 'Hello', content: 'A message.' });
        const { page, watched } = await site.openPage(chromium, { emulator, contact: reader, bellSlot });
        await waitForBellCount(page, 1);

        const place = () =>
          page.evaluate((selector) => {
            const bells = document.querySelectorAll(selector);
            const bell = bells[0] as HTMLElement;
            const rect = bell.getBoundingClientRect();
            const slot = document.getElementById('bell-slot')?.getBoundingClientRect();
            return {
              bells: bells.length,
              parent: bell.parentElement?.id || bell.parentElement?.tagName,
              position: getComputedStyle(bell).position,
              top: rect.top,
              right: window.innerWidth - rect.right,
              bottom: rect.bottom,
              withinSlot:
                slot !== undefined &&
                rect.left >= slot.left &&
                rect.top >= slot.top &&
                rect.right <= slot.right &&
                rect.bottom <= slot.bottom,
            };
          }, widget.bell);

        const placed = await place();
        expect(placed.bells).toBe(1);
        if (inSlot) {
          expect(placed).toMatchObject({ parent: 'bell-slot', position: 'static', withinSlot: true });
        } else {
          expect(placed).toMatchObject({ parent: 'BODY', position: 'fixed', top: 16, right: 16 });
        }

        // The page scrolls: a corner bell stays put, one in the header scrolls away with it.
        await page.evaluate(() => {
          const spacer = document.createElement('div');
          spacer.style.setProperty('height', '3000px');
          document.body.append(spacer);
          window.scrollTo(0, 200);
        });
        const scrolled = await place();
        expect(scrolled.top).toBe(inSlot ? placed.top - 200 : 16);
        await page.evaluate(() => window.scrollTo(0, 0));

        // The panel opens just below the bell, wherever the bell is.
        await openPanel(page);
        const panelTop = await page
          .locator(widget.panel)
          .evaluate((panel) => Math.round(panel.getBoundingClientRect().top));
        expect(panelTop).toBe(Math.round(placed.bottom + 8));

        expect(consoleTexts(watched, 'info').map((line) => line.replace(/ @ .*$/, ''))).toEqual(info);
        expectCleanRun(watched, {}, where);
      },
      testTimeoutMs,
    );
  });

  describe("labels the bell and panel in init's language", () => {
    test.each([
      { language: 'en', shown: 'en' },
      { language: 'uk', shown: 'uk' },
      { language: 'de', shown: 'de' },
      { language: 'es', shown: 'es' },
      { language: 'fr', shown: 'fr' },
      { language: 'uk-UA', shown: 'uk' },
      { language: 'DE_at', shown: 'de' },
      { language: 'pt-BR', shown: 'en' },
      { language: 'xx', shown: 'en' },
      { language: undefined, shown: 'en' },
    ] as const)(
      '$language → $shown',
      async ({ language, shown }) => {
        const emulator = emulators.corner;
        const reader = site.newReader(emulator);
        const { page, watched } = await site.openPage(chromium, { emulator, contact: reader, language });
        await waitForBellCount(page, 0);
        expect(await initCalls(page)).toEqual([
          { features: { APP_INBOX: true }, language, hasTokenCallback: true },
        ]);

        const labels = widgetLabels[shown];
        expect(await page.locator(widget.bell).getAttribute('aria-label')).toBe(bellNames[shown][0]);
        await openPanel(page);
        expect(await panelLabels(page)).toEqual(labels);
        expect(await page.locator(widget.panel).getAttribute('lang')).toBe(shown);
        expect(await page.locator(widget.panel).getAttribute('aria-label')).toBe(labels.title);
        expect(await page.locator('[data-reteno-inbox-empty]').isVisible()).toBe(true);
        expect(await page.locator(widget.message).count()).toBe(0);
        expectCleanRun(watched, {}, where);
      },
      testTimeoutMs,
    );
  });

  test(
    'shows message markup as text and renders only http(s) links, safely',
    async () => {
      const emulator = emulators.corner;
      const reader = site.newReader(emulator);
      const safe = emulator.pushMessage(reader, {
        title: 'Order shipped',
        content: 'Track it & see.',
        link: 'https://example.com/orders/1?a=1&b=2',
      });
      const hostile = emulator.pushMessage(reader, {
        title: '<img src=x onerror="window.pwned=1">',
        content: '<b>not bold</b><script>window.pwned=2</script>',
        link: 'javascript:window.pwned=3',
      });
      const dataLink = emulator.pushMessage(reader, {
        title: 'Data link',
        content: 'A data: URL.',
        link: 'data:text/html,<script>window.pwned=4</script>',
      });
      const relative = emulator.pushMessage(reader, {
        title: 'Relative link',
        content: 'No scheme.',
        link: '/orders/2',
      });
      const { page, watched, url } = await site.openPage(chromium, { emulator, contact: reader });
      await waitForBellCount(page, 4);
      await openPanel(page);

      expect((await listedMessages(page)).map((message) => message.id)).toEqual(
        [relative, dataLink, hostile, safe].map((message) => message.id),
      );
      const item = (message: { id: string }) => page.locator(`${widget.message}[data-id="${message.id}"]`);
      const shown = (message: { id: string }) =>
        item(message).evaluate((element) => ({
          elements: Array.from(element.querySelectorAll('*'), (child) => child.tagName),
          title: element.querySelector('[data-reteno-inbox-message-title]')?.textContent,
          content: element.querySelector('[data-reteno-inbox-message-content]')?.textContent,
          time: element.querySelector('time')?.getAttribute('datetime'),
        }));

      // The unread mark (a span and its dot), then the title, the content and the time.
      const unreadElements = ['SPAN', 'SPAN', 'SPAN', 'P', 'TIME'];
      expect(await shown(hostile)).toEqual({
        elements: unreadElements,
        title: hostile.title,
        content: hostile.content,
        time: new Date(hostile.createdDate).toISOString(),
      });
      for (const unsafe of [dataLink, relative]) {
        expect((await shown(unsafe)).elements).toEqual(unreadElements);
      }
      const link = item(safe).locator('a');
      expect(
        await link.evaluate((anchor) => ({
          href: anchor.getAttribute('href'),
          target: anchor.getAttribute('target'),
          rel: anchor.getAttribute('rel'),
          text: anchor.textContent,
        })),
      ).toEqual({
        href: 'https://example.com/orders/1?a=1&b=2',
        target: '_blank',
        rel: 'noopener noreferrer',
        text: 'Order shipped',
      });

      // Opening the hostile message marks it read and runs nothing.
      await item(hostile).locator('[data-reteno-inbox-message-title]').click();
      await page.waitForSelector(`${widget.message}[data-id="${hostile.id}"][data-status="OPENED"]`);
      await waitForBellCount(page, 3);
      expect(await page.evaluate(() => 'pwned' in window)).toBe(false);
      expect(page.url()).toBe(url);
      expect(watched.context.pages()).toHaveLength(1);
      expectCleanRun(watched, {}, where);
    },
    testTimeoutMs,
  );

  test(
    'marks a clicked message read, once, and all of them with "mark all as read"; new mail shows in the open panel',
    async () => {
      const emulator = emulators.corner;
      const reader = site.newReader(emulator);
      const older = emulator.pushMessage(reader, { title: 'Older', content: 'First.' });
      const newer = emulator.pushMessage(reader, { title: 'Newer', content: 'Second.' });
      const { page, watched } = await site.openPage(chromium, { emulator, contact: reader, language: 'uk' });
      await waitForBellCount(page, 2);
      await openPanel(page);

      const olderItem = `${widget.message}[data-id="${older.id}"]`;
      await page.click(`${olderItem} [data-reteno-inbox-message-content]`);
      await page.waitForSelector(`${olderItem}[data-status="OPENED"]`);
      await waitForBellCount(page, 1);
      expect(emulator.messagesOf(reader).map(({ id, status }) => ({ id, status }))).toEqual([
        { id: newer.id, status: 'UNOPENED' },
        { id: older.id, status: 'OPENED' },
      ]);

      // A second click on a read message asks nothing; calls go out in order, so mark-all comes right after.
      await page.click(`${olderItem} [data-reteno-inbox-message-content]`);
      await page.click('[data-reteno-inbox-mark-all]');
      await waitForBellCount(page, 0);
      expect((await listedMessages(page)).map(({ id, status }) => ({ id, status }))).toEqual([
        { id: newer.id, status: 'OPENED' },
        { id: older.id, status: 'OPENED' },
      ]);
      expect(emulator.messagesOf(reader).every((message) => message.status === 'OPENED')).toBe(true);
      const statusCalls = inboxRequests(emulator).filter((request) => request.path === statusPath);
      expect(statusCalls.map(({ method, body, status }) => ({ method, body, status }))).toEqual([
        { method: 'POST', body: { status: 'OPENED', ids: [older.id] }, status: 204 },
        { method: 'POST', body: { status: 'OPENED', ids: null }, status: 204 },
      ]);

      // A message that arrives while the panel is open shows up at the next poll, unread.
      const latest = emulator.pushMessage(reader, { title: 'Latest', content: 'Third.' });
      await waitForBellCount(page, 1);
      await page.waitForSelector(`${widget.message}[data-id="${latest.id}"][data-status="UNOPENED"]`);
      expect((await listedMessages(page)).map((message) => message.title)).toEqual([
        'Latest',
        'Newer',
        'Older',
      ]);
      expectCleanRun(watched, {}, where);
    },
    testTimeoutMs,
  );

  test(
    'keeps a clicked message read when a list refresh already on its way lands first',
    async () => {
      const emulator = emulators.corner;
      const reader = site.newReader(emulator);
      const older = emulator.pushMessage(reader, { title: 'Older', content: 'First.' });
      emulator.pushMessage(reader, { title: 'Newer', content: 'Second.' });
      const { page, watched } = await site.openPage(chromium, { emulator, contact: reader });
      await waitForBellCount(page, 2);
      await openPanel(page);

      // Hold the next poll's list request in the browser, and open a message while it is out.
      let held: Route | undefined;
      await page.route(
        (url) => url.pathname === listPath,
        (route) => {
          held = route;
        },
        { times: 1 },
      );
      const listRefresh = await waitFor('a list refresh to be on its way', () => held);
      const olderItem = `${widget.message}[data-id="${older.id}"]`;
      await page.click(`${olderItem} [data-reteno-inbox-message-content]`);
      // Closed, the panel gets no later refresh that could hide a wrong status.
      await page.click('[data-reteno-inbox-close]');
      await listRefresh.continue();

      await waitForBellCount(page, 1);
      expect(emulator.messagesOf(reader).find((message) => message.id === older.id)?.status).toBe('OPENED');
      expect((await listedMessages(page)).map(({ title, status }) => ({ title, status }))).toEqual([
        { title: 'Newer', status: 'UNOPENED' },
        { title: 'Older', status: 'OPENED' },
      ]);
      expect(await page.locator(olderItem).evaluate((item) => getComputedStyle(item).fontWeight)).toBe('400');
      expectCleanRun(watched, {}, where);
    },
    testTimeoutMs,
  );

  test(
    'moves focus into the panel when it opens, and back to the bell when Close, the bell, Escape or a click outside closes it',
    async () => {
      const emulator = emulators.slot;
      const reader = site.newReader(emulator);
      emulator.pushMessage(reader, { title: 'Hello', content: 'A message.' });
      const { page, watched } = await site.openPage(chromium, { emulator, contact: reader, language: 'de' });
      await waitForBellCount(page, 1);
      const bell = page.locator(widget.bell);
      const panel = page.locator(widget.panel);
      expect(await bell.getAttribute('aria-controls')).toBe(await panel.getAttribute('id'));
      expect(await panel.isHidden()).toBe(true);

      const expectOpen = async (open: boolean, focus: string) => {
        await panel.waitFor({ state: open ? 'visible' : 'hidden' });
        expect(await bell.getAttribute('aria-expanded')).toBe(String(open));
        expect(await focusedElement(page)).toBe(focus);
      };
      const title = 'data-reteno-inbox-title';
      const onBell = 'data-reteno-inbox-bell';

      // By keyboard alone: Enter on the bell, Tab to Close, Enter.
      await bell.focus();
      await page.keyboard.press('Enter');
      await expectOpen(true, title);
      await page.keyboard.press('Tab');
      expect(await focusedElement(page)).toBe('data-reteno-inbox-close');
      await page.keyboard.press('Enter');
      await expectOpen(false, onBell);

      await bell.click();
      await expectOpen(true, title);
      await bell.click();
      await expectOpen(false, onBell);

      await bell.click();
      await expectOpen(true, title);
      await page.locator(widget.message).focus();
      await page.keyboard.press('Escape');
      await expectOpen(false, onBell);
      // Escape with the panel closed changes nothing.
      await page.keyboard.press('Escape');
      await expectOpen(false, onBell);

      // A click on the page outside the panel closes it, as on nothing focusable, focus goes back to the bell.
      await bell.click();
      await expectOpen(true, title);
      await page.click('main h1');
      await expectOpen(false, onBell);

      // A click on a field outside closes it too, and the field keeps the focus the click gave it.
      await page.evaluate(() => {
        const search = document.createElement('input');
        search.setAttribute('aria-label', 'Search');
        // Clear of the panel, which opens over the left of the page below this bell.
        search.style.setProperty('margin-left', '600px');
        document.querySelector('main')?.append(search);
      });
      await bell.click();
      await expectOpen(true, title);
      await page.click('main input');
      await expectOpen(false, 'input');

      // Clicks inside the panel leave it open.
      await bell.click();
      await expectOpen(true, title);
      await page.click('[data-reteno-inbox-title]');
      await page.click(`${widget.message} [data-reteno-inbox-message-content]`);
      await waitForBellCount(page, 0);
      expect(await panel.isVisible()).toBe(true);
      expectCleanRun(watched, {}, where);
    },
    testTimeoutMs,
  );

  test(
    'after a 401 from the App Inbox API, gets a new token through getAuthTokenCallback and repeats the call',
    async () => {
      const emulator = emulators.corner;
      const reader = site.newReader(emulator);
      emulator.pushMessage(reader, { title: 'Hello', content: 'A message.' });
      const { page, watched, tokenRequests } = await site.openPage(chromium, { emulator, contact: reader });
      await waitForBellCount(page, 1);
      const first = await settledExchanges('the first token answered', tokenRequests, 1);
      expect(first.map((exchange) => exchange.status)).toEqual([200]);

      const seen = emulator.requests.length;
      emulator.fail({ kind: 'status', status: 401, times: 1, route: 'inbox' });
      await waitFor(
        'the repeated call answered',
        () => requestsSince(emulator, seen).filter((request) => request.status === 200).length >= 2,
      );
      const [refused, renewal, repeated] = requestsSince(emulator, seen);
      expect(refused).toMatchObject({ method: 'GET', path: countPath, status: 401 });
      expect(renewal).toMatchObject({ method: 'POST', path: retenoTokenPath, body: reader, status: 200 });
      expect(repeated).toMatchObject({ method: 'GET', path: countPath, status: 200 });
      expect(repeated?.headers['es-token']).toEqual(expect.any(String));
      expect(repeated?.headers['es-token']).not.toBe(refused?.headers['es-token']);
      const both = await settledExchanges('the renewal answered in the browser', tokenRequests, 2);
      expect(both.map((exchange) => exchange.status)).toEqual([200, 200]);

      // It carries on with the new token.
      emulator.pushMessage(reader, { title: 'After renewal', content: 'Still here.' });
      await waitForBellCount(page, 2);
      expect(tokenRequests()).toHaveLength(2);
      expect(stopNotices(watched, page)).toEqual([]);
      expectCleanRun(watched, { errors: [failedToLoad(401, `emulator${countPath}`)] }, where);
    },
    testTimeoutMs,
  );

  test(
    'stops quietly when the App Inbox API refuses the fresh token too',
    async () => {
      const emulator = emulators.corner;
      const reader = site.newReader(emulator);
      const { page, watched, tokenRequests } = await site.openPage(chromium, { emulator, contact: reader });
      await waitForBellCount(page, 0);
      await openPanel(page);

      const seen = emulator.requests.length;
      emulator.fail({ kind: 'status', status: 401, times: 2, route: 'inbox' });
      await waitFor('the widget to stop', () => stopNotices(watched, page).length > 0);
      expect(stopNotices(watched, page)).toEqual(['the App Inbox API refused a fresh token.']);
      await page.waitForSelector(widget.bell, { state: 'detached' });
      expect(await page.locator(widget.panel).count()).toBe(0);

      await observeQuietPeriod(quietMs);
      const after = requestsSince(emulator, seen);
      expect(after.map(({ method, path, status }) => ({ method, path, status }))).toEqual([
        { method: 'GET', path: after[0]?.path, status: 401 },
        { method: 'POST', path: retenoTokenPath, status: 200 },
        { method: 'GET', path: after[0]?.path, status: 401 },
      ]);
      expect([countPath, listPath]).toContain(after[0]?.path);
      expect(tokenRequests().map((exchange) => exchange.status)).toEqual([200, 200]);
      const refused = failedToLoad(401, `emulator${after[0] ? pathAndQuery(after[0]) : ''}`);
      expectCleanRun(watched, { errors: [refused, refused] }, where);
    },
    testTimeoutMs,
  );

  test(
    'tolerates two failed calls in a row, and stops quietly at the third: bell and panel gone, no more calls',
    async () => {
      const emulator = emulators.slot;
      const reader = site.newReader(emulator);
      emulator.pushMessage(reader, { title: 'Hello', content: 'A message.' });
      const { page, watched, tokenRequests } = await site.openPage(chromium, { emulator, contact: reader });
      await waitForBellCount(page, 1);

      const seen = emulator.requests.length;
      emulator.fail({ kind: 'status', status: 503, times: 2, route: 'inbox' });
      await waitFor(
        'a call answered after two failures',
        () => inboxRequests(emulator, seen).filter((request) => request.status === 200).length > 0,
      );
      expect(
        inboxRequests(emulator, seen)
          .slice(0, 3)
          .map((request) => request.status),
      ).toEqual([503, 503, 200]);
      emulator.pushMessage(reader, { title: 'Second', content: 'Another message.' });
      await waitForBellCount(page, 2);
      await openPanel(page);
      expect(stopNotices(watched, page)).toEqual([]);

      const failingFrom = emulator.requests.length;
      emulator.fail({ kind: 'status', status: 503, route: 'inbox' });
      await waitFor('the widget to stop', () => stopNotices(watched, page).length > 0);
      expect(stopNotices(watched, page)).toEqual(['the App Inbox API failed 3 times in a row (HTTP 503).']);
      await page.waitForSelector(widget.bell, { state: 'detached' });
      expect(await page.locator(widget.panel).count()).toBe(0);
      expect(await page.locator('#bell-slot').innerHTML()).toBe('');

      await observeQuietPeriod(quietMs);
      const failed = inboxRequests(emulator, failingFrom);
      expect(failed.map((request) => request.status)).toEqual([503, 503, 503]);
      expect(requestsSince(emulator, failingFrom)).toEqual(failed);
      expect(tokenRequests()).toHaveLength(1);
      const failedPaths = inboxRequests(emulator, seen)
        .filter((request) => request.status === 503)
        .map((request) => failedToLoad(503, `emulator${pathAndQuery(request)}`));
      expect(failedPaths).toHaveLength(5);
      expectCleanRun(watched, { errors: failedPaths }, where);
    },
    testTimeoutMs,
  );

  describe('stops quietly, with one console.info and no further calls, when getAuthTokenCallback', () => {
    type TokenRouteSpec = Pick<PageSpec, 'contact' | 'tokenRoute'>;
    const cases = [
      {
        what: 'gives an empty token (Reteno does not know the contact)',
        breakIt: (spec: TokenRouteSpec) => {
          spec.contact = site.stranger();
        },
        notice: 'getAuthTokenCallback gave no token (Reteno may not know this contact).',
        routeStatus: 200,
      },
      {
        what: 'rejects (the token route answers 500)',
        breakIt: (spec: TokenRouteSpec) => {
          spec.tokenRoute = 'fail';
        },
        notice: 'getAuthTokenCallback failed (token route: HTTP 500).',
        routeStatus: 500,
      },
    ];

    test.each(cases)(
      '$what, for the first token',
      async ({ breakIt, notice, routeStatus }) => {
        const emulator = emulators.corner;
        const spec: TokenRouteSpec = { contact: site.newReader(emulator), tokenRoute: 'proxy' };
        breakIt(spec);
        const { page, watched, tokenRequests, tokenUrl } = await site.openPage(chromium, {
          emulator,
          ...spec,
        });
        await waitFor('the widget to stop', () => stopNotices(watched, page).length > 0);
        expect(stopNotices(watched, page)).toEqual([notice]);

        await observeQuietPeriod(quietMs);
        expect(await page.locator(`${widget.bell}, ${widget.panel}`).count()).toBe(0);
        expect(tokenRequests().map((exchange) => exchange.status)).toEqual([routeStatus]);
        // The script, and Reteno's empty answer when the site asked it: no App Inbox call at all.
        expect(
          requestsSince(emulator, 0).map(({ method, path, status }) => ({ method, path, status })),
        ).toEqual([
          { method: 'GET', path: `/scripts/${scriptId}.js`, status: 200 },
          ...(routeStatus === 200 ? [{ method: 'POST', path: retenoTokenPath, status: 200 }] : []),
        ]);
        expect(
          watched.exchanges.filter((exchange) => exchange.url.startsWith(`${emulator.url}/appinbox/`)),
        ).toEqual([]);
        expect(stopNotices(watched, page)).toHaveLength(1);
        expectCleanRun(
          watched,
          { errors: routeStatus === 200 ? [] : [failedToLoad(routeStatus, where(tokenUrl))] },
          where,
        );
      },
      testTimeoutMs,
    );

    test.each(cases)(
      '$what, when renewing a token that ran out',
      async ({ breakIt, notice, routeStatus }) => {
        const emulator = emulators.slot;
        const reader = site.newReader(emulator);
        emulator.pushMessage(reader, { title: 'Hello', content: 'A message.' });
        const { page, watched, tokenRequests, tokenUrl, spec } = await site.openPage(chromium, {
          emulator,
          contact: reader,
        });
        await waitForBellCount(page, 1);
        await openPanel(page);

        breakIt(spec);
        const seen = emulator.requests.length;
        emulator.invalidateTokens(reader);
        await waitFor('the widget to stop', () => stopNotices(watched, page).length > 0);
        expect(stopNotices(watched, page)).toEqual([notice]);
        await page.waitForSelector(widget.bell, { state: 'detached' });
        expect(await page.locator(widget.panel).count()).toBe(0);

        await observeQuietPeriod(quietMs);
        const refused = inboxRequests(emulator, seen);
        expect(refused.map((request) => request.status)).toEqual([401]);
        // The refused call, Reteno's empty answer when the site asked it, and nothing after.
        expect(
          requestsSince(emulator, seen).map(({ method, path, status }) => ({ method, path, status })),
        ).toEqual([
          { method: 'GET', path: refused[0]?.path, status: 401 },
          ...(routeStatus === 200 ? [{ method: 'POST', path: retenoTokenPath, status: 200 }] : []),
        ]);
        expect(tokenRequests().map((exchange) => exchange.status)).toEqual([200, routeStatus]);
        expect(stopNotices(watched, page)).toHaveLength(1);
        expectCleanRun(
          watched,
          {
            errors: [
              failedToLoad(401, `emulator${refused[0] ? pathAndQuery(refused[0]) : ''}`),
              ...(routeStatus === 200 ? [] : [failedToLoad(routeStatus, where(tokenUrl))]),
            ],
          },
          where,
        );
      },
      testTimeoutMs,
    );
  });

  test(
    'warns once on a second eS("init") and keeps to the first: one bell, its language, one token',
    async () => {
      const emulator = emulators.corner;
      const reader = site.newReader(emulator);
      emulator.pushMessage(reader, { title: 'Hello', content: 'A message.' });
      const { page, watched, tokenRequests } = await site.openPage(chromium, {
        emulator,
        contact: reader,
        language: 'uk',
        initLanguages: ['uk', 'de'],
      });
      await waitForBellCount(page, 1);
      expect((await initCalls(page)).map((call) => call.language)).toEqual(['uk', 'de']);

      const polls = () => inboxRequests(emulator).filter((request) => request.path === countPath).length;
      await waitFor('three count polls', () => polls() >= 3);
      expect(await page.locator(widget.bell).count()).toBe(1);
      expect(await page.locator(widget.panel).count()).toBe(1);
      expect(await page.locator(widget.bell).getAttribute('aria-label')).toBe(bellNames.uk[1]);
      expect(tokenRequests()).toHaveLength(1);
      expect(
        watched.exchanges.filter((exchange) => exchange.resourceType === 'script').map((e) => where(e.url)),
      ).toEqual([`emulator/scripts/${scriptId}.js`]);
      expectCleanRun(
        watched,
        {
          warnings: [
            `[Reteno emulator] eS("init") was called again; only the first call of a page counts. @ emulator/scripts/${scriptId}.js`,
          ],
        },
        where,
      );
    },
    testTimeoutMs,
  );
});
