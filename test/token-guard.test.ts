import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Express } from 'express';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import request from 'supertest';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import type { Contact, RetenoInboxOptions } from '../src/index.js';
import { startRedis } from '../bench/redis.js';
import { describeWith, redisServer, redisServerCommand } from './helpers/requirements.js';
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
 * What protects the site's Reteno account from its token route: a token budget per contact, a cap on requests to
 * Reteno in flight with a bounded queue, and one back-off after a 429 for every request of the instance (of every
 * instance, with Redis).
 */

const contacts: Contact[] = Array.from({ length: 40 }, (_, index) => ({
  email: `visitor${index}@example.com`,
}));
let emulator: RetenoEmulator;

beforeAll(async () => {
  emulator = await createRetenoEmulator({
    apiKey,
    scriptId,
    contacts: [...Object.values(users), ...contacts],
  });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.clearFaults();
  emulator.clearRequests();
});

const tokenCalls = () => emulator.requests.filter((entry) => entry.path === '/v1/auth/contact/token').length;

/** A site whose visitor is whoever the `X-Test-Contact` header names (a test's stand-in for the session). */
function site(options: Partial<RetenoInboxOptions> = {}): { app: Express; logs: LogRecorder } {
  const logs = recordLogs();
  const { app } = buildSite(
    { baseUrl: emulator.url, logger: logs, ...options },
    {
      resolveContact: (req) => {
        const name = req.get('x-test-contact') ?? 'anna';
        return users[name] ?? contacts[Number(name)];
      },
    },
  );
  return { app, logs };
}

function askToken(app: Express | Server, contact = 'anna', extra: Record<string, string> = {}) {
  return request(app)
    .post(tokenPath)
    .set({ 'X-Reteno-Inbox': '1', 'X-Test-Contact': contact, ...extra });
}

describe('token budget per contact', () => {
  it('answers 429 too_many_requests with Retry-After over the budget, without calling Reteno', async () => {
    const { app, logs } = site({ tokenBudget: { limit: 3, windowMs: 60_000 } });
    for (let index = 0; index < 3; index++) expect((await askToken(app)).status).toBe(200);
    const refused = await askToken(app);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: 'too_many_requests' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(refused.headers['x-reteno-inbox']).toBe('1');
    expect(refused.headers['cache-control']).toBe('no-store');
    expect((await askToken(app)).status).toBe(429);
    expect(tokenCalls()).toBe(3);
    expect(logs.warnings).toEqual([expect.stringContaining('ERR_RETENO_INBOX_TOKEN_BUDGET')]);
  });

  it('allows 60 token requests a minute by default', async () => {
    const { app } = site();
    const statuses: number[] = [];
    for (let index = 0; index < 61; index++) statuses.push((await askToken(app)).status);
    expect(statuses.slice(0, 60).every((status) => status === 200)).toBe(true);
    expect(statuses[60]).toBe(429);
    expect(tokenCalls()).toBe(60);
  });

  it('counts every contact on its own', async () => {
    const { app } = site({ tokenBudget: { limit: 1, windowMs: 60_000 } });
    expect((await askToken(app, 'anna')).status).toBe(200);
    expect((await askToken(app, 'anna')).status).toBe(429);
    expect((await askToken(app, 'bob')).status).toBe(200);
  });

  it('keys on the contact from resolveContact, whatever the browser sends', async () => {
    const { app } = site({ tokenBudget: { limit: 1, windowMs: 60_000 } });
    expect((await askToken(app)).status).toBe(200);
    const disguised = await request(app)
      .post(`${tokenPath}?email=other@example.com`)
      .set({ 'X-Reteno-Inbox': '1', Cookie: 'connect.sid=another', 'X-Forwarded-For': '203.0.113.9' })
      .send({ email: 'other@example.com', externalCustomerId: 'other' });
    expect(disguised.status).toBe(429);
    expect(tokenCalls()).toBe(1);
  });

  it('starts the window at the first request and refills when it ends', async () => {
    const { app } = site({ tokenBudget: { limit: 1, windowMs: 1000 } });
    expect((await askToken(app)).status).toBe(200);
    const refused = await askToken(app);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    await sleep(1050);
    expect((await askToken(app)).status).toBe(200);
  });

  it('is off with tokenBudget: false', async () => {
    const { app } = site({ tokenBudget: false });
    for (let index = 0; index < 70; index++) expect((await askToken(app)).status).toBe(200);
    expect(tokenCalls()).toBe(70);
  });
});

/** A Reteno on loopback that answers each token request after `delayMs`, counting requests and sockets. */
async function slowReteno(delayMs: number) {
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0, sockets: 0, maxSockets: 0 };
  const server = createServer((_req: IncomingMessage, res: ServerResponse) => {
    stats.requests += 1;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    const timer = setTimeout(() => {
      stats.inFlight -= 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"slow-token"}');
    }, delayMs);
    res.on('close', () => {
      if (!res.writableEnded) {
        clearTimeout(timer);
        stats.inFlight -= 1;
      }
    });
  });
  server.on('connection', (socket) => {
    stats.sockets += 1;
    stats.maxSockets = Math.max(stats.maxSockets, stats.sockets);
    socket.on('close', () => {
      stats.sockets -= 1;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    stats,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('requests to Reteno in flight', () => {
  it('sends at most maxInFlight at once, queues up to maxQueued and answers 503 upstream_busy beyond', async () => {
    const reteno = await slowReteno(200);
    try {
      const { app } = site({
        baseUrl: reteno.url,
        maxInFlight: 4,
        maxQueued: 10,
        timeout: 3000,
        tokenBudget: false,
      });
      const server = app.listen(0, '127.0.0.1');
      try {
        const started = performance.now();
        const answers = await Promise.all(
          Array.from({ length: 20 }, async (_, index) => {
            const response = await askToken(server, String(index));
            return {
              status: response.status,
              retryAfter: response.headers['retry-after'],
              ms: performance.now() - started,
            };
          }),
        );
        const busy = answers.filter((answer) => answer.status === 503);
        expect(answers.filter((answer) => answer.status === 200)).toHaveLength(14);
        expect(busy).toHaveLength(6);
        // The overflow is told at once, not after waiting.
        for (const answer of busy) {
          expect(answer.retryAfter).toBe('1');
          expect(answer.ms).toBeLessThan(150);
        }
        expect(reteno.stats.maxInFlight).toBe(4);
        expect(reteno.stats.maxSockets).toBeLessThanOrEqual(4);
        expect(reteno.stats.requests).toBe(14);
      } finally {
        server.close();
        server.closeAllConnections();
      }
    } finally {
      await reteno.close();
    }
  });

  it('answers 504 upstream_timeout to a request still waiting in line at its timeout', async () => {
    const reteno = await slowReteno(5000);
    try {
      const { app } = site({ baseUrl: reteno.url, maxInFlight: 1, timeout: 500, retries: 0 });
      const started = performance.now();
      const answers = await Promise.all([askToken(app, 'anna'), askToken(app, 'bob')]);
      expect(answers.map((answer) => answer.status)).toEqual([504, 504]);
      expect(answers[1]?.body).toEqual({ error: 'upstream_timeout' });
      expect(performance.now() - started).toBeLessThan(500 + 100);
      // The second never reached Reteno: it waited for the first, which held the one place.
      expect(reteno.stats.requests).toBe(1);
    } finally {
      await reteno.close();
    }
  });

  it('keeps connections to Reteno alive between requests', async () => {
    const reteno = await slowReteno(1);
    try {
      const { app } = site({ baseUrl: reteno.url, tokenBudget: false });
      for (let index = 0; index < 5; index++) expect((await askToken(app)).status).toBe(200);
      expect(reteno.stats.maxSockets).toBe(1);
    } finally {
      await reteno.close();
    }
  });
});

describe('one back-off after a 429', () => {
  it('sends Reteno one request per back-off window while it throttles, answering 503 with Retry-After meanwhile', async () => {
    // A request waits for a window when half its timeout (at most 1 s) is left after it for its own call.
    const { app, logs } = site({ timeout: 3000, tokenBudget: false });
    emulator.fail({ kind: 'status', status: 429, route: 'token' });
    const server = app.listen(0, '127.0.0.1');
    const statuses = new Map<number, number>();
    try {
      // The first 429 (alone, so that no other request is on its way to Reteno when it comes back; it waits for
      // the 1 s window and tests Reteno again itself), then a new visitor every 50 ms for 3.5 s: 2 s later one of
      // them tests Reteno again.
      // The exact windows, on a virtual clock: token-guard-clock.test.ts.
      const first = await askToken(server, 'anna');
      statuses.set(first.status, 1);
      const pending: Promise<void>[] = [];
      const started = performance.now();
      for (let index = 0; performance.now() - started < 3500; index++) {
        pending.push(
          askToken(server, String(index % contacts.length)).then((response) => {
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
            expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
          }),
        );
        await sleep(50);
      }
      await Promise.all(pending);
    } finally {
      server.close();
      server.closeAllConnections();
    }
    expect([...statuses.keys()]).toEqual([503]);
    expect(tokenCalls()).toBeGreaterThanOrEqual(2);
    expect(tokenCalls()).toBeLessThanOrEqual(3);
    expect(logs.warnings.every((line) => line.includes('ERR_RETENO_INBOX_UPSTREAM_BUSY'))).toBe(true);
    expect(logs.warnings.length).toBeLessThanOrEqual(1);
  });

  it('lengthens the window after each 429 (1 s, then 2 s) and ends it at the first answer', async () => {
    // Too short to wait for a window and still keep half the timeout for the call: answered 503 at once.
    const { app } = site({ timeout: 1900, tokenBudget: false });
    emulator.fail({ kind: 'status', status: 429, route: 'token', times: 2 });
    const first = await askToken(app);
    expect([first.status, first.headers['retry-after']]).toEqual([503, '1']);
    await sleep(1100);
    const probe = await askToken(app, 'bob');
    expect([probe.status, probe.headers['retry-after']]).toEqual([503, '2']);
    expect((await askToken(app, 'carol')).status).toBe(503);
    expect(tokenCalls()).toBe(2);
    await sleep(2100);
    expect((await askToken(app, 'carol')).status).toBe(200);
    expect((await askToken(app, 'dave')).status).toBe(200);
    expect(tokenCalls()).toBe(4);
  });

  it('lets a request wait for the end of the window when that fits in its timeout', async () => {
    const { app } = site({ timeout: 3000, tokenBudget: false });
    emulator.fail({ kind: 'status', status: 429, retryAfter: 1, route: 'token', times: 1 });
    const [first, second] = await Promise.all([
      askToken(app, 'anna'),
      sleep(100).then(() => askToken(app, 'bob')),
    ]);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    // The 429, one probe after the window, then the other request.
    expect(tokenCalls()).toBe(3);
  });
});

describeWith([redisServer], 'several instances sharing one Redis', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    redis = await startRedis(redisServerCommand as string);
  }, 30_000);
  afterAll(() => redis.stop());

  const clientKinds = {
    'node-redis': async () => {
      const client = createClient({ url: redis.url });
      client.on('error', () => {});
      await client.connect();
      return { client, flush: async () => void (await client.flushAll()), close: () => client.close() };
    },
    ioredis: async () => {
      const client = new Redis(redis.url, { lazyConnect: true });
      client.on('error', () => {});
      await client.connect();
      return {
        client,
        flush: async () => void (await client.flushall()),
        close: async () => void (await client.quit()),
      };
    },
  };

  /** Two instances of one site, each with its own connection, as two processes would have. */
  async function twoInstances(kind: keyof typeof clientKinds, options: Partial<RetenoInboxOptions>) {
    const connections = [await clientKinds[kind](), await clientKinds[kind]()];
    await connections[0]?.flush();
    const [first, second] = connections.map(({ client }) => site({ redis: client, ...options }).app) as [
      Express,
      Express,
    ];
    return { first, second, close: () => Promise.all(connections.map((connection) => connection.close())) };
  }

  it.each(Object.keys(clientKinds) as (keyof typeof clientKinds)[])(
    'shares one token budget per contact between instances (%s)',
    async (kind) => {
      const { first, second, close } = await twoInstances(kind, {
        tokenBudget: { limit: 4, windowMs: 60_000 },
      });
      try {
        for (const app of [first, second, first, second]) expect((await askToken(app)).status).toBe(200);
        expect((await askToken(first)).status).toBe(429);
        expect((await askToken(second)).status).toBe(429);
        expect((await askToken(second, 'bob')).status).toBe(200);
        expect(tokenCalls()).toBe(5);
      } finally {
        await close();
      }
    },
  );

  it.each(Object.keys(clientKinds) as (keyof typeof clientKinds)[])(
    'shares the back-off after a 429 between instances (%s)',
    async (kind) => {
      const { first, second, close } = await twoInstances(kind, { timeout: 1500, tokenBudget: false });
      try {
        emulator.fail({ kind: 'status', status: 429, retryAfter: 2, route: 'token', times: 1 });
        expect((await askToken(first)).status).toBe(503);
        const other = await askToken(second, 'bob');
        expect(other.status).toBe(503);
        expect(Number(other.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(tokenCalls()).toBe(1);
      } finally {
        await close();
      }
    },
  );

  it('grows the back-off when Reteno gives no Retry-After, up to 30 s', async () => {
    const connection = await clientKinds['node-redis']();
    try {
      await connection.client.flushAll();
      const { app } = site({ redis: connection.client, timeout: 1000, tokenBudget: false });
      emulator.fail({ kind: 'status', status: 429, route: 'token' });
      // Earlier 429s of the instances, as the store remembers them: the next one is the 4th, 5th, 6th, 9th.
      for (const [strikes, window] of [
        [3, '8'],
        [4, '16'],
        [5, '30'],
        [8, '30'],
      ] as const) {
        await connection.client.set('reteno-inbox:strikes:reteno', String(strikes), { EX: 300 });
        await connection.client.del('reteno-inbox:backoff:reteno');
        const probe = await askToken(app);
        expect([probe.status, probe.headers['retry-after']]).toEqual([503, window]);
      }
      expect(tokenCalls()).toBe(4);
    } finally {
      await connection.close();
    }
  });

  it('keeps answering, counting per instance, while Redis is unreachable', async () => {
    const spare = await startRedis(redisServerCommand as string);
    const client = createClient({ url: spare.url, socket: { reconnectStrategy: () => 100 } });
    client.on('error', () => {});
    await client.connect();
    try {
      const { app } = site({ redis: client, tokenBudget: { limit: 2, windowMs: 60_000 }, timeout: 1000 });
      expect((await askToken(app)).status).toBe(200);
      await spare.stop();
      const started = performance.now();
      expect((await askToken(app)).status).toBe(200);
      expect((await askToken(app)).status).toBe(200);
      expect((await askToken(app)).status).toBe(429);
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      client.destroy();
    }
  });
});
