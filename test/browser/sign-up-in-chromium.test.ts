import { describeInChromium, listedMessages, navigateBy, useChromium } from '../helpers/browser.js';
import { demoBell as bell, demoScenarios } from '../helpers/demo-scenario.js';

const testTimeoutMs = 40_000;

describeInChromium('a new sign-up on the demo (Chromium)', () => {
  const chromium = useChromium('sign-up', testTimeoutMs);
  const startScenario = demoScenarios(chromium, { pollIntervalMs: 400 });

  it(
    'confirms the e-mail through the mailbox, then sees the bell on the first page and a message pushed to them',
    async () => {
      const scenario = await startScenario();
      const { emulator } = scenario;
      const email = `new-reader-${Date.now()}@example.com`;
      expect(emulator.contacts().some((contact) => contact.email === email)).toBe(false);

      const { page, watched } = await scenario.openPage();
      await page.goto(scenario.url('/'));
      await page.fill('[data-form="sign-up"] input[name="name"]', 'Mariia');
      await page.fill('[data-form="sign-up"] input[name="email"]', email);
      await navigateBy(page, () => page.click('[data-form="sign-up"] button'));
      // Not signed in yet: no inbox, and nothing in Reteno, until the e-mail is confirmed.
      await expect(page.textContent('h1')).resolves.toBe('Check your mailbox');
      expect(await page.$$('script')).toHaveLength(0);
      expect(emulator.contacts().some((contact) => contact.email === email)).toBe(false);

      // The demo's development mailbox stands in for the reader's own.
      await navigateBy(page, () => page.click('[data-link="mailbox"]'));
      await navigateBy(page, () => page.click(`[data-mail="${email}"] [data-link="confirm"]`));
      await navigateBy(page, () => page.click('[data-form="confirm"] button'));
      await expect(page.textContent('h1')).resolves.toBe('Hello, Mariia!');

      // The first page: the token route created the contact in Reteno and the bell is there.
      await page.waitForSelector(bell, { timeout: 10_000 });
      const created = emulator.contacts().find((contact) => contact.email === email);
      expect(created).toMatchObject({ createdBy: 'contact-api', firstName: 'Mariia', languageCode: 'en' });
      expect(scenario.tokenRequests(watched).map((exchange) => exchange.status)).toEqual([200]);

      await page.fill('[data-form="push"] input[name="title"]', 'Welcome aboard');
      await navigateBy(page, () => page.click('[data-form="push"] button'));
      await scenario.waitForBell(page, 1);
      await scenario.openPanel(page);
      expect((await listedMessages(page)).map((message) => message.title)).toEqual(['Welcome aboard']);
      expect(watched.pageErrors).toEqual([]);
    },
    testTimeoutMs,
  );
});
