import { mkdirSync } from 'node:fs';
import { createServer, type RequestListener, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium as playwrightChromium,
  type Page,
} from 'playwright-core';
import { chromium, chromiumPath, describeWith } from './requirements.js';

export { chromiumPath };
export const hasChromium = chromium.missing === null;
/** Why the browser suites cannot run, or `null` when Chromium is there. */
export const chromiumMissing = chromium.missing;

/**
 * `describe` when Chromium is there. Without it the suite is skipped under a title that says why, or, with
 * `CI=true`, fails with one test that says so.
 */
export function describeInChromium(name: string, suite: () => void): void {
  describeWith([chromium], name, suite);
}

const screenshotDir = fileURLToPath(new URL('../../test-results/', import.meta.url));

const artefactScreenshotDir = fileURLToPath(new URL('../../.tmp/screenshots/', import.meta.url));

/** Saves the whole of what `page` shows as .tmp/screenshots/<name>.png: a picture to look at, not committed. */
export async function saveArtefactScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(artefactScreenshotDir, { recursive: true });
  await page.screenshot({ path: `${artefactScreenshotDir}${name}.png`, fullPage: true });
}

/** Saves what `page` shows as test-results/<name>.png, when the page is still open. */
export async function saveScreenshot(page: Page | undefined, name: string): Promise<void> {
  if (!page || page.isClosed()) return;
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: `${screenshotDir}${name}.png` });
}

/** Headless Chromium that can reach nothing but loopback: any other host name fails to resolve. */
export function launchChromium(): Promise<Browser> {
  return playwrightChromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
}

export interface ConsoleEntry {
  page: Page;
  /** `log`, `info`, `warning`, `error`, … */
  type: string;
  text: string;
  /** The script or resource the message is about; for "Failed to load resource", the resource's URL. */
  url: string;
}

/** One request a page made, and how it ended. */
export interface Exchange {
  page: Page | null;
  /** `document`, `script`, `fetch`, … */
  resourceType: string;
  method: string;
  url: string;
  /** Request headers, names in lower case. */
  headers: Record<string, string>;
  /** When the request was sent, by this process's clock (comparable with the emulator's request log). */
  sentAt: number;
  status: number | null;
  /** When the answer's headers arrived, by this process's clock. */
  answeredAt: number | null;
  /** Every response header; read for documents only. */
  responseHeaders: Promise<Record<string, string>> | null;
  failure: string | null;
}

export interface CspViolation {
  page: Page;
  directive: string;
  blockedURI: string;
  documentURI: string;
  sample: string;
}

/** What a page's `eS('init', features, settings)` call passed. */
export interface InitCall {
  features: unknown;
  language: unknown;
  hasTokenCallback: boolean;
}

/** A browser context whose pages are all watched from their first script on. */
export interface WatchedContext {
  readonly context: BrowserContext;
  readonly console: ConsoleEntry[];
  /** Uncaught exceptions and unhandled rejections, from every page of the context. */
  readonly pageErrors: { page: Page; message: string }[];
  readonly exchanges: Exchange[];
  /** `securitypolicyviolation` events, reported as they happen, so none is lost to a navigation. */
  readonly violations: CspViolation[];
  newPage(): Promise<Page>;
  /** Console messages of type `error`, in the order they came. */
  consoleErrors(page?: Page): ConsoleEntry[];
}

const probeName = '__retenoInboxProbe';
const violationBinding = '__reportCspViolation';

interface ProbeState {
  initCalls: InitCall[];
}

/**
 * Runs in every document before its own scripts. Reports CSP violations, and counts `eS('init', …)` calls:
 * whatever function the page stores in `window.eS` (the loader's stub, then Reteno's script) is wrapped in a
 * transparent Proxy, so the stub's `q`/`c` properties and the script's own markers stay as they were.
 */
function installProbe(names: { probe: string; binding: string }): void {
  const state: ProbeState = { initCalls: [] };
  Object.defineProperty(window, names.probe, { value: state });

  document.addEventListener(
    'securitypolicyviolation',
    (event) => {
      const report = (window as unknown as Record<string, unknown>)[names.binding];
      if (typeof report === 'function') {
        report({
          directive: event.effectiveDirective,
          blockedURI: event.blockedURI,
          documentURI: event.documentURI,
          sample: event.sample,
        });
      }
    },
    true,
  );

  let current: unknown;
  Object.defineProperty(window, 'eS', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set(value: unknown) {
      current =
        typeof value === 'function'
          ? new Proxy(value, {
              apply(target, thisArg, args: unknown[]) {
                if (args[0] === 'init') {
                  const settings = args[2] as
                    { language?: unknown; getAuthTokenCallback?: unknown } | undefined;
                  state.initCalls.push({
                    features: JSON.parse(JSON.stringify(args[1] ?? null)) as unknown,
                    language: settings?.language,
                    hasTokenCallback: typeof settings?.getAuthTokenCallback === 'function',
                  });
                }
                return Reflect.apply(target, thisArg, args) as unknown;
              },
            })
          : value;
    },
  });
}

/** A new browser context with every page, request, console line and CSP violation recorded. */
export async function openWatchedContext(
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<WatchedContext> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 }, ...options });
  const watched: WatchedContext = {
    context,
    console: [],
    pageErrors: [],
    exchanges: [],
    violations: [],
    newPage: () => context.newPage(),
    consoleErrors: (page) =>
      watched.console.filter(
        (entry) => entry.type === 'error' && (page === undefined || entry.page === page),
      ),
  };

  await context.exposeBinding(violationBinding, ({ page }, violation: Omit<CspViolation, 'page'>) => {
    watched.violations.push({ page, ...violation });
  });
  await context.addInitScript(installProbe, { probe: probeName, binding: violationBinding });

  context.on('console', (message) => {
    const page = message.page();
    if (!page) return;
    watched.console.push({ page, type: message.type(), text: message.text(), url: message.location().url });
  });
  context.on('weberror', (error) => {
    const page = error.page();
    if (page) watched.pageErrors.push({ page, message: String(error.error()) });
  });

  const byRequest = new WeakMap<object, Exchange>();
  context.on('request', (request) => {
    let page: Page | null = null;
    try {
      page = request.frame().page();
    } catch {
      // Requests of service workers belong to no frame.
    }
    const exchange: Exchange = {
      page,
      resourceType: request.resourceType(),
      method: request.method(),
      url: request.url(),
      headers: request.headers(),
      sentAt: Date.now(),
      status: null,
      answeredAt: null,
      responseHeaders: null,
      failure: null,
    };
    byRequest.set(request, exchange);
    watched.exchanges.push(exchange);
  });
  context.on('response', (response) => {
    const exchange = byRequest.get(response.request());
    if (!exchange) return;
    exchange.status = response.status();
    exchange.answeredAt = Date.now();
    if (exchange.resourceType === 'document') {
      exchange.responseHeaders = response.allHeaders().catch(() => ({}));
    }
  });
  context.on('requestfailed', (request) => {
    const exchange = byRequest.get(request);
    if (exchange) exchange.failure = request.failure()?.errorText ?? 'failed';
  });

  return watched;
}

/** What a browser suite works with: one Chromium for its tests, and what each test opened, closed after it. */
export interface ChromiumSession {
  /** The suite's Chromium, launched before its first test. */
  readonly browser: Browser;
  /** A new watched browser context and its first page, both closed after the running test. */
  openPage(options?: BrowserContextOptions): Promise<{ page: Page; watched: WatchedContext }>;
  /** Runs `cleanup` after the running test, whatever its outcome, once its browser contexts are closed. */
  afterTest(cleanup: () => unknown): void;
}

/**
 * Sets up a browser suite; call it inside {@link describeInChromium}. Chromium (with {@link launchChromium}'s
 * arguments) is launched before the suite and closed after it. After each test, the first page it opened is saved
 * as test-results/<prefix>-<nn>-<test name>.png, then its contexts are closed and its `afterTest` clean-ups run.
 */
export function useChromium(screenshotPrefix: string, timeoutMs: number): ChromiumSession {
  let browser: Browser | undefined;
  let contexts: WatchedContext[] = [];
  let cleanups: (() => unknown)[] = [];
  let shownPage: Page | undefined;
  let testNumber = 0;

  beforeAll(async () => {
    browser = await launchChromium();
  }, timeoutMs);

  afterEach(async () => {
    const [opened, pending, page] = [contexts, cleanups, shownPage];
    contexts = [];
    cleanups = [];
    shownPage = undefined;
    testNumber += 1;
    const name = (expect.getState().currentTestName ?? '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 80);
    try {
      await saveScreenshot(page, `${screenshotPrefix}-${String(testNumber).padStart(2, '0')}-${name}`);
    } finally {
      await Promise.all(opened.map((watched) => watched.context.close()));
      for (const cleanup of pending) await cleanup();
    }
  }, timeoutMs);

  afterAll(async () => {
    await browser?.close();
  }, timeoutMs);

  return {
    get browser() {
      if (browser === undefined) throw new Error('Chromium is launched in beforeAll; use it inside a test');
      return browser;
    },
    async openPage(options) {
      const watched = await openWatchedContext(this.browser, options);
      watched.context.setDefaultTimeout(10_000);
      contexts.push(watched);
      const page = await watched.newPage();
      shownPage ??= page;
      return { page, watched };
    },
    afterTest(cleanup) {
      cleanups.push(cleanup);
    },
  };
}

/** A server on 127.0.0.1 (any free port) for `listener`; `close()` also ends the connections it keeps. */
export interface LoopbackServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `listener` (an Express app, say) on 127.0.0.1, on a free port. */
export async function serveOnLoopback(listener: RequestListener): Promise<LoopbackServer> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Names URLs the way expected console lines write them: `label` + path for a URL under the first of `bases` it
 * starts with (`[['emulator', emulator.url], ['', site.url]]` gives `emulator/scripts/…` and
 * `/reteno/app-inbox/token`), the whole URL otherwise.
 */
export function urlsRelativeTo(bases: [label: string, base: string][]): (url: string) => string {
  return (url) => {
    for (const [label, base] of bases) {
      if (url.startsWith(base)) return `${label}${url.slice(base.length)}`;
    }
    return url;
  };
}

/** The `eS('init', …)` calls of the page's current document. */
export function initCalls(page: Page): Promise<InitCall[]> {
  return page.evaluate(
    (name) => (window as unknown as Record<string, ProbeState>)[name]?.initCalls ?? [],
    probeName,
  );
}

/** Runs `action` (a click that submits a form, say) and resolves at the next document's DOMContentLoaded. */
export async function navigateBy(page: Page, action: () => Promise<unknown>): Promise<void> {
  const loaded = page.waitForEvent('domcontentloaded');
  await action();
  await loaded;
}

/** Milliseconds from the start of the current document's navigation (redirects included) to DOMContentLoaded. */
export function domContentLoadedMs(page: Page): Promise<number> {
  return page.evaluate(() => {
    const [navigation] = performance.getEntriesByType('navigation') as PerformanceNavigationTiming[];
    return navigation ? navigation.domContentLoadedEventEnd - navigation.startTime : Number.NaN;
  });
}

/** Polls `probe` until it returns something other than `undefined`/`false`. */
export async function waitFor<T>(
  description: string,
  probe: () => T | false | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Waits until `pick` gives at least `count` requests and each of them has its answer or failed, and returns them.
 * Chromium's network events reach this process after the emulator's own log has moved on, so a status read right
 * after waiting on the emulator can still be `null`.
 */
export function settledExchanges(
  description: string,
  pick: () => Exchange[],
  count: number,
): Promise<Exchange[]> {
  return waitFor(description, () => {
    const exchanges = pick();
    const settled = exchanges.every((exchange) => exchange.status !== null || exchange.failure !== null);
    return exchanges.length >= count && settled ? exchanges : false;
  });
}

/**
 * Waits `ms` while nothing is expected to happen, to see that nothing does. Only for asserting an absence; every
 * presence is awaited with {@link waitFor} or a page wait.
 */
export function observeQuietPeriod(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Chromium's console line for an answer that is not 2xx, in the `text @ where` form of {@link consoleTexts}. */
export function failedToLoad(status: number, where: string): string {
  return `Failed to load resource: the server responded with a status of ${status} (${STATUS_CODES[status]}) @ ${where}`;
}

/**
 * The console lines of one type (`error`, `warning`, `info`, …) as `text @ where`, where `where` names the script
 * or resource the line is about (the whole URL unless `where` shortens it).
 */
export function consoleTexts(
  watched: WatchedContext,
  type: string,
  where: (url: string) => string = (url) => url,
  page?: Page,
): string[] {
  return watched.console
    .filter((entry) => entry.type === type && (page === undefined || entry.page === page))
    .map((entry) => `${entry.text} @ ${where(entry.url)}`);
}

/**
 * No uncaught error, no request off loopback, no CSP violation, and exactly the console errors and warnings
 * listed (as {@link consoleTexts} gives them), in this order.
 */
export function expectCleanRun(
  watched: WatchedContext,
  expected: { errors?: string[]; warnings?: string[] } = {},
  where?: (url: string) => string,
): void {
  expect(watched.pageErrors.map((error) => error.message)).toEqual([]);
  expect(
    watched.exchanges.filter((exchange) => !/^(http:\/\/127\.0\.0\.1:\d+\/|data:)/.test(exchange.url)),
  ).toEqual([]);
  expect(watched.violations).toEqual([]);
  expect(consoleTexts(watched, 'error', where)).toEqual(expected.errors ?? []);
  expect(consoleTexts(watched, 'warning', where)).toEqual(expected.warnings ?? []);
}

/** The emulator's widget as a page shows it. */
export const widget = {
  bell: '[data-reteno-inbox-bell]',
  panel: '[data-reteno-inbox-panel]',
  message: '[data-reteno-inbox-message]',
  /** The prefix of the console.info line the widget writes when it stops. */
  stoppedPrefix: '[Reteno emulator] App Inbox stopped: ',
} as const;

/** The bell's accessible name per language for 0, 1 and 2 unread messages (the index). */
export const bellNames = {
  en: ['Notifications, 0 unread', 'Notifications, 1 unread', 'Notifications, 2 unread'],
  uk: ['Сповіщення, 0 непрочитаних', 'Сповіщення, 1 непрочитане', 'Сповіщення, 2 непрочитані'],
  de: [
    'Benachrichtigungen, 0 ungelesen',
    'Benachrichtigungen, 1 ungelesen',
    'Benachrichtigungen, 2 ungelesen',
  ],
  es: ['Notificaciones, 0 sin leer', 'Notificaciones, 1 sin leer', 'Notificaciones, 2 sin leer'],
  fr: ['Notifications, 0 non lu', 'Notifications, 1 non lu', 'Notifications, 2 non lus'],
} as const;

/** The widget's labels per language, as a person reads them. */
export const widgetLabels = {
  en: {
    title: 'Notifications',
    markAll: 'Mark all as read',
    close: 'Close',
    empty: 'No notifications yet',
    showOlder: 'Show older',
  },
  uk: {
    title: 'Сповіщення',
    markAll: 'Позначити всі як прочитані',
    close: 'Закрити',
    empty: 'Сповіщень поки немає',
    showOlder: 'Показати старіші',
  },
  de: {
    title: 'Benachrichtigungen',
    markAll: 'Alle als gelesen markieren',
    close: 'Schließen',
    empty: 'Noch keine Benachrichtigungen',
    showOlder: 'Ältere anzeigen',
  },
  es: {
    title: 'Notificaciones',
    markAll: 'Marcar todas como leídas',
    close: 'Cerrar',
    empty: 'Aún no hay notificaciones',
    showOlder: 'Mostrar anteriores',
  },
  fr: {
    title: 'Notifications',
    markAll: 'Tout marquer comme lu',
    close: 'Fermer',
    empty: 'Aucune notification pour le moment',
    showOlder: 'Afficher les plus anciennes',
  },
} as const;

/** Waits until the bell that `bellSelector` finds shows `count`. */
export async function waitForBellCount(
  page: Page,
  count: number,
  bellSelector: string = widget.bell,
): Promise<void> {
  await page.waitForFunction(
    ([selector, text]) => document.querySelector(selector)?.textContent === text,
    [bellSelector, String(count)] as const,
    { polling: 50, timeout: 10_000 },
  );
}

/** Clicks the bell and waits for the open panel's list: a message, or the empty-inbox text. */
export async function openPanel(page: Page, bellSelector: string = widget.bell): Promise<void> {
  await page.click(bellSelector);
  await page.waitForSelector(
    `${widget.panel}:not([hidden]) :is(${widget.message}, [data-reteno-inbox-empty]:not([hidden]))`,
  );
}

/** The texts of the panel's title, buttons and empty-inbox line. */
export function panelLabels(page: Page) {
  return page.evaluate((selector) => {
    const text = (inner: string) => document.querySelector(`${selector} ${inner}`)?.textContent;
    return {
      title: text('[data-reteno-inbox-title]'),
      markAll: text('[data-reteno-inbox-mark-all]'),
      close: text('[data-reteno-inbox-close]'),
      empty: text('[data-reteno-inbox-empty]'),
      showOlder: text('[data-reteno-inbox-show-older]'),
    };
  }, widget.panel);
}

/** What has focus: its `data-reteno-inbox-…` attribute when it is part of the widget, else its tag name. */
export function focusedElement(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const focused = document.activeElement;
    if (!focused) return null;
    const part = focused.getAttributeNames().find((name) => name.startsWith('data-reteno-inbox-'));
    return part ?? focused.tagName.toLowerCase();
  });
}

/** The messages the panel lists, top first. */
export function listedMessages(page: Page) {
  return page.evaluate(
    (selector) =>
      Array.from(document.querySelectorAll(selector), (item) => ({
        id: item.getAttribute('data-id'),
        status: item.getAttribute('data-status'),
        title: item.querySelector('[data-reteno-inbox-message-title]')?.textContent,
      })),
    widget.message,
  );
}

/** `typeof window.eS` on the page. */
export function typeofES(page: Page): Promise<string> {
  return page.evaluate(() => typeof (window as unknown as { eS?: unknown }).eS);
}

/** The reasons the widget gave, on `page`, for stopping. */
export function stopNotices(watched: WatchedContext, page: Page): string[] {
  return watched.console
    .filter((entry) => entry.page === page && entry.text.startsWith(widget.stoppedPrefix))
    .map((entry) => entry.text.slice(widget.stoppedPrefix.length));
}
