import type { BrowserContextOptions, Page } from 'playwright-core';
// The demo is plain JavaScript that imports the built package, as a site would.
import { createDemo } from '../../examples/demo/server.js';
import type { RetenoEmulator } from '../../src/emulator/index.js';
import {
  type ChromiumSession,
  consoleTexts,
  type Exchange,
  expectCleanRun,
  navigateBy,
  openPanel,
  urlsRelativeTo,
  type WatchedContext,
  waitForBellCount,
} from './browser.js';

export type Demo = Awaited<ReturnType<typeof createDemo>>;
export type DemoUser = 'anna' | 'taras';

/** The bell the emulator's widget puts in the demo's header. */
export const demoBell = '#inbox-bell [data-reteno-inbox-bell]';
export const demoTokenRoute = '/reteno/app-inbox/token';

/** One scenario: a fresh demo (and its emulator), closed after the test with the browser contexts it opened. */
export interface DemoScenario {
  demo: Demo;
  emulator: RetenoEmulator;
  /** A URL of the demo site. */
  url(path: string): string;
  /** A new browser context and its first page; the first page of a test is the one its screenshot shows. */
  openPage(options?: BrowserContextOptions): Promise<{ page: Page; watched: WatchedContext }>;
  /** A new browser context on the home page, signed in as `user`, once its bell shows `unread`. */
  signedInTab(
    user: DemoUser,
    unread: number,
    options?: BrowserContextOptions,
  ): Promise<{ page: Page; watched: WatchedContext }>;
  /** Signs in on the home page's form, as a visitor clicks. */
  signIn(page: Page, user: DemoUser): Promise<void>;
  /** Waits until the bell in the header shows `count`. */
  waitForBell(page: Page, count: number): Promise<void>;
  /** Opens the panel of the header's bell. */
  openPanel(page: Page): Promise<void>;
  /** The calls a page (or every page of the context) made to the token route. */
  tokenRequests(watched: WatchedContext, page?: Page): Exchange[];
  /** Console errors as `text @ where`, where = the site's path, or `emulator` and the emulator's path. */
  consoleErrors(watched: WatchedContext): string[];
  /**
   * No uncaught error, no request off loopback, no CSP violation, no console warning, and exactly the console
   * errors listed, in this order.
   */
  expectCleanRun(watched: WatchedContext, expectedErrors?: string[]): void;
}

/**
 * The browser suites' one way to start the demo: `startScenario(inboxOptions)` in a test gives a fresh demo whose
 * emulator's widget polls every `pollIntervalMs`, closed after the test.
 */
export function demoScenarios(
  chromium: ChromiumSession,
  settings: { pollIntervalMs: number; env?: Record<string, string> },
): (inboxOptions?: Record<string, unknown>) => Promise<DemoScenario> {
  return async (inboxOptions = {}) => {
    const demo = await createDemo({
      port: 0,
      env: { DEMO_POLL_INTERVAL_MS: String(settings.pollIntervalMs), ...settings.env },
      log: () => {},
      inboxOptions,
    });
    chromium.afterTest(() => demo.close());
    // Typed here: before a build, the demo's import of the package's emulator has no types to give.
    const emulator: RetenoEmulator | undefined = demo.emulator;
    if (!emulator) throw new Error('The demo started without its emulator');
    const where = urlsRelativeTo([
      ['emulator', emulator.url],
      ['', demo.url],
    ]);
    const scenario: DemoScenario = {
      demo,
      emulator,
      url: (path) => `${demo.url}${path}`,
      openPage: (options) => chromium.openPage(options),
      async signedInTab(user, unread, options) {
        const opened = await chromium.openPage(options);
        await opened.page.goto(scenario.url('/'));
        await scenario.signIn(opened.page, user);
        await scenario.waitForBell(opened.page, unread);
        return opened;
      },
      signIn: (page, user) => navigateBy(page, () => page.click(`[data-user="${user}"]`)),
      waitForBell: (page, count) => waitForBellCount(page, count, demoBell),
      openPanel: (page) => openPanel(page, demoBell),
      tokenRequests: (watched, page) =>
        watched.exchanges.filter(
          (exchange) =>
            exchange.method === 'POST' &&
            exchange.url === `${demo.url}${demoTokenRoute}` &&
            (page === undefined || exchange.page === page),
        ),
      consoleErrors: (watched) => consoleTexts(watched, 'error', where),
      expectCleanRun(watched, expectedErrors = []) {
        expectCleanRun(watched, { errors: expectedErrors }, where);
      },
    };
    return scenario;
  };
}

/** Marks the page's current document, so that a test can tell whether the tab loaded another one. */
export function markDocument(page: Page): Promise<void> {
  return page.evaluate(() => {
    (window as unknown as { sameDocument: boolean }).sameDocument = true;
  });
}

/** Whether the tab still shows the document {@link markDocument} marked. */
export function isSameDocument(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true);
}
