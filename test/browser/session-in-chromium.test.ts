import type { Page } from 'playwright-core';
import {
  describeInChromium,
  navigateBy,
  observeQuietPeriod,
  stopNotices,
  typeofES,
  useChromium,
} from '../helpers/browser.js';
import {
  type DemoScenario,
  demoBell as bell,
  demoScenarios,
  isSameDocument,
  markDocument,
} from '../helpers/demo-scenario.js';

const testTimeoutMs = 40_000;
// Slower than the 2 s the other tabs have: only the visitor cookie can clear a bell that fast.
const pollIntervalMs = 2500;

describeInChromium('signing out reaches every tab, in Chromium', () => {
  const chromium = useChromium('session', testTimeoutMs);
  const startScenario = demoScenarios(chromium, { pollIntervalMs });

  /** Two tabs of one browser, both showing Anna's inbox; the first one's document marked. */
  async function twoTabsOfAnna(scenario: DemoScenario) {
    const { page: first, watched } = await scenario.signedInTab('anna', 2);
    const second = await watched.newPage();
    await second.goto(scenario.url('/'));
    await scenario.waitForBell(second, 2);
    await markDocument(first);
    return { first, second, watched };
  }

  /** Submits a form from the page, as a button of the site would. */
  function submitForm(page: Page, action: string, fields: Record<string, string>) {
    return navigateBy(page, () =>
      page.evaluate(
        ([formAction, values]) => {
          const form = document.createElement('form');
          form.method = 'post';
          form.action = formAction;
          for (const [name, value] of Object.entries(values)) {
            const input = form.appendChild(document.createElement('input'));
            input.type = 'hidden';
            input.name = name;
            input.value = value;
          }
          document.body.appendChild(form);
          form.submit();
        },
        [action, fields] as const,
      ),
    );
  }

  it(
    'reloads the other tab within 2 s of signing out in one: its bell is gone and it shows the signed-out page',
    async () => {
      const scenario = await startScenario();
      const { first, second, watched } = await twoTabsOfAnna(scenario);

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
      scenario.expectCleanRun(watched);
    },
    testTimeoutMs,
  );

  it(
    'reloads the other tab within 2 s also when the page after signing out has no layout, and so no template line',
    async () => {
      const scenario = await startScenario();
      const { first, second, watched } = await twoTabsOfAnna(scenario);

      const reloaded = first.waitForEvent('domcontentloaded');
      await submitForm(second, '/sign-out', { next: '/goodbye' });
      const signedOutAt = Date.now();
      expect(await second.textContent('h1')).toBe('You are signed out.');
      expect(await second.locator('script').count()).toBe(0);
      await reloaded;
      expect(Date.now() - signedOutAt).toBeLessThan(2000);

      expect(await isSameDocument(first)).toBe(false);
      expect(await first.locator('[data-form="sign-in"]').count()).toBe(1);
      expect(await first.locator('[data-reteno-inbox-bell]').count()).toBe(0);
      scenario.expectCleanRun(watched);
    },
    testTimeoutMs,
  );

  it(
    "stops showing the first user's inbox when a second user signs in in another tab",
    async () => {
      const scenario = await startScenario();
      const { first, second, watched } = await twoTabsOfAnna(scenario);

      // Taras signs in while Anna still is (the demo shows its sign-in form to anonymous visitors only); the
      // session's language stays.
      const reloaded = first.waitForEvent('domcontentloaded');
      await submitForm(second, '/sign-in', { user: 'taras' });
      const signedInAt = Date.now();
      expect(await second.textContent('h1')).toBe('Hello, Taras!');
      await reloaded;
      expect(Date.now() - signedInAt).toBeLessThan(2000);

      expect(await isSameDocument(first)).toBe(false);
      expect(await first.textContent('h1')).toBe('Hello, Taras!');
      // Taras has one message, Anna two: the bell is Taras's.
      await scenario.waitForBell(first, 1);
      await scenario.waitForBell(second, 1);
      scenario.expectCleanRun(watched);
    },
    testTimeoutMs,
  );

  it(
    'keeps a tab whose visitor is typing: its bell goes, the text stays, no token is asked, it reloads once the field is left',
    async () => {
      const scenario = await startScenario();
      const { first, second, watched } = await twoTabsOfAnna(scenario);
      const title = first.locator('input[name="title"]');
      await title.click();
      await title.pressSequentially('Half a sent');

      await navigateBy(second, () => second.click('[data-action="sign-out"]'));
      // The emulator's widget hears the change from the page and stops at once.
      await first.waitForSelector(bell, { state: 'detached', timeout: 2000 });
      expect(stopNotices(watched, first)).toEqual(['the visitor changed in another tab.']);
      expect(await first.locator('[data-reteno-inbox-panel]').count()).toBe(0);
      expect(await isSameDocument(first)).toBe(true);
      expect(await title.inputValue()).toBe('Half a sent');
      expect(await first.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('title');
      await title.pressSequentially('ence');
      expect(await title.inputValue()).toBe('Half a sentence');

      // Nothing asks the token route for Anna any more: the widget stopped, and the page would refuse it.
      const callsBefore = scenario.tokenRequests(watched, first).length;
      await observeQuietPeriod(pollIntervalMs);
      expect(scenario.tokenRequests(watched, first)).toHaveLength(callsBefore);
      expect(await isSameDocument(first)).toBe(true);

      // Leaving the field (here for the page's heading) loads the signed-out page.
      await navigateBy(first, () => first.click('h1'));
      expect(await isSameDocument(first)).toBe(false);
      expect(await first.locator('[data-form="sign-in"]').count()).toBe(1);
      scenario.expectCleanRun(watched);
    },
    testTimeoutMs,
  );
});
