import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import type { ErrorRequestHandler } from 'express';
import request from 'supertest';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { apiKey, buildSite, readInboxEmbed, recordLogs, tokenPath, users } from './helpers/site.js';

let emulator: RetenoEmulator;
const seen: string[] = [];

beforeAll(async () => {
  emulator = await createRetenoEmulator({
    apiKey,
    scriptId: '0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b',
    contacts: [users.anna, users.bob, users.carol, users.dave].map((contact) => ({ ...contact })),
  });
});
afterAll(async () => {
  // Nothing any test received or logged carried the API key.
  expect(seen.join('\n')).not.toContain(apiKey);
  await emulator.close();
});
beforeEach(() => {
  emulator.clearFaults();
  emulator.clearRequests();
});

const tokenCalls = () => emulator.requests.filter((entry) => entry.path === '/v1/auth/contact/token');

/** Sends `raw` over a fresh socket and resolves with everything the server wrote back. */
function rawRequest(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

function site(
  options: Parameters<typeof buildSite>[0] = {},
  siteOptions: Parameters<typeof buildSite>[1] = {},
) {
  const logs = recordLogs();
  const built = buildSite({ baseUrl: emulator.url, logger: logs, ...options }, siteOptions);
  return { ...built, logs, agent: request.agent(built.app) };
}

async function signedIn(user: keyof typeof users, options: Parameters<typeof buildSite>[0] = {}) {
  const built = site(options);
  await built.agent.post('/sign-in').send({ user }).expect(204);
  return built;
}

async function askToken(agent: request.Agent, headers: Record<string, string> = {}) {
  const response = await agent.post(tokenPath).set('X-Reteno-Inbox', '1').set(headers);
  seen.push(JSON.stringify(response.headers), response.text);
  return response;
}

describe('token route', () => {
  describe('method and origin checks', () => {
    it.each(['get', 'put', 'delete', 'patch'] as const)(
      'answers 405 with Allow: POST to %s, never calling Reteno',
      async (method) => {
        const { agent, resolveCalls } = await signedIn('anna');
        resolveCalls.length = 0;
        const response = await agent[method](tokenPath).set('X-Reteno-Inbox', '1');
        expect(response.status).toBe(405);
        expect(response.headers.allow).toBe('POST');
        expect(response.body).toEqual({ error: 'method_not_allowed' });
        expect(resolveCalls).toHaveLength(0);
        expect(tokenCalls()).toHaveLength(0);
      },
    );

    it.each([
      ['the X-Reteno-Inbox header is missing', {}],
      ['the X-Reteno-Inbox header is not 1', { 'X-Reteno-Inbox': 'true' }],
      ['Origin is another site', { 'X-Reteno-Inbox': '1', Origin: 'https://evil.example' }],
      ['Origin is null', { 'X-Reteno-Inbox': '1', Origin: 'null' }],
      ['Origin is garbage', { 'X-Reteno-Inbox': '1', Origin: 'not a url' }],
      ['Sec-Fetch-Site is cross-site', { 'X-Reteno-Inbox': '1', 'Sec-Fetch-Site': 'cross-site' }],
    ])('answers 403 when %s, before resolveContact and Reteno', async (_case, headers) => {
      const { agent, resolveCalls } = await signedIn('anna');
      resolveCalls.length = 0;
      const response = await agent.post(tokenPath).set(headers);
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ error: 'forbidden' });
      expect(response.headers['cache-control']).toBe('no-store');
      expect(resolveCalls).toHaveLength(0);
      expect(tokenCalls()).toHaveLength(0);
    });

    it("accepts the site's own Origin and same-origin fetch metadata", async () => {
      const { agent } = await signedIn('anna');
      const response = await askToken(agent, {
        Host: 'shop.example:8080',
        Origin: 'http://shop.example:8080',
        'Sec-Fetch-Site': 'same-origin',
      });
      expect(response.status).toBe(200);
    });

    it('takes the origin from X-Forwarded-* only when Express trusts the proxy', async () => {
      const headers = {
        Host: 'internal:3000',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'shop.example',
        Origin: 'https://shop.example',
      };
      const untrusted = await signedIn('anna');
      expect((await askToken(untrusted.agent, headers)).status).toBe(403);

      const trusted = site({}, { configure: (app) => app.set('trust proxy', true) });
      await trusted.agent.post('/sign-in').send({ user: 'anna' }).expect(204);
      expect((await askToken(trusted.agent, headers)).status).toBe(200);
    });

    it('refuses a sibling subdomain (Sec-Fetch-Site: same-site) even behind a permissive CORS layer and a trusted proxy', async () => {
      const permissive = site(
        {},
        {
          configure: (app) => {
            app.set('trust proxy', true);
            // A CORS middleware that lets every origin and header through, as some sites run.
            app.use((req, res, next) => {
              res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*');
              res.setHeader('Access-Control-Allow-Credentials', 'true');
              res.setHeader('Access-Control-Allow-Headers', 'x-reteno-inbox, x-forwarded-host');
              next();
            });
          },
        },
      );
      await permissive.agent.post('/sign-in').send({ user: 'anna' }).expect(204);
      // The sibling page forges X-Forwarded-Host so that the request's own origin looks like its own.
      const response = await askToken(permissive.agent, {
        Host: 'shop.example',
        'X-Forwarded-Host': 'blog.shop.example',
        Origin: 'http://blog.shop.example',
        'Sec-Fetch-Site': 'same-site',
      });
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ error: 'forbidden' });
      expect(tokenCalls()).toHaveLength(0);
    });

    it.each(['same-site', 'cross-site'])(
      'accepts Sec-Fetch-Site: %s from an origin listed in allowedOrigins',
      async (secFetchSite) => {
        const { agent } = await signedIn('anna', { allowedOrigins: ['https://blog.shop.example'] });
        const headers = { Origin: 'https://blog.shop.example', 'Sec-Fetch-Site': secFetchSite };
        expect((await askToken(agent, headers)).status).toBe(200);
        const unlisted = { ...headers, Origin: 'https://news.shop.example' };
        expect((await askToken(agent, unlisted)).status).toBe(403);
      },
    );

    it('accepts origins listed in allowedOrigins, and only those', async () => {
      const { agent } = await signedIn('anna', { allowedOrigins: ['https://shop.example.co.uk'] });
      expect((await askToken(agent, { Origin: 'https://shop.example.co.uk' })).status).toBe(200);
      expect((await askToken(agent, { Origin: 'https://shop.example.com' })).status).toBe(403);
    });
  });

  describe('who asks', () => {
    it('answers 401 and never calls Reteno for an anonymous visitor', async () => {
      const { agent } = site();
      const response = await askToken(agent);
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ error: 'unauthenticated' });
      expect(response.headers['cache-control']).toBe('no-store');
      expect(tokenCalls()).toHaveLength(0);
    });

    it('answers 422 for a malformed contact, logs a coded warning, and never calls Reteno', async () => {
      const built = site();
      await built.agent
        .post('/sign-in')
        .send({ contact: { email: 'anna@example.com</script>' } })
        .expect(204);
      const response = await askToken(built.agent);
      expect(response.status).toBe(422);
      expect(response.body).toEqual({ error: 'invalid_contact' });
      expect(tokenCalls()).toHaveLength(0);
      expect(built.logs.warnings).toEqual([expect.stringContaining('ERR_RETENO_INBOX_INVALID_CONTACT')]);
      expect(built.logs.warnings[0]).not.toContain('anna@example.com');
    });

    it('hands resolveContact errors to the next error handler', async () => {
      const failure = new Error('session store down');
      const { app } = buildSite(
        { baseUrl: emulator.url },
        {
          resolveContact: async () => {
            throw failure;
          },
        },
      );
      const caught: unknown[] = [];
      const handler: ErrorRequestHandler = (error, _req, res, _next) => {
        caught.push(error);
        res.status(500).json({ error: 'site_error' });
      };
      app.use(handler);
      const response = await request(app).post(tokenPath).set('X-Reteno-Inbox', '1');
      expect(response.status).toBe(500);
      expect(caught).toEqual([failure]);
      expect(tokenCalls()).toHaveLength(0);
    });
  });

  describe('asking Reteno', () => {
    it('answers 200 with the token, no-store, after a Basic-authenticated call with the contact', async () => {
      const { agent } = await signedIn('anna');
      const response = await askToken(agent);
      expect(response.status).toBe(200);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.body).toEqual({ token: expect.any(String) });
      expect(response.body.token.length).toBeGreaterThan(8);

      const [call] = tokenCalls();
      expect(call?.method).toBe('POST');
      expect(call?.headers['content-type']).toMatch(/^application\/json/);
      // The emulator checked the Basic credentials against the API key (it keeps no Authorization value).
      expect(call?.authorization).toBe('valid');
      expect(call?.body).toEqual({ email: 'anna@example.com' });
    });

    it.each([
      ['bob', { phone: '+380501234567' }],
      ['carol', { externalCustomerId: 'carol-42' }],
      ['dave', { email: 'dave@example.com', phone: '+4915112345678', externalCustomerId: 'dave-7' }],
    ] as const)('sends exactly the non-empty fields of %s', async (user, body) => {
      const { agent } = await signedIn(user);
      expect((await askToken(agent)).status).toBe(200);
      expect(tokenCalls().map((call) => call.body)).toEqual([body]);
    });

    it('never forwards what the browser sends', async () => {
      const { agent } = await signedIn('anna');
      const response = await agent
        .post(`${tokenPath}?email=dave@example.com`)
        .set('X-Reteno-Inbox', '1')
        .send({ email: 'dave@example.com', externalCustomerId: 'dave-7' });
      expect(response.status).toBe(200);
      expect(tokenCalls().map((call) => call.body)).toEqual([{ email: 'anna@example.com' }]);
    });

    it('answers 404 contact_not_found when Reteno does not know the contact', async () => {
      const { agent } = await signedIn('stranger');
      const response = await askToken(agent);
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ error: 'contact_not_found' });
      expect(tokenCalls()).toHaveLength(1);
    });

    it('asks Reteno anew on every call, so an invalidated token is renewed', async () => {
      const { agent } = await signedIn('anna');
      const first = await askToken(agent);
      const second = await askToken(agent);
      expect(first.body.token).not.toBe(second.body.token);
      expect(tokenCalls()).toHaveLength(2);
    });

    it('calls resolveContact exactly once per request', async () => {
      const { agent, resolveCalls } = await signedIn('anna');
      resolveCalls.length = 0;
      await askToken(agent);
      expect(resolveCalls).toHaveLength(1);
    });

    it('answers at tokenPath with a query string, a trailing slash or an absolute-form target', async () => {
      const built = site({}, { resolveContact: () => users.anna });
      for (const path of [`${tokenPath}?v=1`, `${tokenPath}/`, `${tokenPath}/?v=1`]) {
        expect((await request(built.app).post(path).set('X-Reteno-Inbox', '1')).status).toBe(200);
      }
      // A request target in absolute form (RFC 9112, section 3.2.2), which servers must accept.
      const server = createServer(built.app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const response = await rawRequest(
          port,
          `POST http://127.0.0.1:${port}${tokenPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
            'X-Reteno-Inbox: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
        );
        expect(response).toMatch(/^HTTP\/1\.1 200 /);
        expect(response).toMatch(/"token":"[^"]+"/);
        // Paths that only start like tokenPath are the site's, not the route's.
        expect((await request(built.app).post(`${tokenPath}x`).set('X-Reteno-Inbox', '1')).status).toBe(404);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('respects the mount path and a custom tokenPath', async () => {
      const built = site({ tokenPath: '/api/inbox-token' }, { mountPath: '/shop' });
      await built.agent.post('/sign-in').send({ user: 'anna' }).expect(204);
      const page = await built.agent.get('/shop/page').expect(200);
      expect(readInboxEmbed(page.text)?.config.tokenUrl).toBe('/shop/api/inbox-token');
      expect((await built.agent.post('/shop/api/inbox-token').set('X-Reteno-Inbox', '1')).status).toBe(200);
      expect((await built.agent.post(tokenPath).set('X-Reteno-Inbox', '1')).status).toBe(404);
    });
  });

  describe('connections', () => {
    let upstream: Server;
    let connections = 0;
    beforeAll(async () => {
      upstream = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          res.end('{"token":"t"}');
        });
      });
      upstream.on('connection', () => {
        connections += 1;
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise((resolve) => upstream.close(resolve)));

    it('keeps connections to Reteno alive across token requests', async () => {
      const { port } = upstream.address() as AddressInfo;
      const { agent } = await signedIn('anna', { baseUrl: `http://127.0.0.1:${port}` });
      for (let i = 0; i < 20; i++) expect((await askToken(agent)).status).toBe(200);
      expect(connections).toBe(1);
    });
  });
});
