// The demo is plain JavaScript that imports the built package, as a site would.
import { createDemo } from '../../examples/demo/server.js';
import type { RetenoEmulator } from '../../src/emulator/index.js';
import {
  describeInChromium,
  listedMessages,
  navigateBy,
  openPanel,
  useChromium,
  waitForBellCount,
} from '../helpers/browser.js';

const testTimeoutMs = 40_000;
const bell = '#inbox-bell [data-reteno-inbox-bell]';

describeInChromium('a new sign-up on the demo (Chromium)', () => {
  const chromium = useChromium('sign-up', testTimeoutMs);

  it(
    'confirms the e-mail through the mailbox, then sees the bell on the first page and a message pushed to them',
    async () => {
      const demo = await createDemo({ port: 0, env: { DEMO_POLL_INTERVAL_MS: '400' }, log: () => {} });
      chromium.afterTest(() => demo.close());
      // Typed here: before a build, the demo's import of the package's emulator has no types to give.
      const emulator: RetenoEmulator | undefined = demo.emulator;
      if (!emulator) throw new Error('The demo started without its emulator');
      const email = `new-reader-${Date.now()}@example.com`;
      expect(emulator.contacts().some((contact) => contact.email === email)).toBe(false);

      const { page, watched } = await chromium.openPage();
      await page.goto(`${demo.url}/`);
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
      const tokenCalls = watched.exchanges.filter(
        (exchange) => exchange.url === `${demo.url}/reteno/app-inbox/token`,
      );
      expect(tokenCalls.map((exchange) => exchange.status)).toEqual([200]);

      await page.fill('[data-form="push"] input[name="title"]', 'Welcome aboard');
      await navigateBy(page, () => page.click('[data-form="push"] button'));
      await waitForBellCount(page, 1, bell);
      await openPanel(page, bell);
      expect((await listedMessages(page)).map((message) => message.title)).toEqual(['Welcome aboard']);
      expect(watched.pageErrors).toEqual([]);
    },
    testTimeoutMs,
  );
});
