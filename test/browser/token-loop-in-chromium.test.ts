import { setTimeout as sleep } from 'node:timers/promises';
import { createRetenoEmulator, type RetenoEmulator } from '../../src/emulator/index.js';
import { describeInChromium, serveOnLoopback, useChromium } from '../helpers/browser.js';
import { apiKey, buildSite, scriptId, tokenPath, users } from '../helpers/site.js';

/**
 * A Reteno script that asks for a token again the moment its last ask was rejected, on 20 chains at once: the
 * storm users of inbox products report. The page's embed must keep its own token calls few and spaced.
 */
const loopingScript = `(() => {
  window.asked = 0;
  const start = (settings) => {
    const askAgain = () => {
      window.asked += 1;
      settings.getAuthTokenCallback().then(askAgain, askAgain);
    };
    for (let chain = 0; chain < 20; chain++) askAgain();
  };
  // The init call may be queued before this script loads, or made after it, as with Reteno's own script.
  const queued = (window.eS && window.eS.q) || [];
  const init = queued.map((entry) => entry[0]).find((args) => args[0] === 'init');
  window.eS = (...args) => args[0] === 'init' && start(args[2]);
  if (init) start(init[2]);
})();`;

const testTimeoutMs = 30_000;

describeInChromium('token calls when Reteno asks in a loop (Chromium)', () => {
  const chromium = useChromium('token-loop', testTimeoutMs);
  let emulator: RetenoEmulator;
  beforeAll(async () => {
    emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [{ email: 'anna@example.com' }] });
  });
  afterAll(() => emulator.close());

  it(
    'makes at most 3 token calls in 4 s (at 0, 1 and 3 s) against a route that always fails',
    async () => {
      // Reteno refuses every token request, so the route answers 502 every time.
      emulator.fail({ kind: 'status', status: 500, route: 'token' });
      const script = await serveOnLoopback((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(loopingScript);
      });
      chromium.afterTest(() => script.close());
      const { app } = buildSite(
        { baseUrl: emulator.url, scriptBaseUrl: `${script.url}/scripts/`, retries: 0 },
        { resolveContact: () => users.anna },
      );
      const site = await serveOnLoopback(app);
      chromium.afterTest(() => site.close());

      const { page, watched } = await chromium.openPage();
      // When the page itself sends each token call, by its own clock: the times at which the test process hears of
      // the requests move with how busy the machine is.
      await page.addInitScript((path) => {
        const state = window as unknown as { tokenCallsAt: number[] };
        state.tokenCallsAt = [];
        const send = window.fetch.bind(window);
        window.fetch = (input, init) => {
          const url = new URL(input instanceof Request ? input.url : String(input), location.href);
          if (url.pathname === path) state.tokenCallsAt.push(performance.now());
          return send(input, init);
        };
      }, tokenPath);
      await page.goto(`${site.url}/page`);
      await sleep(4000);
      const tokenCalls = watched.exchanges.filter((exchange) => new URL(exchange.url).pathname === tokenPath);
      const asked = await page.evaluate(() => (window as unknown as { asked: number }).asked);

      expect(asked).toBeGreaterThanOrEqual(20);
      expect(tokenCalls.length).toBeGreaterThanOrEqual(2);
      expect(tokenCalls.length).toBeLessThanOrEqual(3);
      expect(tokenCalls.every((exchange) => exchange.status === 502)).toBe(true);
      const sentAt = await page.evaluate(
        () => (window as unknown as { tokenCallsAt: number[] }).tokenCallsAt,
      );
      expect(sentAt).toHaveLength(tokenCalls.length);
      const gaps = sentAt.slice(1).map((time, index) => time - (sentAt[index] ?? 0));
      // 1 s and then 2 s apart; timers never fire early (a few ms of the browser's timer rounding aside).
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(990);
      expect(watched.pageErrors).toEqual([]);
    },
    testTimeoutMs,
  );
});
