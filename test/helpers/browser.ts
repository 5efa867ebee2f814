import { existsSync } from 'node:fs';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core';

/** Debian's Chromium; CHROMIUM_PATH points elsewhere. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(chromiumPath);

/** Headless Chromium that can reach nothing but loopback: any other host name fails to resolve. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
 * Waits `ms` while nothing is expected to happen, to see that nothing does. Only for asserting an absence; every
 * presence is awaited with {@link waitFor} or a page wait.
 */
export function observeQuietPeriod(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
