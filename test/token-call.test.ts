import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import csurf from 'csurf';
import express, { type RequestHandler } from 'express';
import session from 'express-session';
import lusca from 'lusca';
import request from 'supertest';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { errorCodes, retenoInbox, retenoInboxTokenCall, type TokenCallRequest } from '../src/index.js';
import { apiKey, buildSite, scriptId, tokenPath, users } from './helpers/site.js';

// A global CSRF middleware mounted before retenoInbox(...) that skips the embed's token calls with
// retenoInboxTokenCall(): csrf-csrf through its own `skipCsrfProtection`, lusca and csurf through the wrapper
// hackathon-starter uses for its own exceptions.

type TokenCall = (req: TokenCallRequest) => boolean;

const csrfGuards: Record<'csrf-csrf' | 'lusca' | 'csurf', (isTokenCall: TokenCall) => RequestHandler[]> = {
  'csrf-csrf': (isTokenCall) => {
    const { doubleCsrfProtection } = doubleCsrf({
      getSecret: () => 'double-submit-secret-5e1a9c',
      getSessionIdentifier: (req) => req.session.id,
      // `__Host-` cookies need HTTPS.
      cookieName: 'csrf-token',
      cookieOptions: { secure: false },
      skipCsrfProtection: isTokenCall,
    });
    return [cookieParser(), doubleCsrfProtection];
  },
  lusca: (isTokenCall) => {
    const csrf = lusca.csrf();
    return [(req, res, next) => (isTokenCall(req) ? next() : csrf(req, res, next))];
  },
  csurf: (isTokenCall) => {
    const csrf = csurf();
    return [(req, res, next) => (isTokenCall(req) ? next() : csrf(req, res, next))];
  },
};

let emulator: RetenoEmulator;

beforeAll(async () => {
  emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [users.anna as { email: string }] });
});
afterAll(() => emulator.close());
beforeEach(() => emulator.clearRequests());

function retenoTokenRequests(): unknown[] {
  return emulator.requests
    .filter((logged) => logged.path === '/v1/auth/contact/token')
    .map(({ body }) => body);
}

/** A site signed in as Anna, on the emulator, its CSRF middleware mounted before retenoInbox(...). */
async function signedInAgent(app: express.Express) {
  const agent = request.agent(app);
  await agent.post('/sign-in').send({ user: 'anna' }).expect(204);
  return agent;
}

describe.each(Object.keys(csrfGuards) as (keyof typeof csrfGuards)[])(
  '%s mounted before retenoInbox, skipping retenoInboxTokenCall()',
  (name) => {
    const site = () =>
      buildSite({ baseUrl: emulator.url }, { before: csrfGuards[name](retenoInboxTokenCall()) }).app;

    it("lets the embed's token call through without a CSRF token: the route answers the contact's token", async () => {
      const agent = await signedInAgent(site());
      const page = await agent.get('/page').expect(200);
      expect(page.text).not.toContain('x-csrf-token');
      const answer = await agent
        .post(tokenPath)
        .set('x-reteno-inbox', '1')
        .expect(200)
        .expect('x-reteno-inbox', '1');
      expect(answer.body).toEqual({ token: expect.stringMatching(/.{8,}/) });
      expect(retenoTokenRequests()).toEqual([users.anna]);
    });

    it.each([
      ['a token-path POST without X-Reteno-Inbox', (agent: request.Agent) => agent.post(tokenPath)],
      [
        'another method on the token path',
        (agent: request.Agent) => agent.put(tokenPath).set('x-reteno-inbox', '1'),
      ],
      [
        'a POST to a path that ends like the token path',
        (agent: request.Agent) => agent.post(`/other${tokenPath}`).set('x-reteno-inbox', '1'),
      ],
      ['a POST elsewhere', (agent: request.Agent) => agent.post('/page').set('x-reteno-inbox', '1')],
    ])(`leaves %s to ${name}, which refuses it (403) before Reteno is called`, async (_case, send) => {
      const agent = await signedInAgent(site());
      const refused = await send(agent).expect(403);
      expect(refused.headers['x-reteno-inbox']).toBeUndefined();
      expect(retenoTokenRequests()).toEqual([]);
    });

    it("lets a cross-site token call reach the route's own check, which refuses it (403 forbidden)", async () => {
      const agent = await signedInAgent(site());
      await agent
        .post(tokenPath)
        .set({ 'x-reteno-inbox': '1', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })
        .expect(403, { error: 'forbidden' })
        .expect('x-reteno-inbox', '1');
      expect(retenoTokenRequests()).toEqual([]);
    });
  },
);

describe('retenoInboxTokenCall({ mountPath, tokenPath })', () => {
  const csrf = csrfGuards['csrf-csrf'];

  it("matches retenoInbox mounted on '/account' below an app-level CSRF middleware with mountPath '/account'", async () => {
    const skipsMounted = buildSite(
      { baseUrl: emulator.url },
      { mountPath: '/account', before: csrf(retenoInboxTokenCall({ mountPath: '/account' })) },
    ).app;
    const agent = await signedInAgent(skipsMounted);
    const page = await agent.get('/account/page').expect(200);
    expect(page.text).toContain(`"/account${tokenPath}"`);
    await agent.post(`/account${tokenPath}`).set('x-reteno-inbox', '1').expect(200);
    await agent.post(`/account${tokenPath}/`).set('x-reteno-inbox', '1').expect(200);

    // Without mountPath the CSRF middleware keeps the call: refused, never a call let through by mistake.
    const skipsRoot = buildSite(
      { baseUrl: emulator.url },
      { mountPath: '/account', before: csrf(retenoInboxTokenCall()) },
    ).app;
    const refused = await (
      await signedInAgent(skipsRoot)
    )
      .post(`/account${tokenPath}`)
      .set('x-reteno-inbox', '1')
      .expect(403);
    expect(refused.headers['x-reteno-inbox']).toBeUndefined();
    expect(retenoTokenRequests()).toEqual([users.anna, users.anna]);
  });

  it('matches a custom tokenPath, and no longer the default one', async () => {
    const app = buildSite(
      { baseUrl: emulator.url, tokenPath: '/inbox/token' },
      { before: csrf(retenoInboxTokenCall({ tokenPath: '/inbox/token' })) },
    ).app;
    const agent = await signedInAgent(app);
    await agent.post('/inbox/token').set('x-reteno-inbox', '1').expect(200);
    await agent.post(tokenPath).set('x-reteno-inbox', '1').expect(403);
    expect(retenoTokenRequests()).toEqual([users.anna]);
  });

  it('needs no mountPath when the CSRF middleware and retenoInbox share a router, wherever it is mounted', async () => {
    const app = express();
    app.use(express.json());
    app.use(session({ secret: 'token-call-secret', resave: false, saveUninitialized: false }));
    const shop = express.Router();
    shop.post('/sign-in', (req, res) => {
      req.session.contact = users.anna;
      res.sendStatus(204);
    });
    shop.use(csrf(retenoInboxTokenCall()));
    shop.use(
      retenoInbox({
        apiKey,
        scriptId,
        baseUrl: emulator.url,
        resolveContact: (req) => req.session.contact as { email: string } | undefined,
      }),
    );
    app.use('/shop', shop);
    const agent = request.agent(app);
    await agent.post('/shop/sign-in').send({}).expect(204);
    await agent.post(`/shop${tokenPath}`).set('x-reteno-inbox', '1').expect(200);
    expect(retenoTokenRequests()).toEqual([users.anna]);
  });

  it.each([
    ['an unknown option', { mountpath: '/account' }, errorCodes.unknownOption, 'mountpath'],
    ['a mount path with a parameter', { mountPath: '/:lang' }, errorCodes.invalidOption, 'mountPath'],
    [
      'a mount path to another origin',
      { mountPath: '//evil.example' },
      errorCodes.invalidOption,
      'mountPath',
    ],
    ['a relative mount path', { mountPath: 'account' }, errorCodes.invalidOption, 'mountPath'],
    ["'/' as tokenPath", { tokenPath: '/' }, errorCodes.invalidOption, 'tokenPath'],
    ['a tokenPath with a dot segment', { tokenPath: '/a/../token' }, errorCodes.invalidOption, 'tokenPath'],
    ['options that are not an object', 'nope', errorCodes.invalidOption, 'options'],
  ])('throws a RetenoInboxError at creation for %s', (_case, options, code, option) => {
    expect(() => retenoInboxTokenCall(options as never)).toThrow(expect.objectContaining({ code, option }));
  });

  it("takes '/' as mount path, and retenoInbox's own tokenPath rules", () => {
    const isTokenCall = retenoInboxTokenCall({ mountPath: '/', tokenPath: '/inbox/token' });
    const call = {
      method: 'POST',
      url: '/inbox/token',
      path: '/inbox/token',
      headers: { 'x-reteno-inbox': '1' },
    };
    expect(isTokenCall(call)).toBe(true);
    expect(isTokenCall({ ...call, headers: { 'x-reteno-inbox': 'yes' } })).toBe(false);
    expect(() =>
      retenoInbox({ apiKey, scriptId, resolveContact: () => null, tokenPath: '/a/../token' }),
    ).toThrow(expect.objectContaining({ code: errorCodes.invalidOption, option: 'tokenPath' }));
  });
});

describe('reteno-inbox-doctor on a site whose CSRF middleware skips the token route', () => {
  const doctor = fileURLToPath(new URL('../dist/esm/doctor/index.js', import.meta.url));

  it.each(Object.keys(csrfGuards) as (keyof typeof csrfGuards)[])(
    'passes every check behind %s, without a CSRF header of its own',
    async (name) => {
      const { app } = buildSite(
        { baseUrl: emulator.url, scriptBaseUrl: `${emulator.url}/scripts/` },
        { before: csrfGuards[name](retenoInboxTokenCall()) },
      );
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const signIn = await fetch(`${url}/sign-in`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user: 'anna' }),
        });
        const cookie = signIn.headers.get('set-cookie')?.split(';')[0] ?? '';
        const args = [
          ...[
            '--script-id',
            scriptId,
            '--base-url',
            emulator.url,
            '--script-base-url',
            `${emulator.url}/scripts/`,
          ],
          ...['--site-url', `${url}/page`, '--cookie', cookie, '--json'],
        ];
        const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
          execFile(
            process.execPath,
            [doctor, ...args],
            { env: { PATH: process.env.PATH ?? '', RETENO_API_KEY: apiKey }, timeout: 30_000 },
            (error, out) =>
              resolve({ code: error ? Number((error as { code?: unknown }).code) : 0, stdout: out }),
          );
        });
        const report = JSON.parse(stdout) as { ok: boolean; checks: { name: string; ok: boolean }[] };
        expect(report.checks.filter((check) => !check.ok)).toEqual([]);
        expect(code).toBe(0);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
    40_000,
  );
});
