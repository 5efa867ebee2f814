import { createHash } from 'node:crypto';
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

const contacts: Contact[] = Array.from({ length: 100 }, (_, index) => ({
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

describe('a malformed contact', () => {
  it('is logged at most once every 10 s per instance, from the token route and the pages together', async () => {
    const logs = recordLogs();
    const { app } = buildSite(
      { baseUrl: emulator.url, logger: logs },
      { resolveContact: () => ({ email: 'not an e-mail' }) },
    );
    for (let index = 0; index < 5; index++) {
      expect((await askToken(app)).status).toBe(422);
      await request(app).get('/page').expect(200);
    }
    expect(logs.warnings).toEqual([expect.stringContaining('ERR_RETENO_INBOX_INVALID_CONTACT')]);
    expect(tokenCalls()).toBe(0);
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
  // The exact line, on a virtual clock: token-guard-clock.test.ts. Here the route, whose arrivals a busy machine spreads.
  it('sends at most maxInFlight at once, and answers 503 upstream_busy with Retry-After: 1 to the overflow', async () => {
    const reteno = await slowReteno(200);
    try {
      const { app } = site({
        baseUrl: reteno.url,
        maxInFlight: 4,
        maxQueued: 2,
        timeout: 3000,
        tokenBudget: false,
      });
      const server = app.listen(0, '127.0.0.1');
      try {
        const answers = await Promise.all(
          Array.from({ length: 20 }, async (_, index) => {
            const response = await askToken(server, String(index));
            return { status: response.status, retryAfter: response.headers['retry-after'] };
          }),
        );
        const served = answers.filter((answer) => answer.status === 200);
        const busy = answers.filter((answer) => answer.status === 503);
        expect(served.length + busy.length).toBe(20);
        for (const answer of busy) expect(answer.retryAfter).toBe('1');
        expect(reteno.stats.maxInFlight).toBeLessThanOrEqual(4);
        expect(reteno.stats.maxSockets).toBeLessThanOrEqual(4);
        expect(reteno.stats.requests).toBe(served.length);
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
      const answers = await Promise.all([askToken(app, 'anna'), askToken(app, 'bob')]);
      expect(answers.map((answer) => answer.status)).toEqual([504, 504]);
      expect(answers[1]?.body).toEqual({ error: 'upstream_timeout' });
      // The second never reached Reteno: it waited for the first, which held the one place.
      expect(reteno.stats.requests).toBe(1);
    } finally {
      await reteno.close();
    }
  });

  it('answers 429 too_many_requests with Retry-After: 1 to a contact asking again while its call waits', async () => {
    const reteno = await slowReteno(300);
    try {
      const { app } = site({ baseUrl: reteno.url, tokenBudget: false });
      const server = app.listen(0, '127.0.0.1');
      try {
        const first = askToken(server, 'anna').then((response) => response);
        // The first call is at Reteno for 300 ms: the second arrives meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const again = await askToken(server, 'anna');
        expect([again.status, again.headers['retry-after']]).toEqual([429, '1']);
        expect(again.body).toEqual({ error: 'too_many_requests' });
        expect((await askToken(server, 'bob')).status).toBe(200);
        expect((await first).status).toBe(200);
        expect(reteno.stats.requests).toBe(2);
      } finally {
        server.close();
        server.closeAllConnections();
      }
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
      // the 1 s window and tests Reteno again itself), then a new visitor every 50 ms for 3.5 s (each a contact of
      // its own, one place each): 2 s later one of them tests Reteno again.
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
      const { app } = site({
        redis: connection.client,
        redisPrefix: 'growing',
        timeout: 1000,
        tokenBudget: false,
      });
      emulator.fail({ kind: 'status', status: 429, route: 'token' });
      // Earlier 429s of the instances, as the store remembers them: the next one is the 4th, 5th, 6th, 9th.
      for (const [strikes, window] of [
        [3, '8'],
        [4, '16'],
        [5, '30'],
        [8, '30'],
      ] as const) {
        await connection.client.set('growing:strikes:token', String(strikes), { EX: 300 });
        await connection.client.del('growing:backoff:token');
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

  /** A throwaway redis-server of its own, to freeze. */
  async function spareRedis(kind: keyof typeof clientKinds) {
    const spare = await startRedis(redisServerCommand as string);
    const connect = async () => {
      if (kind === 'ioredis') {
        const client = new Redis(spare.url, { lazyConnect: true });
        client.on('error', () => {});
        await client.connect();
        return { client, close: () => client.disconnect() };
      }
      const client = createClient({ url: spare.url });
      client.on('error', () => {});
      await client.connect();
      return { client, close: () => client.destroy() };
    };
    return { spare, connect };
  }

  function listening(app: Express): Promise<Server> {
    return new Promise((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve(server));
    });
  }

  /** `count` token requests at once, of contacts 0, 1, …, over connections opened beforehand. */
  async function atOnce(server: Server, count: number) {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${tokenPath}`;
    // Open the connections first (405, no store), so that the requests themselves go out together.
    await Promise.all(Array.from({ length: count }, () => fetch(url).then((response) => response.text())));
    return Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'x-reteno-inbox': '1', 'x-test-contact': String(index) },
        });
        await response.text();
        return { status: response.status, retryAfter: response.headers.get('retry-after') };
      }),
    );
  }

  it.each(Object.keys(clientKinds) as (keyof typeof clientKinds)[])(
    'answers while Redis is frozen (SIGSTOP), counting per instance, and logs it once (%s)',
    async (kind) => {
      const { spare, connect } = await spareRedis(kind);
      const connection = await connect();
      try {
        const { app, logs } = site({
          redis: connection.client,
          tokenBudget: { limit: 2, windowMs: 60_000 },
          timeout: 2000,
        });
        expect((await askToken(app)).status).toBe(200);
        // A frozen Redis keeps its connection open: the client still says "ready" and queues every command.
        spare.process.kill('SIGSTOP');
        const server = await listening(app);
        try {
          const answers = await atOnce(server, 20);
          // A 200 came from Reteno before the deadline: nobody waited for Redis until then.
          expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
          // Anna's budget, counted in this instance's memory from now on: 2 more.
          expect((await askToken(server)).status).toBe(200);
          expect((await askToken(server)).status).toBe(200);
          expect((await askToken(server)).status).toBe(429);
        } finally {
          server.close();
          server.closeAllConnections();
        }
        expect(
          logs.warnings.filter((line) => line.includes('ERR_RETENO_INBOX_STORE_UNAVAILABLE')),
        ).toHaveLength(1);
      } finally {
        spare.process.kill('SIGCONT');
        await connection.close();
        await spare.stop();
      }
    },
  );

  it('counts requests waiting for a frozen Redis against maxQueued: the rest get 503 at once', async () => {
    const { spare, connect } = await spareRedis('node-redis');
    const connection = await connect();
    try {
      const { app } = site({ redis: connection.client, maxInFlight: 2, maxQueued: 5, timeout: 2000 });
      const server = await listening(app);
      try {
        spare.process.kill('SIGSTOP');
        const answers = await atOnce(server, 20);
        const busy = answers.filter((answer) => answer.status === 503);
        // 7 wait for the store (maxQueued and the 2 free places), then count in memory and get their tokens.
        expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThanOrEqual(7);
        expect(busy.length).toBeGreaterThanOrEqual(1);
        expect(busy.length + answers.filter((answer) => answer.status === 200).length).toBe(20);
        for (const answer of busy) expect(answer.retryAfter).toBe('1');
      } finally {
        server.close();
        server.closeAllConnections();
      }
    } finally {
      spare.process.kill('SIGCONT');
      await connection.close();
      await spare.stop();
    }
  });

  it('shares the counts through Redis again once it answers, 5 s after it stalled', async () => {
    const { spare, connect } = await spareRedis('node-redis');
    const connections = [await connect(), await connect()];
    try {
      const [first, second] = connections.map(
        (connection) =>
          site({ redis: connection.client, tokenBudget: { limit: 3, windowMs: 60_000 }, timeout: 1000 }).app,
      ) as [Express, Express];
      expect((await askToken(first)).status).toBe(200);
      spare.process.kill('SIGSTOP');
      expect((await askToken(first)).status).toBe(200);
      // The command the client queued meanwhile reaches Redis now: it counts there too.
      spare.process.kill('SIGCONT');
      await sleep(5200);
      // Counted in Redis again: the call before the stall, the queued one and this one spend the shared budget of 3.
      expect((await askToken(first)).status).toBe(200);
      expect((await askToken(second)).status).toBe(429);
    } finally {
      spare.process.kill('SIGCONT');
      for (const connection of connections) await connection.close();
      await spare.stop();
    }
  });

  it('keeps the counts and back-off of sites with different API keys apart on one Redis', async () => {
    const otherKey = 'other-site-api-key-31c9';
    const other = await createRetenoEmulator({
      apiKey: otherKey,
      scriptId,
      contacts: [users.anna as Contact],
    });
    const connections = [await clientKinds['node-redis'](), await clientKinds['node-redis']()];
    try {
      await connections[0]?.flush();
      const budget = { tokenBudget: { limit: 1, windowMs: 60_000 }, timeout: 1000 };
      const siteA = site({ redis: connections[0]?.client, ...budget }).app;
      const siteB = site({
        redis: connections[1]?.client,
        ...budget,
        apiKey: otherKey,
        baseUrl: other.url,
      }).app;
      expect((await askToken(siteA)).status).toBe(200);
      expect((await askToken(siteA)).status).toBe(429);
      expect((await askToken(siteB)).status).toBe(200);
      emulator.fail({ kind: 'status', status: 429, retryAfter: 30, route: 'token', times: 1 });
      expect((await askToken(siteA, 'bob')).status).toBe(503);
      expect((await askToken(siteB, 'bob')).status).not.toBe(503);
    } finally {
      for (const connection of connections) await connection.close();
      await other.close();
    }
  });

  it('stores contacts under HMAC keys and a prefix derived from the API key: no contact value, no plain hash', async () => {
    const connection = await clientKinds['node-redis']();
    try {
      await connection.client.flushAll();
      const { app } = site({ redis: connection.client });
      expect((await askToken(app, 'dave')).status).toBe(200);
      const keys = await connection.client.keys('*');
      expect(keys.length).toBeGreaterThanOrEqual(1);
      const dave = users.dave as Contact;
      const plainHash = createHash('sha256')
        .update(JSON.stringify([dave.email, dave.phone, dave.externalCustomerId]))
        .digest('base64url');
      for (const key of keys) {
        expect(key).toMatch(/^reteno-inbox:[\w-]{12}:/);
        expect(key).not.toContain(plainHash);
        for (const value of Object.values(dave)) expect(key).not.toContain(String(value));
      }
      expect(new Set(keys.map((key) => key.slice(0, 26))).size).toBe(1);
    } finally {
      await connection.close();
    }
  });

  it('shares maxPerSecond between instances', async () => {
    const connections = [await clientKinds['node-redis'](), await clientKinds['node-redis']()];
    try {
      await connections[0]?.flush();
      const [first, second] = connections.map(
        (connection) =>
          site({ redis: connection.client, maxPerSecond: 2, timeout: 1500, tokenBudget: false }).app,
      ) as [Express, Express];
      const started = Date.now();
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, index) => askToken(index % 2 ? first : second, String(index))),
      );
      const seconds = Math.floor(Date.now() / 1000) - Math.floor(started / 1000) + 1;
      expect(answers.every((answer) => answer.status === 200 || answer.status === 504)).toBe(true);
      expect(tokenCalls()).toBeGreaterThanOrEqual(1);
      // At most 2 in each second of the clock, both instances together.
      expect(tokenCalls()).toBeLessThanOrEqual(2 * seconds);
      expect(tokenCalls()).toBeLessThan(10);
    } finally {
      for (const connection of connections) await connection.close();
    }
  });
});
