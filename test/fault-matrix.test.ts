import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { runInThisContext } from 'node:vm';
import request from 'supertest';
import { createRetenoEmulator, type EmulatorFault, type RetenoEmulator } from '../src/emulator/index.js';
import type { RetenoInboxOptions } from '../src/index.js';
import { basicCredentials } from '../src/credentials.js';
import {
  apiKey,
  buildSite,
  type LogRecorder,
  recordLogs,
  scriptId,
  tokenPath,
  users,
} from './helpers/site.js';

/**
 * The token route against a Reteno that hangs, trickles, resets, fails, throttles or answers nonsense. Every
 * answer comes within `timeout` + 100 ms with the contract's status, never 500, and the suite leaves no socket,
 * timer, listener or unhandled rejection behind.
 */

const timeout = 800;
const slack = 100;
const retries = 2;
const tenMegabytes = 10 * 1024 * 1024;
const credentials = basicCredentials(apiKey);

// Jest gives each suite a copy of `process`; Node emits unhandled rejections on the real one.
const realProcess = runInThisContext('process') as NodeJS.Process;
const watchedResources = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'] as const;
const watchedEvents = [
  'unhandledRejection',
  'uncaughtException',
  'rejectionHandled',
  'warning',
  'exit',
  'beforeExit',
  'SIGINT',
  'SIGTERM',
] as const;

type ResourceCounts = Record<(typeof watchedResources)[number], number>;

function resourceCounts(): ResourceCounts {
  const counts: ResourceCounts = { TCPSocketWrap: 0, TCPServerWrap: 0, Timeout: 0 };
  for (const resource of process.getActiveResourcesInfo()) {
    if (Object.hasOwn(counts, resource)) counts[resource as keyof ResourceCounts] += 1;
  }
  return counts;
}

function listenerCounts(): string[] {
  return [realProcess, process].flatMap((target, index) =>
    watchedEvents.map((event) => `${index}:${event}:${target.listenerCount(event)}`),
  );
}

const unhandled: unknown[] = [];
const onUnhandledRejection = (reason: unknown) => {
  unhandled.push(reason);
};
let resourcesBefore: ResourceCounts;
let listenersBefore: string[];

/** Everything a visitor received and everything logged: none of it may carry the API key. */
const seen: string[] = [];

let emulator: RetenoEmulator;

/** A loopback Reteno for answers the emulator does not give; `answer` is set by each test. */
let upstream: Server;
let upstreamUrl: string;
let upstreamCalls = 0;
let answer: (req: IncomingMessage, res: ServerResponse) => void;

/** Sites started by the running test, closed after it. */
const sites = new Set<Server>();

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

interface Site {
  server: Server;
  logs: LogRecorder;
  timeout: number;
}

/** A site whose visitor is signed in as Anna, on its own server on 127.0.0.1. */
async function startSite(options: Partial<RetenoInboxOptions> = {}): Promise<Site> {
  const logs = recordLogs();
  const { app } = buildSite(
    { baseUrl: emulator.url, logger: logs, timeout, retries, ...options },
    { resolveContact: () => users.anna },
  );
  const server = createServer(app);
  sites.add(server);
  await listen(server);
  return { server, logs, timeout: options.timeout ?? timeout };
}

/**
 * One token request, timed. Whatever Reteno did, the answer is one of the contract's, is never 500, is not
 * cached, and comes within the timeout plus 100 ms, plus however late this process's event loop ran meanwhile (on
 * a busy machine the process waits for a CPU: that delay is the machine's, not the route's).
 */
async function askToken(site: Site) {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const started = performance.now();
  const response = await request(site.server).post(tokenPath).set('X-Reteno-Inbox', '1');
  const elapsed = performance.now() - started;
  lag.disable();
  seen.push(JSON.stringify(response.headers), response.text, ...site.logs.warnings, ...site.logs.errors);
  expect(response.status).not.toBe(500);
  expect([200, 404, 502, 503, 504]).toContain(response.status);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(elapsed).toBeLessThanOrEqual(site.timeout + slack + lag.max / 1e6);
  return { response, elapsed };
}

const tokenCalls = () => emulator.requests.filter((entry) => entry.path === '/v1/auth/contact/token');

function json(status: number, body: string, contentType: string | null = 'application/json') {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, contentType === null ? {} : { 'content-type': contentType });
    res.end(body);
  };
}

/** How much of a 10 MiB answer the upstream managed to hand to the socket before the site hung up. */
interface BigBody {
  written: number;
  finished: boolean;
}

/**
 * 10 MiB of `{"token":"aaa…`, with a Content-Length, one 64 KiB chunk per turn of the event loop (the site runs
 * in this process): a site that reads it all gets it all, a site that hangs up early leaves nearly all unsent.
 */
function tenMegabyteAnswer(status: number, stats: BigBody) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    chunk.write('{"token":"');
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(tenMegabytes) });
    res.once('finish', () => {
      stats.finished = true;
    });
    const next = () => {
      if (res.destroyed) return;
      if (stats.written >= tenMegabytes) {
        res.end();
        return;
      }
      stats.written += chunk.length;
      res.write(chunk);
      setImmediate(next);
    };
    next();
  };
}

beforeAll(async () => {
  resourcesBefore = resourceCounts();
  listenersBefore = listenerCounts();
  realProcess.on('unhandledRejection', onUnhandledRejection);

  emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [{ ...users.anna }] });
  upstream = createServer((req, res) => {
    upstreamCalls += 1;
    req.resume();
    req.on('end', () => answer(req, res));
  });
  upstreamUrl = await listen(upstream);

  // The first requests of the process pay for loading and compiling Express, got and the error paths; the
  // timed requests below should not.
  const warm = await startSite({ retries: 1 });
  await request(warm.server).post(tokenPath).set('X-Reteno-Inbox', '1').expect(200);
  emulator.fail({ kind: 'status', status: 503, times: 2, route: 'token' });
  await request(warm.server).post(tokenPath).set('X-Reteno-Inbox', '1').expect(502);
  answer = json(200, '{"token":"warm"}', 'text/plain');
  const warmUpstream = await startSite({ baseUrl: upstreamUrl });
  await request(warmUpstream.server).post(tokenPath).set('X-Reteno-Inbox', '1').expect(200);
  await Promise.all([...sites].map(closeServer));
  sites.clear();
});

beforeEach(() => {
  emulator.clearFaults();
  emulator.clearRequests();
  upstreamCalls = 0;
  answer = json(200, '{"token":"t"}');
});

afterEach(async () => {
  await Promise.all([...sites].map(closeServer));
  sites.clear();
});

afterAll(async () => {
  await emulator.close();
  await closeServer(upstream);

  // No timer may outlive the requests: counted at once, not after they had time to fire.
  const timersAfter = resourceCounts().Timeout;
  // Keep-alive sockets to Reteno close as the far end closes them; give them a moment, no more.
  const settledBy = Date.now() + 1000;
  const socketsSettled = (counts: ResourceCounts) =>
    counts.TCPSocketWrap <= resourcesBefore.TCPSocketWrap &&
    counts.TCPServerWrap <= resourcesBefore.TCPServerWrap;
  while (!socketsSettled(resourceCounts()) && Date.now() < settledBy) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  realProcess.off('unhandledRejection', onUnhandledRejection);

  const after = { ...resourceCounts(), Timeout: timersAfter };
  const leaked = watchedResources
    .filter((resource) => after[resource] > resourcesBefore[resource])
    .map((resource) => `${resource}: ${resourcesBefore[resource]} before, ${after[resource]} after`);
  expect(leaked).toEqual([]);
  expect(listenerCounts()).toEqual(listenersBefore);
  expect(unhandled).toEqual([]);
  const everything = seen.join('\n');
  expect(everything).not.toContain(apiKey);
  expect(everything).not.toContain(credentials);
});

describe('token route fault matrix', () => {
  describe('Reteno is slow', () => {
    it('answers 504 upstream_timeout when Reteno never answers', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'timeout', route: 'token' });
      const { response, elapsed } = await askToken(site);
      expect(response.status).toBe(504);
      expect(response.body).toEqual({ error: 'upstream_timeout' });
      expect(elapsed).toBeGreaterThanOrEqual(timeout - 10);
      expect(tokenCalls()).toHaveLength(1);
      expect(site.logs.warnings).toEqual([expect.stringContaining('ERR_RETENO_INBOX_UPSTREAM_FAILED')]);
    });

    it('answers 504 when the retry of a 5xx hangs, the timeout counting from the first attempt', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'status', status: 503, times: 1, route: 'token' });
      emulator.fail({ kind: 'timeout', route: 'token' });
      const { response, elapsed } = await askToken(site);
      expect(response.status).toBe(504);
      expect(response.body).toEqual({ error: 'upstream_timeout' });
      expect(elapsed).toBeGreaterThanOrEqual(timeout - 10);
      expect(tokenCalls()).toHaveLength(2);
    });

    it('answers 504 when slow 5xx answers and the backoff between them outlast the timeout', async () => {
      const site = await startSite({ retries: 5 });
      // 400 ms per answer and 100–150 ms of backoff: the second attempt is still out when the timeout ends.
      emulator.fail({ kind: 'status', status: 500, delayMs: 400, route: 'token' });
      const { response, elapsed } = await askToken(site);
      expect(response.status).toBe(504);
      expect(response.body).toEqual({ error: 'upstream_timeout' });
      expect(elapsed).toBeGreaterThanOrEqual(timeout - 10);
      expect(tokenCalls()).toHaveLength(2);
    });

    it('answers 504 when the answer trickles in slower than the timeout', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'trickle', delayMs: 50, route: 'token' });
      const { response, elapsed } = await askToken(site);
      expect(response.status).toBe(504);
      expect(response.body).toEqual({ error: 'upstream_timeout' });
      expect(elapsed).toBeGreaterThanOrEqual(timeout - 10);
      expect(tokenCalls()).toHaveLength(1);
    });

    it('answers 200 when a trickling answer completes within the timeout', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'trickle', delayMs: 4, route: 'token' });
      const { response } = await askToken(site);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ token: expect.any(String) });
      expect(response.body.token.length).toBeGreaterThan(8);
      expect(tokenCalls()).toHaveLength(1);
    });
  });

  describe('Reteno resets or fails', () => {
    it('answers 502 upstream_error after retrying connection resets', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'reset', route: 'token' });
      const { response } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(tokenCalls()).toHaveLength(retries + 1);
      expect(site.logs.warnings).toEqual([expect.stringContaining('network error')]);
    });

    it('answers 200 when one reset is followed by a token', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'reset', times: 1, route: 'token' });
      const { response } = await askToken(site);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ token: expect.any(String) });
      expect(tokenCalls()).toHaveLength(2);
    });

    it.each([500, 502, 503, 504])(
      'answers 200 after a burst of %i shorter than the retries',
      async (status) => {
        // Time for both backoffs (100–150, then 200–250 ms) and three answers, even on a busy machine.
        const site = await startSite({ timeout: 3000 });
        emulator.fail({ kind: 'status', status, times: retries, route: 'token' });
        const { response } = await askToken(site);
        expect(response.status).toBe(200);
        expect(response.body).toEqual({ token: expect.any(String) });
        expect(tokenCalls()).toHaveLength(retries + 1);
        expect(site.logs.warnings).toEqual([]);
      },
    );

    it('answers 502 to a 5xx burst longer than the retries, then 200 once Reteno recovers', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'status', status: 503, times: retries + 1, route: 'token' });
      const failed = await askToken(site);
      expect(failed.response.status).toBe(502);
      expect(failed.response.body).toEqual({ error: 'upstream_error' });
      expect(tokenCalls()).toHaveLength(retries + 1);
      expect(site.logs.warnings).toEqual([expect.stringContaining('HTTP 503')]);

      emulator.clearRequests();
      const recovered = await askToken(site);
      expect(recovered.response.status).toBe(200);
      expect(tokenCalls()).toHaveLength(1);
    });
    it('makes a single attempt with retries: 0', async () => {
      const site = await startSite({ retries: 0 });
      emulator.fail({ kind: 'status', status: 500, route: 'token' });
      const { response } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(tokenCalls()).toHaveLength(1);
    });

    it('answers 502 upstream_error to a 4xx other than 401, 403 and 429, not retried', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'status', status: 400, route: 'token' });
      const { response } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(tokenCalls()).toHaveLength(1);
    });

    it('answers 502 upstream_error when nothing listens at baseUrl', async () => {
      const closed = createServer();
      const url = await listen(closed);
      await closeServer(closed);
      const site = await startSite({ baseUrl: url });
      const { response } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(site.logs.warnings).toEqual([expect.stringContaining('ERR_RETENO_INBOX_UPSTREAM_FAILED')]);
    });
  });

  describe('Reteno is busy', () => {
    it('retries a 429 after its Retry-After when that fits in the timeout', async () => {
      const site = await startSite({ timeout: 2500 });
      emulator.fail({ kind: 'status', status: 429, retryAfter: 1, times: 1, route: 'token' });
      const { response, elapsed } = await askToken(site);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ token: expect.any(String) });
      expect(elapsed).toBeGreaterThanOrEqual(1000 - 10);
      expect(tokenCalls()).toHaveLength(2);
    });

    it.each([
      ['in seconds', 20, 20],
      ['in seconds, over 30', 120, 30],
      ['as an HTTP date 2 minutes ahead', new Date(Date.now() + 120_000).toUTCString(), 30],
    ] as const)(
      'answers 503 upstream_busy at once when Retry-After (%s) is longer than the timeout, for at most 30 s',
      async (_case, retryAfter, expected) => {
        const site = await startSite();
        emulator.fail({ kind: 'status', status: 429, retryAfter, route: 'token' });
        const { response, elapsed } = await askToken(site);
        expect(response.status).toBe(503);
        expect(response.body).toEqual({ error: 'upstream_busy' });
        expect(Number(response.headers['retry-after'])).toBe(expected);
        // Not waiting for a retry that cannot fit.
        expect(elapsed).toBeLessThan(timeout / 2);
        expect(tokenCalls()).toHaveLength(1);
      },
    );

    it('answers 503 upstream_busy with Retry-After: 1 at the first 429 without Retry-After, not retried at once', async () => {
      const site = await startSite({ retries: 1 });
      emulator.fail({ kind: 'status', status: 429, route: 'token' });
      const { response } = await askToken(site);
      expect(response.status).toBe(503);
      expect(response.body).toEqual({ error: 'upstream_busy' });
      expect(response.headers['retry-after']).toBe('1');
      expect(tokenCalls()).toHaveLength(1);
    });

    it("honours a retryAfter field in seconds in a 429's JSON body", async () => {
      const site = await startSite({ baseUrl: upstreamUrl });
      answer = json(429, '{"retryAfter":20}');
      const { response } = await askToken(site);
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('20');
      expect(upstreamCalls).toBe(1);
    });
  });

  describe('Reteno answers something that is not a token', () => {
    it.each([
      ['malformed JSON', { kind: 'malformed-json' }],
      ['an HTML page with status 200', { kind: 'garbage' }],
    ] as const)('answers 502 upstream_error after retrying %s', async (_case, fault: EmulatorFault) => {
      const site = await startSite();
      emulator.fail({ ...fault, route: 'token' });
      const { response } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(tokenCalls()).toHaveLength(retries + 1);
      expect(site.logs.warnings).toEqual([expect.stringContaining('the answer is not JSON')]);
    });

    it.each([
      ['an object without token', '{}'],
      ['a null token', '{"token":null}'],
      ['a numeric token', '{"token":42}'],
      ['an array', '[{"token":"t"}]'],
      ['a bare string', '"t"'],
      ['null', 'null'],
      ['a token longer than 8 KiB', JSON.stringify({ token: 'a'.repeat(8 * 1024 + 1) })],
    ])('answers 502 upstream_error, not retried, to JSON with %s', async (_case, body) => {
      const site = await startSite({ baseUrl: upstreamUrl });
      answer = json(200, body);
      const { response } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(upstreamCalls).toBe(1);
      expect(site.logs.warnings).toEqual([expect.stringContaining('the answer has no token string')]);
    });

    it.each([
      ['text/plain', 'text/plain; charset=utf-8'],
      ['text/html', 'text/html'],
      ['no content type', null],
    ])('accepts a JSON token sent as %s', async (_case, contentType) => {
      const site = await startSite({ baseUrl: upstreamUrl });
      answer = json(200, '{"token":"plain-token"}', contentType);
      const { response } = await askToken(site);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ token: 'plain-token' });
      expect(upstreamCalls).toBe(1);
    });

    it.each([301, 302, 307])(
      'answers 502 upstream_error to a %i, even one carrying a token, and does not follow it',
      async (status) => {
        const site = await startSite({ baseUrl: upstreamUrl });
        answer = (_req, res) => {
          res.writeHead(status, { location: `${upstreamUrl}/elsewhere`, 'content-type': 'application/json' });
          res.end('{"token":"redirected-token"}');
        };
        const { response } = await askToken(site);
        expect(response.status).toBe(502);
        expect(response.body).toEqual({ error: 'upstream_error' });
        expect(upstreamCalls).toBe(1);
        expect(site.logs.warnings).toEqual([expect.stringContaining(`HTTP ${status}`)]);
      },
    );

    it('answers 404 contact_not_found to an empty token', async () => {
      const site = await startSite({ baseUrl: upstreamUrl });
      answer = json(200, '{"token":""}');
      const { response } = await askToken(site);
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ error: 'contact_not_found' });
      expect(upstreamCalls).toBe(1);
    });
  });

  describe('Reteno answers 10 MiB', () => {
    it('answers 502 quickly to a chunked 10 MiB body, not retried', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'oversize', route: 'token' });
      const { response, elapsed } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(elapsed).toBeLessThan(timeout / 2);
      expect(tokenCalls()).toHaveLength(1);
      expect(site.logs.warnings).toEqual([expect.stringContaining('larger than 65536 bytes')]);
    });

    it.each([200, 503])('hangs up on a %i with a 10 MiB body long before it is all sent', async (status) => {
      const site = await startSite({ baseUrl: upstreamUrl });
      const stats: BigBody = { written: 0, finished: false };
      answer = tenMegabyteAnswer(status, stats);
      const { response, elapsed } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(elapsed).toBeLessThan(timeout / 2);
      expect(upstreamCalls).toBe(1);
      expect(stats.finished).toBe(false);
      expect(stats.written).toBeLessThanOrEqual(1024 * 1024);
    });
  });

  describe('Reteno refuses the API key', () => {
    it.each([401, 403])(
      'answers 502 at once to %i, not retried, logged as a configuration error without the key',
      async (status) => {
        const site = await startSite();
        emulator.fail({ kind: 'status', status, route: 'token' });
        const { response, elapsed } = await askToken(site);
        expect(response.status).toBe(502);
        expect(response.body).toEqual({ error: 'upstream_error' });
        expect(elapsed).toBeLessThan(timeout / 2);
        expect(tokenCalls()).toHaveLength(1);
        expect(site.logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_UPSTREAM_AUTH')]);
        expect(site.logs.errors[0]).toContain(`HTTP ${status}`);
        expect(site.logs.warnings).toEqual([]);
        expect(JSON.stringify(response.headers) + response.text).not.toContain(apiKey);
      },
    );

    it('logs the refused key the first time and then at most once a minute, not once per request', async () => {
      const site = await startSite();
      emulator.fail({ kind: 'status', status: 401, route: 'token' });
      for (let call = 0; call < 3; call++) {
        expect((await askToken(site)).response.status).toBe(502);
      }
      expect(tokenCalls()).toHaveLength(3);
      expect(site.logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_UPSTREAM_AUTH')]);
    });

    it('answers 502 to a key Reteno does not know, logging a configuration error without that key', async () => {
      const wrongKey = 'wrong-key-0000';
      const site = await startSite({ apiKey: wrongKey });
      const { response } = await askToken(site);
      expect(response.status).toBe(502);
      expect(response.body).toEqual({ error: 'upstream_error' });
      expect(tokenCalls()).toHaveLength(1);
      expect(site.logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_UPSTREAM_AUTH')]);
      const visible = [JSON.stringify(response.headers), response.text, ...site.logs.errors].join('\n');
      expect(visible).not.toContain(wrongKey);
      expect(visible).not.toContain(basicCredentials(wrongKey));
    });
  });
});
