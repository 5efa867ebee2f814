import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runInNewContext } from 'node:vm';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { apiKey, buildSite, embedScript, scriptId, users } from './helpers/site.js';

interface InitOptions {
  getAuthTokenCallback: () => Promise<string>;
  language: string;
}

let emulator: RetenoEmulator;
let server: Server;
let origin: string;

beforeAll(async () => {
  emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [{ ...users.anna }] });
  const { app } = buildSite({ baseUrl: emulator.url, scriptBaseUrl: `${emulator.url}/scripts/` });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await emulator.close();
});

/**
 * Timers for the page's script that run at once while their time is added to a virtual clock, so that a test
 * sees how far apart the page would make its calls without waiting for it.
 */
function virtualClock() {
  const clock = { now: 1_000_000 };
  return {
    clock,
    globals: {
      Date: { now: () => clock.now },
      setTimeout: (callback: () => void, ms = 0) => {
        setImmediate(() => {
          clock.now += Math.max(ms, 0);
          callback();
        });
      },
    },
  };
}

/** The options object of the queued init call. */
function initOptions(queued: unknown[] | ArrayLike<unknown> | undefined): InitOptions {
  const options = queued?.[2];
  if (options === undefined) throw new Error('no init call was queued');
  return options as InitOptions;
}

/**
 * A signed-in page of a site whose token route is `tokenRoute` (mounted before the package's), run as a browser
 * would: its token callback, and what it logged with console.error.
 */
async function withTokenRoute(
  tokenRoute: import('express').RequestHandler,
  test: (page: {
    getAuthTokenCallback: () => Promise<string>;
    consoleErrors: unknown[];
    /** The virtual time of each token call the page made. */
    calledAt: number[];
    clock: { now: number };
  }) => Promise<void>,
) {
  const built = buildSite(
    { baseUrl: emulator.url },
    { configure: (app) => app.post('/reteno/app-inbox/token', tokenRoute) },
  );
  const site = built.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => site.once('listening', resolve));
  const siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  try {
    const login = await fetch(`${siteOrigin}/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'anna' }),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await (await fetch(`${siteOrigin}/page`, { headers: { cookie } })).text();
    const consoleErrors: unknown[] = [];
    const calledAt: number[] = [];
    const { clock, globals } = virtualClock();
    const window: Record<string, unknown> = {
      ...globals,
      fetch: (url: string, init: RequestInit) => {
        calledAt.push(clock.now);
        return fetch(new URL(url, siteOrigin), init);
      },
      Error,
      console: { error: (message: unknown) => consoleErrors.push(message) },
      document: { createElement: () => ({}), scripts: [{ parentNode: { insertBefore() {} } }] },
    };
    window.window = window;
    runInNewContext(embedScript(page) ?? '', window);
    const queued = (window.eS as { q: ArrayLike<ArrayLike<unknown>>[] }).q[0]?.[0];
    await test({
      getAuthTokenCallback: initOptions(queued).getAuthTokenCallback,
      consoleErrors,
      calledAt,
      clock,
    });
  } finally {
    await new Promise((resolve) => site.close(resolve));
  }
}

/** Signs in as a user (or stays anonymous) and returns the session cookie. */
async function signIn(user: keyof typeof users | undefined): Promise<string> {
  if (user === undefined) return '';
  const response = await fetch(`${origin}/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/**
 * Runs the page's inline script as a browser would, with a minimal document and a fetch that behaves like the
 * browser's fetch: relative URLs against the site, and the session cookie attached unless credentials are 'omit'
 * (Fetch's default is 'same-origin').
 */
async function runPage(cookie: string) {
  const html = await (await fetch(`${origin}/page`, { headers: { cookie } })).text();
  const script = embedScript(html);
  if (script === undefined) throw new Error('the page has no embed');
  const inserted: { src?: string; async?: unknown }[] = [];
  const fetchCalls: { url: string; init: RequestInit }[] = [];
  const window: Record<string, unknown> = {
    ...virtualClock().globals,
    fetch: (url: string, init: RequestInit) => {
      fetchCalls.push({ url, init });
      const headers = new Headers(init.headers);
      if ((init.credentials ?? 'same-origin') !== 'omit') headers.set('cookie', cookie);
      return fetch(new URL(url, origin), { ...init, headers });
    },
    Error,
    document: {
      createElement: () => ({}),
      scripts: [{ parentNode: { insertBefore: (element: { src?: string }) => inserted.push(element) } }],
    },
  };
  window.window = window;
  runInNewContext(script, window);
  // The loader's stub queues `f.c(arguments)`: each entry wraps the arguments of one eS(...) call.
  const eS = window.eS as { q: ArrayLike<ArrayLike<unknown>>[] };
  return { inserted, fetchCalls, queue: eS.q.map((entry) => Array.from(entry[0] ?? [])) };
}

describe('embed script', () => {
  it('queues exactly one init with APP_INBOX and loads the script once', async () => {
    const { inserted, queue, fetchCalls } = await runPage(await signIn('anna'));
    expect(inserted).toEqual([{ async: 1, src: `${emulator.url}/scripts/${scriptId}.js` }]);
    expect(queue).toHaveLength(1);
    const [command, flags, options] = queue[0] as [string, unknown, InitOptions];
    expect(command).toBe('init');
    expect(flags).toEqual({ APP_INBOX: true });
    expect(options.language).toBe('en');
    expect(typeof options.getAuthTokenCallback).toBe('function');
    // Nothing is fetched until Reteno's script asks for a token.
    expect(fetchCalls).toHaveLength(0);
  });

  it('resolves a fresh token from the route on every call of getAuthTokenCallback', async () => {
    emulator.clearRequests();
    const { queue, fetchCalls } = await runPage(await signIn('anna'));
    const { getAuthTokenCallback } = initOptions(queue[0]);
    const first = await getAuthTokenCallback();
    const second = await getAuthTokenCallback();
    expect(first).toMatch(/.{8,}/);
    expect(second).not.toBe(first);
    expect(fetchCalls).toHaveLength(2);
    for (const call of fetchCalls) {
      expect(call.url).toBe('/reteno/app-inbox/token');
      expect(call.init).toMatchObject({ method: 'POST', headers: { 'X-Reteno-Inbox': '1' } });
      // Same-origin credentials, Fetch's default, carry the session cookie.
      expect(call.init.credentials ?? 'same-origin').toBe('same-origin');
    }
    expect(emulator.requests.filter((entry) => entry.path === '/v1/auth/contact/token')).toHaveLength(2);
  });

  it('rejects when the route answers an error, e.g. after sign-out', async () => {
    const cookie = await signIn('anna');
    const { queue } = await runPage(cookie);
    const { getAuthTokenCallback } = initOptions(queue[0]);
    await fetch(`${origin}/sign-out`, { method: 'POST', headers: { cookie } });
    await expect(getAuthTokenCallback()).rejects.toThrow('HTTP 401');
  });

  it('rejects when Reteno does not know the contact', async () => {
    const { queue } = await runPage(await signIn('stranger'));
    const { getAuthTokenCallback } = initOptions(queue[0]);
    await expect(getAuthTokenCallback()).rejects.toThrow('HTTP 404');
  });

  it('rejects on an empty token even with a 2xx answer from the route', async () => {
    await withTokenRoute(
      (_req, res) => res.set('X-Reteno-Inbox', '1').json({ token: '' }),
      async ({ getAuthTokenCallback, consoleErrors }) => {
        await expect(getAuthTokenCallback()).rejects.toThrow('none');
        expect(consoleErrors).toEqual([]);
      },
    );
  });

  it('names a sign-in redirect as the likely cause when the token call is redirected', async () => {
    // A login guard in front of the route: fetch follows the redirect to the sign-in page.
    await withTokenRoute(
      (_req, res) => res.redirect(303, '/page'),
      async ({ getAuthTokenCallback, consoleErrors }) => {
        await expect(getAuthTokenCallback()).rejects.toThrow(
          /^Reteno inbox: HTTP 200 from something other than the token route: a redirect to a sign-in page\?/,
        );
        expect(consoleErrors).toHaveLength(1);
      },
    );
  });

  it('renders nothing for an anonymous visitor', async () => {
    const html = await (await fetch(`${origin}/page`)).text();
    expect(embedScript(html)).toBeUndefined();
  });

  it.each([
    [
      403,
      'a CSRF middleware',
      'Pass csrfToken, see https://github.com/express-reteno-inbox/express-reteno-inbox#mount-order',
    ],
    [404, 'a 404 page', 'the token route was not found'],
  ])(
    'names the likely cause once, in the rejection and on the console, when %s from %s answers instead of the route',
    async (status, _what, cause) => {
      await withTokenRoute(
        (_req, res) => res.status(status).send('<h1>Nope</h1>'),
        async ({ getAuthTokenCallback, consoleErrors }) => {
          const first = await getAuthTokenCallback().then(
            () => undefined,
            (error: Error) => error.message,
          );
          await expect(getAuthTokenCallback()).rejects.toThrow(cause);
          expect(first).toContain(`HTTP ${status} from something other than the token route`);
          expect(first).toContain(cause);
          expect(first).toMatch(/^Reteno inbox: .*#troubleshooting$/);
          expect(consoleErrors).toEqual([first]);
        },
      );
    },
  );
  describe('when Reteno asks again and again', () => {
    /** A token route that always fails, as a route would while Reteno rejects every token. */
    const failingRoute: import('express').RequestHandler = (_req, res) =>
      res.set('X-Reteno-Inbox', '1').status(502).json({ error: 'upstream_error' });

    /** The most calls in any minute. */
    const mostInAMinute = (times: number[]) =>
      Math.max(
        ...times.map((start) => times.filter((time) => time >= start && time < start + 60_000).length),
      );

    it('spaces calls out after rejections (1, 2, 4 … 30 s), at most 10 a minute, never a tight loop', async () => {
      await withTokenRoute(failingRoute, async ({ getAuthTokenCallback, calledAt, clock }) => {
        const started = clock.now;
        // A script that asks again as soon as the last answer is a rejection, 60 times over.
        for (let attempt = 0; attempt < 60; attempt++) {
          await expect(getAuthTokenCallback()).rejects.toThrow('HTTP 502');
        }
        expect(calledAt).toHaveLength(60);
        const gaps = calledAt.slice(1).map((time, index) => time - (calledAt[index] as number));
        expect(gaps.slice(0, 7)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        expect(Math.min(...gaps)).toBe(1000);
        expect(Math.max(...gaps)).toBe(30_000);
        expect(mostInAMinute(calledAt)).toBeLessThanOrEqual(10);
        expect(calledAt[0]).toBe(started);
      });
    });

    it('shares one call among callers that ask while it is pending', async () => {
      await withTokenRoute(failingRoute, async ({ getAuthTokenCallback, calledAt }) => {
        for (let burst = 0; burst < 20; burst++) {
          const answers = await Promise.allSettled(Array.from({ length: 50 }, () => getAuthTokenCallback()));
          expect(answers.every((answer) => answer.status === 'rejected')).toBe(true);
        }
        expect(calledAt).toHaveLength(20);
        expect(mostInAMinute(calledAt)).toBeLessThanOrEqual(10);
      });
    });

    it('asks at once again after a quiet minute', async () => {
      await withTokenRoute(failingRoute, async ({ getAuthTokenCallback, calledAt, clock }) => {
        await expect(getAuthTokenCallback()).rejects.toThrow();
        await expect(getAuthTokenCallback()).rejects.toThrow();
        clock.now += 61_000;
        const before = clock.now;
        await expect(getAuthTokenCallback()).rejects.toThrow();
        expect(calledAt.at(-1)).toBe(before);
      });
    });
  });
});
