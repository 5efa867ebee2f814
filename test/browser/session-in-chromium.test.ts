import type { Page } from 'playwright-core';
// The demo is plain JavaScript that imports the built package, as a site would.
import { createDemo } from '../../examples/demo/server.js';
import {
  describeInChromium,
  expectCleanRun,
  failedToLoad,
  navigateBy,
  stopNotices,
  typeofES,
  urlsRelativeTo,
  useChromium,
  type WatchedContext,
  waitFor,
  waitForBellCount,
} from '../helpers/browser.js';

const testTimeoutMs = 40_000;
// Slower than the 2 s the other tabs have: only the tabs telling each other can clear a bell that fast.
const pollIntervalMs = 2500;
const bell = '#inbox-bell [data-reteno-inbox-bell]';
const tokenRoute = '/reteno/app-inbox/token';

describeInChromium('signing out reaches every tab, in Chromium', () => {
  const chromium = useChromium('session', testTimeoutMs);

  async function startDemo() {
    const demo = await createDemo({
      port: 0,
      env: { DEMO_POLL_INTERVAL_MS: String(pollIntervalMs) },
      log: () => {},
    });
    chromium.afterTest(() => demo.close());
    const emulator = demo.emulator;
    if (!emulator) throw new Error('The demo started without its emulator');
    const where = urlsRelativeTo([
      ['emulator', emulator.url],
      ['', demo.url],
    ]);
    return {
      url: (path: string) => `${demo.url}${path}`,
      /** No uncaught error, no CSP violation, no console error or warning beyond the ones listed. */
      expectCleanRun: (watched: WatchedContext, errors: string[] = []) =>
        expectCleanRun(watched, { errors }, where),
    };
  }

  /** Two tabs of one browser, both showing Anna's inbox. */
  async function twoTabsOfAnna(url: (path: string) => string) {
    const { page: first, watched } = await chromium.openPage();
    await first.goto(url('/'));
    await navigateBy(first, () => first.click('[data-user="anna"]'));
    await waitForBellCount(first, 2, bell);
    const second = await watched.newPage();
    await second.goto(url('/'));
    await waitForBellCount(second, 2, bell);
    await markDocument(first);
    return { first, second, watched };
  }

  /** Marks the page's current document, so that a test can tell whether the tab loaded another one. */
  function markDocument(page: Page) {
    return page.evaluate(() => {
      (window as unknown as { sameDocument: boolean }).sameDocument = true;
    });
  }

  function isSameDocument(page: Page) {
    return page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true);
  }

  it(
    'reloads the other tab within 2 s of signing out in one: its bell is gone and it shows the signed-out page',
    async () => {
      const demo = await startDemo();
      const { first, second, watched } = await twoTabsOfAnna(demo.url);

      const reloaded = first.waitForEvent('domcontentloaded');
      await navigateBy(second, () => second.click('[data-action="sign-out"]'));
      const signedOutAt = Date.now();
      await reloaded;
      expect(Date.now() - signedOutAt).toBeLessThan(2000);

      expect(await isSameDocument(first)).toBe(false);
      expect(await first.locator('[data-form="sign-in"]').count()).toBe(1);
      expect(await first.locator('[data-reteno-inbox-bell]').count()).toBe(0);
      expect(await typeofES(first)).toBe('undefined');
      expect(await typeofES(second)).toBe('undefined');
      demo.expectCleanRun(watched);
    },
    testTimeoutMs,
  );

  it(
    "stops showing the first user's inbox when a second user signs in in another tab",
    async () => {
      const demo = await startDemo();
      const { first, second, watched } = await twoTabsOfAnna(demo.url);

      // Taras signs in while Anna still is (the demo shows its sign-in form to anonymous visitors only); the
      // session's language stays.
      const reloaded = first.waitForEvent('domcontentloaded');
      await navigateBy(second, () =>
        second.evaluate(() => {
          const form = document.createElement('form');
          form.method = 'post';
          form.action = '/sign-in';
          const user = form.appendChild(document.createElement('input'));
          user.name = 'user';
          user.value = 'taras';
          document.body.appendChild(form);
          form.submit();
        }),
      );
      const signedInAt = Date.now();
      expect(await second.textContent('h1')).toBe('Hello, Taras!');
      await reloaded;
      expect(Date.now() - signedInAt).toBeLessThan(2000);

      expect(await isSameDocument(first)).toBe(false);
      expect(await first.textContent('h1')).toBe('Hello, Taras!');
      // Taras has one message, Anna two: the bell is Taras's.
      await waitForBellCount(first, 1, bell);
      await waitForBellCount(second, 1, bell);
      demo.expectCleanRun(watched);
    },
    testTimeoutMs,
  );

  it(
    'keeps a tab whose visitor is typing: hides its bell, keeps the text, refuses tokens, reloads once the field is left',
    async () => {
      const demo = await startDemo();
      const { first, second, watched } = await twoTabsOfAnna(demo.url);
      const title = first.locator('input[name="title"]');
      await title.click();
      await title.pressSequentially('Half a sent');

      await navigateBy(second, () => second.click('[data-action="sign-out"]'));
      await first.waitForSelector(bell, { state: 'detached', timeout: 2000 });
      expect(await first.locator('[data-reteno-inbox-panel]').count()).toBe(0);
      expect(await isSameDocument(first)).toBe(true);
      expect(await title.inputValue()).toBe('Half a sent');
      expect(await first.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('title');
      await title.pressSequentially('ence');
      expect(await title.inputValue()).toBe('Half a sentence');

      // The demo's sign-out ended Anna's tokens: at its next poll the widget asks for a new one and is refused
      // by the page itself, without a call to the token route.
      const tokenCalls = () =>
        watched.exchanges.filter(
          (exchange) => exchange.url === demo.url(tokenRoute) && exchange.page === first,
        );
      const callsBefore = tokenCalls().length;
      await waitFor('the widget to stop', () => stopNotices(watched, first).length > 0, 3 * pollIntervalMs);
      expect(stopNotices(watched, first)).toEqual([
        'getAuthTokenCallback failed (Reteno inbox: the visitor changed in another tab).',
      ]);
      expect(tokenCalls()).toHaveLength(callsBefore);
      expect(await isSameDocument(first)).toBe(true);

      // Leaving the field (here for the page's heading) loads the signed-out page.
      await navigateBy(first, () => first.click('h1'));
      expect(await isSameDocument(first)).toBe(false);
      expect(await first.locator('[data-form="sign-in"]').count()).toBe(1);
      demo.expectCleanRun(watched, [failedToLoad(401, 'emulator/appinbox/v1/messages/count')]);
    },
    testTimeoutMs,
  );
});
