import { RedisStore } from 'connect-redis';
import type { Express } from 'express';
import { createClient, type RedisClientType } from 'redis';
import request from 'supertest';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { startRedis } from '../bench/redis.js';
import { describeWith, redisServer, redisServerCommand } from './helpers/requirements.js';
import { apiKey, buildSite, readInboxEmbed, scriptId, scriptTags, tokenPath } from './helpers/site.js';

// Two instances of one site behind a load balancer share their sessions through Redis (connect-redis).
// The inbox must follow the shared session: signed in on one means signed in on both, and so does signing out.

describeWith([redisServer], 'more than one server, sessions in Redis', () => {
  const anna = { email: 'anna@example.com' }; // users.anna of the site helper
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  let emulator: RetenoEmulator;
  const clients: RedisClientType[] = [];
  let servers: [Express, Express];

  beforeAll(async () => {
    const started = await startRedis(redisServerCommand as string);
    redis = started;
    emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [anna] });
    // Each instance has its own Redis connection and store, as separate processes would.
    const instance = async () => {
      const client: RedisClientType = createClient({ url: started.url });
      await client.connect();
      clients.push(client);
      return buildSite({ baseUrl: emulator.url }, { sessionStore: new RedisStore({ client }) }).app;
    };
    servers = [await instance(), await instance()];
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) await client.close();
    await emulator?.close();
    await redis?.stop();
  });

  async function signIn(server: Express): Promise<string> {
    const answer = await request(server).post('/sign-in').send({ user: 'anna' }).expect(204);
    const cookie = ([] as string[]).concat(answer.headers['set-cookie'] ?? [])[0]?.split(';')[0];
    expect(cookie).toMatch(/^connect\.sid=/);
    return cookie as string;
  }

  function page(server: Express, cookie: string) {
    return request(server).get('/page').set('Cookie', cookie).expect(200);
  }

  function token(server: Express, cookie: string) {
    return request(server).post(tokenPath).set('Cookie', cookie).set('X-Reteno-Inbox', '1');
  }

  it('keeps the sessions in Redis, not in either process', async () => {
    const cookie = await signIn(servers[0]);
    // connect.sid=s%3A<id>.<signature>
    const sessionId = /^s:([^.]+)\./.exec(decodeURIComponent(cookie.slice('connect.sid='.length)))?.[1];
    expect(sessionId).toBeDefined();
    expect(await clients[1]?.get(`sess:${sessionId}`)).toContain('anna@example.com');
  });

  it('gives a visitor signed in on one server the inbox and a token on the other', async () => {
    const [one, other] = servers;
    const cookie = await signIn(one);
    emulator.clearRequests();

    const otherPage = await page(other, cookie);
    expect(scriptTags(otherPage.text)).toHaveLength(2);
    // The same contact id on both servers: a tab of one is not reloaded by a page of the other.
    const firstPage = await page(one, cookie);
    expect(readInboxEmbed(otherPage.text)?.config.contact).toBe(
      readInboxEmbed(firstPage.text)?.config.contact,
    );

    const answer = await token(other, cookie).expect(200);
    expect(typeof answer.body.token).toBe('string');
    expect(answer.body.token).not.toBe('');
    expect(emulator.requests.map((logged) => logged.body)).toEqual([anna]);
  });

  it('ends the inbox on every server when the visitor signs out on one', async () => {
    const [one, other] = servers;
    const cookie = await signIn(other);
    await token(one, cookie).expect(200);

    await request(other).post('/sign-out').set('Cookie', cookie).expect(204);

    for (const server of [one, other]) {
      expect(scriptTags((await page(server, cookie)).text)).toEqual([]);
      expect((await token(server, cookie)).status).toBe(401);
    }
  });
});
