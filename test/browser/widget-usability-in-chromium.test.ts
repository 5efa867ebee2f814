import type { Page } from 'playwright-core';
import { createRetenoEmulator, type RetenoEmulator } from '../../src/emulator/index.js';
import {
  bellNames,
  type ChromiumSession,
  describeInChromium,
  expectCleanRun,
  focusedElement,
  listedMessages,
  openPanel,
  panelLabels,
  saveArtefactScreenshot,
  urlsRelativeTo,
  useChromium,
  waitForBellCount,
  widget,
  widgetLabels,
} from '../helpers/browser.js';
import { startWidgetSite, type WidgetSite } from '../helpers/widget-site.js';

const apiKey = 'widget-usability-api-key-81c3';
const scriptId = '9d2b6f10-7c4e-4a8b-b1d3-5e6f708192a3';
const pollIntervalMs = 300;
const testTimeoutMs = 40_000;
const listPath = '/appinbox/v1/messages';
/** The page size the widget asks for. */
const pageSize = '20';

const showOlder = '[data-reteno-inbox-show-older]';
const badge = '[data-reteno-inbox-badge]';
const unreadMark = '[data-reteno-inbox-unread-mark]';

let chromium: ChromiumSession;
let site: WidgetSite;
/** Puts the bell in the page header's `#bell-slot`. */
let emulator: RetenoEmulator;

function where(url: string): string {
  return urlsRelativeTo([
    ['emulator', emulator.url],
    ['site', site.url],
  ])(url);
}

/** A contact only the running test uses, with `count` messages titled "Message 1" (oldest) to "Message <count>". */
function readerWith(count: number) {
  const reader = site.newReader(emulator);
  for (let number = 1; number <= count; number += 1) {
    emulator.pushMessage(reader, { title: `Message ${number}`, content: `Number ${number}.` });
  }
  return reader;
}

/** Titles the panel lists, top first. */
async function listedTitles(page: Page): Promise<(string | null | undefined)[]> {
  return (await listedMessages(page)).map((message) => message.title);
}

/** Waits until the panel lists `count` messages. */
async function waitForListed(page: Page, count: number): Promise<void> {
  await page.waitForFunction(
    ([selector, wanted]) => document.querySelectorAll(selector).length === wanted,
    [widget.message, count] as const,
    { polling: 50, timeout: 10_000 },
  );
}

/** The pages the widget asked the message list for, in order, each with its page size. */
function listRequests(): { page: string | undefined; pageSize: string | undefined }[] {
  return emulator.requests
    .filter((request) => request.path === listPath && request.method === 'GET')
    .map((request) => ({ page: request.query.page, pageSize: request.query.pageSize }));
}

/**
 * Elements of the bell and the open panel whose text does not fit their box, or that reach past the viewport's
 * edges; and how wide the document is.
 */
function layoutProblems(page: Page) {
  return page.evaluate(
    ([bell, panel, mark]) => {
      const checked = Array.from(
        document.querySelectorAll(`${bell}, ${panel}, ${panel} :is(h2, button, ${mark})`),
      ).filter(
        (element) => element instanceof HTMLElement && element.getClientRects().length > 0,
      ) as HTMLElement[];
      const name = (element: HTMLElement) => `${element.tagName} "${element.textContent?.slice(0, 40)}"`;
      return {
        checked: checked.length,
        clipped: checked
          .filter((element) => element.scrollWidth > element.clientWidth)
          .map((element) => `${name(element)}: ${element.scrollWidth} > ${element.clientWidth}`),
        offScreen: checked
          .filter((element) => {
            const rect = element.getBoundingClientRect();
            return rect.left < 0 || rect.right > window.innerWidth;
          })
          .map(name),
        documentWidth: document.documentElement.scrollWidth,
      };
    },
    [widget.bell, widget.panel, unreadMark] as const,
  );
}

describeInChromium(
  "the emulator's widget: older messages, keyboard, screen readers and small screens",
  () => {
    chromium = useChromium('widget-usability', testTimeoutMs);

    beforeAll(async () => {
      emulator = await createRetenoEmulator({ apiKey, scriptId, pollIntervalMs, bellSelector: '#bell-slot' });
      site = await startWidgetSite({ apiKey, scriptId });
    }, testTimeoutMs);

    // After the test's browser contexts are closed, so that no late poll lands in the next test's log.
    afterEach(() => emulator.clearRequests());

    afterAll(async () => {
      await site?.close();
      await emulator?.close();
    }, testTimeoutMs);

    test(
      'reaches messages older than the first page with "Show older", a page at a time, and keeps them through refreshes',
      async () => {
        const reader = readerWith(45);
        const { page, watched } = await site.openPage(chromium, { emulator, contact: reader });
        const newestFirst = () => emulator.messagesOf(reader).map((message) => message.title);
        await waitForBellCount(page, 45);
        await openPanel(page);
        expect(await listedTitles(page)).toEqual(newestFirst().slice(0, 20));
        expect(await page.locator(showOlder).textContent()).toBe('Show older');
        expect(await page.locator(showOlder).isVisible()).toBe(true);

        // By keyboard: the button keeps focus while there is more to load.
        await page.locator(showOlder).focus();
        await page.keyboard.press('Enter');
        await waitForListed(page, 40);
        expect(await listedTitles(page)).toEqual(newestFirst().slice(0, 40));
        expect(await focusedElement(page)).toBe('data-reteno-inbox-show-older');

        // The last page: "Message 1", the oldest, is reached; the button goes and focus moves on to "Message 5".
        await page.keyboard.press('Enter');
        await waitForListed(page, 45);
        expect(await listedTitles(page)).toEqual(newestFirst());
        expect((await listedTitles(page)).at(-1)).toBe('Message 1');
        await page.locator(showOlder).waitFor({ state: 'hidden' });
        expect(
          await page.evaluate(
            () => document.activeElement?.querySelector('[data-reteno-inbox-message-title]')?.textContent,
          ),
        ).toBe('Message 5');
        expect(listRequests().filter((request) => request.page !== '1')).toEqual([
          { page: '2', pageSize },
          { page: '3', pageSize },
        ]);

        // Refreshes ask for page 1 only; the older pages stay below it, and a new message goes on top.
        emulator.pushMessage(reader, { title: 'Message 46', content: 'Number 46.' });
        await waitForListed(page, 46);
        expect(await listedTitles(page)).toEqual(newestFirst());
        expect(listRequests().every((request) => request.pageSize === pageSize)).toBe(true);
        expect(await page.locator(showOlder).isHidden()).toBe(true);
        expectCleanRun(watched, {}, where);
      },
      testTimeoutMs,
    );

    test(
      'lists every message once and in order when new ones arrive between two pages',
      async () => {
        const reader = readerWith(25);
        const { page, watched } = await site.openPage(chromium, { emulator, contact: reader });
        const newestFirst = () => emulator.messagesOf(reader).map((message) => message.title);
        await waitForBellCount(page, 25);
        await openPanel(page);
        expect(await listedTitles(page)).toEqual(newestFirst().slice(0, 20));

        // Three arrive while the panel is closed: page 2 now starts with three messages already listed.
        await page.click('[data-reteno-inbox-close]');
        for (const number of [26, 27, 28]) {
          emulator.pushMessage(reader, { title: `Message ${number}`, content: `Number ${number}.` });
        }
        await openPanel(page);
        await waitForListed(page, 23);
        await page.click(showOlder);
        await waitForListed(page, 28);
        expect(await listedTitles(page)).toEqual(newestFirst());
        await page.locator(showOlder).waitFor({ state: 'hidden' });

        // More arrive than a page holds: the list no longer joins on, and starts over from page 1.
        await page.click('[data-reteno-inbox-close]');
        for (let number = 29; number <= 49; number += 1) {
          emulator.pushMessage(reader, { title: `Message ${number}`, content: `Number ${number}.` });
        }
        await openPanel(page);
        await waitForListed(page, 20);
        expect(await listedTitles(page)).toEqual(newestFirst().slice(0, 20));
        await page.click(showOlder);
        await waitForListed(page, 40);
        await page.click(showOlder);
        await waitForListed(page, 49);
        expect(await listedTitles(page)).toEqual(newestFirst());
        expectCleanRun(watched, {}, where);
      },
      testTimeoutMs,
    );

    test(
      'marks an unread message with a word and a dot besides its colour, which screen readers and greyscale both get',
      async () => {
        const reader = site.newReader(emulator);
        const seen = emulator.pushMessage(reader, { title: 'Seen', content: 'Read already.' });
        const fresh = emulator.pushMessage(reader, { title: 'Fresh', content: 'Not read yet.' });
        const { page, watched } = await site.openPage(chromium, { emulator, contact: reader });
        await waitForBellCount(page, 2);
        await openPanel(page);
        const item = (message: { id: string }) => page.locator(`${widget.message}[data-id="${message.id}"]`);
        await item(seen).locator('[data-reteno-inbox-message-content]').click();
        await page.waitForSelector(`${widget.message}[data-id="${seen.id}"][data-status="OPENED"]`);

        // What is drawn (innerText leaves out what is not rendered) and what the accessibility tree holds.
        const drawn = (message: { id: string }) =>
          item(message).evaluate(
            // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what this reads.
            (element) => (element as HTMLElement).innerText.split('\n')[0],
          );
        expect(await drawn(fresh)).toBe('Unread');
        expect(await drawn(seen)).toBe('Seen');
        expect(await item(fresh).ariaSnapshot()).toContain('Unread');
        expect(await item(seen).ariaSnapshot()).not.toContain('Unread');

        // In greyscale the word, the dot and the bolder weight still tell them apart.
        await page.evaluate(() => document.documentElement.style.setProperty('filter', 'grayscale(1)'));
        const looks = (message: { id: string }) =>
          item(message).evaluate((element, mark) => {
            const shown = element.querySelector(mark);
            const dot = shown?.querySelector('[aria-hidden="true"]');
            return {
              mark: shown instanceof HTMLElement ? shown.offsetWidth > 0 && shown.offsetHeight > 0 : false,
              dot: dot ? `${getComputedStyle(dot).width} ${getComputedStyle(dot).borderRadius}` : null,
              weight: getComputedStyle(element).fontWeight,
            };
          }, unreadMark);
        expect(await looks(fresh)).toEqual({ mark: true, dot: '8px 50%', weight: '600' });
        expect(await looks(seen)).toEqual({ mark: false, dot: null, weight: '400' });
        await saveArtefactScreenshot(page, 'widget-unread-in-greyscale');
        expectCleanRun(watched, {}, where);
      },
      testTimeoutMs,
    );

    describe('names the bell with the unread count and announces new messages politely', () => {
      test.each([
        {
          language: 'en',
          names: { 0: bellNames.en[0], 1: bellNames.en[1], 2: bellNames.en[2], 5: 'Notifications, 5 unread' },
          arrived: { 1: '1 new notification', 3: '3 new notifications' },
        },
        {
          language: 'uk',
          names: {
            0: bellNames.uk[0],
            1: bellNames.uk[1],
            2: bellNames.uk[2],
            5: 'Сповіщення, 5 непрочитаних',
          },
          arrived: { 1: '1 нове сповіщення', 3: '3 нові сповіщення' },
        },
        {
          language: 'de',
          names: {
            0: bellNames.de[0],
            1: bellNames.de[1],
            2: bellNames.de[2],
            5: 'Benachrichtigungen, 5 ungelesen',
          },
          arrived: { 1: '1 neue Benachrichtigung', 3: '3 neue Benachrichtigungen' },
        },
      ] as const)(
        '$language',
        async ({ language, names, arrived }) => {
          const reader = readerWith(1);
          const { page, watched } = await site.openPage(chromium, { emulator, contact: reader, language });
          await waitForBellCount(page, 1);
          const bellNamed = (name: string) => page.getByRole('button', { name, exact: true });
          const status = page.getByRole('status');
          expect(await bellNamed(names[1]).count()).toBe(1);
          expect(await status.getAttribute('aria-live')).toBe('polite');
          expect(await status.getAttribute('lang')).toBe(language);
          // What was there when the page opened is not news.
          expect(await status.textContent()).toBe('');

          emulator.pushMessage(reader, { title: 'Second', content: 'Another one.' });
          await waitForBellCount(page, 2);
          expect(await bellNamed(names[2]).count()).toBe(1);
          expect(await status.textContent()).toBe(arrived[1]);

          for (const title of ['Third', 'Fourth', 'Fifth'])
            emulator.pushMessage(reader, { title, content: '…' });
          await waitForBellCount(page, 5);
          expect(await bellNamed(names[5]).count()).toBe(1);
          expect(await status.textContent()).toBe(arrived[3]);

          // Reading them is no news either.
          await openPanel(page);
          await page.click('[data-reteno-inbox-mark-all]');
          await waitForBellCount(page, 0);
          expect(await bellNamed(names[0]).count()).toBe(1);
          expect(await status.textContent()).toBe(arrived[3]);
          expectCleanRun(watched, {}, where);
        },
        testTimeoutMs,
      );
    });

    test(
      'hides the badge at 0 and shows the unread count on it otherwise',
      async () => {
        const reader = site.newReader(emulator);
        const { page, watched } = await site.openPage(chromium, { emulator, contact: reader });
        await waitForBellCount(page, 0);
        expect(await page.locator(badge).isHidden()).toBe(true);

        emulator.pushMessage(reader, { title: 'Hello', content: 'A message.' });
        await waitForBellCount(page, 1);
        await page.locator(badge).waitFor({ state: 'visible' });
        expect(await page.locator(badge).textContent()).toBe('1');
        expect(await page.locator(badge).getAttribute('aria-hidden')).toBe('true');

        await openPanel(page);
        await page.click('[data-reteno-inbox-mark-all]');
        await waitForBellCount(page, 0);
        expect(await page.locator(badge).isHidden()).toBe(true);
        expectCleanRun(watched, {}, where);
      },
      testTimeoutMs,
    );

    test.each([1280, 375])(
      'wraps a 300-character word instead of scrolling the panel sideways, %i px wide',
      async (width) => {
        const reader = site.newReader(emulator);
        const word = 'Donaudampfschifffahrtsgesellschaft'.repeat(9).slice(0, 300);
        emulator.pushMessage(reader, { title: word, content: word, link: `https://example.com/${word}` });
        const { page, watched } = await site.openPage(
          chromium,
          { emulator, contact: reader },
          { viewport: { width, height: 800 } },
        );
        await waitForBellCount(page, 1);
        await openPanel(page);
        const overflow = await page.locator(widget.panel).evaluate((panel) => {
          const sideways = (element: Element) => element.scrollWidth > element.clientWidth;
          return {
            panel: sideways(panel),
            parts: Array.from(panel.querySelectorAll('*')).filter(sideways).length,
            right: panel.getBoundingClientRect().right <= window.innerWidth,
          };
        });
        expect(overflow).toEqual({ panel: false, parts: 0, right: true });
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        expectCleanRun(watched, {}, where);
      },
      testTimeoutMs,
    );

    describe('fits every label, unclipped, in en, uk and de', () => {
      test.each([
        { width: 375, language: 'en' },
        { width: 375, language: 'uk' },
        { width: 375, language: 'de' },
        { width: 1280, language: 'en' },
        { width: 1280, language: 'uk' },
        { width: 1280, language: 'de' },
      ] as const)(
        '$width px wide, $language',
        async ({ width, language }) => {
          const reader = readerWith(25);
          const { page, watched } = await site.openPage(
            chromium,
            { emulator, contact: reader, language },
            { viewport: { width, height: 800 } },
          );
          await waitForBellCount(page, 25);
          await openPanel(page);
          expect(await panelLabels(page)).toEqual(widgetLabels[language]);
          // One message read, so that both kinds show.
          await page.click(`${widget.message}:nth-child(2) [data-reteno-inbox-message-content]`);
          await waitForBellCount(page, 24);
          await page.locator(showOlder).waitFor({ state: 'visible' });

          const problems = await layoutProblems(page);
          // The bell, the panel, its title, three buttons and one unread mark at least.
          expect(problems.checked).toBeGreaterThanOrEqual(7);
          expect(problems).toMatchObject({ clipped: [], offScreen: [] });
          expect(problems.documentWidth).toBeLessThanOrEqual(width);
          await saveArtefactScreenshot(page, `widget-${width}-${language}`);
          expectCleanRun(watched, {}, where);
        },
        testTimeoutMs,
      );
    });
  },
);
