import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { controlCommandNames, parseControlCommand } from '../src/emulator/cli-control.js';
import { cliUsage, cliWelcomeMessage, parseCliArguments } from '../src/emulator/cli-options.js';
import { ContactApi } from '../src/emulator/contact-api.js';
import {
  createRetenoEmulator,
  type RetenoEmulator,
  RetenoEmulatorError,
  type RetenoEmulatorOptions,
} from '../src/emulator/index.js';
import { InboxStore } from '../src/emulator/store.js';

/**
 * The emulator driven from outside: its control API over real HTTP on 127.0.0.1, the `reteno-emulator` commands
 * run as processes of their own (the build in dist/, as `npx reteno-emulator` runs it), welcome messages, and the
 * bound on contacts and messages.
 */

const apiKey = 'test-api-key';
const scriptId = '3f0c2a9e-5b1d-4c7e-9a8f-0123456789ab';
const anna = { email: 'anna@example.com' };
const cli = fileURLToPath(new URL('../dist/esm/emulator/cli.js', import.meta.url));
const execFileAsync = promisify(execFile);

const running = new Set<RetenoEmulator>();

async function startEmulator(options: Partial<RetenoEmulatorOptions> = {}): Promise<RetenoEmulator> {
  const emulator = await createRetenoEmulator({
    apiKey,
    scriptId,
    contacts: [anna],
    controlApi: true,
    ...options,
  });
  running.add(emulator);
  return emulator;
}

afterEach(async () => {
  await Promise.all([...running].map((emulator) => emulator.close()));
  running.clear();
});

function basicAuth(password: string): string {
  return `Basic ${Buffer.from(`site:${password}`).toString('base64')}`;
}

/** A control API call as a program makes it: JSON in, JSON out. */
async function control(
  emulator: RetenoEmulator,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(`${emulator.url}/_emulator/${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? undefined : JSON.parse(text),
  };
}

async function tokenFor(emulator: RetenoEmulator, contact: object): Promise<string> {
  const response = await fetch(`${emulator.url}/v1/auth/contact/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(apiKey) },
    body: JSON.stringify(contact),
  });
  const { token } = (await response.json()) as { token: string };
  return token;
}

function unreadCount(emulator: RetenoEmulator, token: string): Promise<Response> {
  return fetch(`${emulator.url}/appinbox/v1/messages/count`, { headers: { 'ES-TOKEN': token } });
}

/** A plain node:http request, which sends exactly the headers given (no Sec-Fetch-*). */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Runs `reteno-emulator …` as its own process; resolves with its exit code and output. */
async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cli, ...args], {
      env: { ...process.env, ...env },
      timeout: 15_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** What `stream` printed up to and including `marker`; the stream stays open. */
function outputUntil(stream: NodeJS.ReadableStream, marker: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes(marker)) return;
      stream.off('data', onData);
      stream.resume();
      resolve(output);
    };
    stream.on('data', onData);
    stream.once('end', () =>
      reject(new Error(`the output ended before ${JSON.stringify(marker)}: ${output}`)),
    );
  });
}

describe('control API', () => {
  it('pushes a message that the App Inbox API then lists, and answers it with 201', async () => {
    const emulator = await startEmulator();
    const pushed = await control(emulator, 'POST', 'messages', {
      contact: { email: 'ANNA@example.com' },
      message: { title: 'Hello', content: 'From another process', link: 'https://example.com/' },
    });
    expect(pushed.status).toBe(201);
    expect(pushed.body).toEqual({
      id: expect.any(String),
      createdDate: expect.any(Number),
      title: 'Hello',
      content: 'From another process',
      image: null,
      link: 'https://example.com/',
      newMessage: true,
      status: 'UNOPENED',
    });
    expect(emulator.messagesOf(anna)).toEqual([pushed.body]);
    const count = await unreadCount(emulator, await tokenFor(emulator, anna));
    expect(await count.json()).toEqual({ count: 1 });
  });

  it("lists a contact's messages, newest first, by e-mail, phone or externalCustomerId", async () => {
    const emulator = await startEmulator({ contacts: [{ ...anna, phone: '+380501234567' }] });
    emulator.pushMessage(anna, { title: 'First', content: '' });
    emulator.pushMessage(anna, { title: 'Second', content: '' });
    for (const query of ['email=anna%40example.com', 'phone=%2B380501234567']) {
      const listed = await control(emulator, 'GET', `messages?${query}`);
      expect(listed.status).toBe(200);
      expect((listed.body as { title: string }[]).map((message) => message.title)).toEqual([
        'Second',
        'First',
      ]);
    }
    const unknown = await control(emulator, 'GET', 'messages?externalCustomerId=nobody');
    expect(unknown).toMatchObject({ status: 404, body: { error: 'unknown_contact' } });
    const none = await control(emulator, 'GET', 'messages');
    expect(none).toMatchObject({ status: 400, body: { error: 'invalid_contact' } });
  });

  it('lists contacts as contacts() does, and adds one', async () => {
    const emulator = await startEmulator();
    const added = await control(emulator, 'POST', 'contacts', { externalCustomerId: 'c-42' });
    expect(added).toMatchObject({
      status: 200,
      body: { id: 2, externalCustomerId: 'c-42', email: null, createdBy: 'setup' },
    });
    const listed = await control(emulator, 'GET', 'contacts');
    expect(listed).toEqual({ status: 200, headers: expect.anything(), body: emulator.contacts() });
    expect((listed.body as unknown[]).length).toBe(2);
    const bad = await control(emulator, 'POST', 'contacts', { email: 42 });
    expect(bad).toMatchObject({
      status: 400,
      body: { error: 'invalid_contact', message: expect.any(String) },
    });
  });

  it("ends one contact's tokens, or everyone's", async () => {
    const bob = { email: 'bob@example.com' };
    const emulator = await startEmulator({ contacts: [anna, bob] });
    const annasToken = await tokenFor(emulator, anna);
    const bobsToken = await tokenFor(emulator, bob);
    expect((await control(emulator, 'POST', 'invalidate-tokens', { contact: anna })).status).toBe(204);
    expect((await unreadCount(emulator, annasToken)).status).toBe(401);
    const bobsNext = (await unreadCount(emulator, bobsToken)).headers.get('es-token') ?? '';
    expect(bobsNext).not.toBe('');
    expect((await control(emulator, 'POST', 'invalidate-tokens', {})).status).toBe(204);
    expect((await unreadCount(emulator, bobsNext)).status).toBe(401);
  });

  it('queues faults as fail() does, and clears them', async () => {
    const emulator = await startEmulator();
    const queued = await control(emulator, 'POST', 'faults', { kind: 'status', status: 503, route: 'token' });
    expect(queued.status).toBe(204);
    const tokenCall = () =>
      fetch(`${emulator.url}/v1/auth/contact/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basicAuth(apiKey) },
        body: JSON.stringify(anna),
      });
    expect((await tokenCall()).status).toBe(503);
    expect((await tokenCall()).status).toBe(503);
    expect((await control(emulator, 'DELETE', 'faults')).status).toBe(204);
    expect((await tokenCall()).status).toBe(200);
    const bad = await control(emulator, 'POST', 'faults', { kind: 'explode' });
    expect(bad).toMatchObject({ status: 400, body: { error: 'invalid_fault' } });
    expect((bad.body as { message: string }).message).toMatch(/`kind` must be one of/);
  });

  it('answers a clear JSON error for an unknown contact, a bad message, a wrong method or path', async () => {
    const emulator = await startEmulator();
    expect(
      await control(emulator, 'POST', 'messages', {
        contact: { email: 'nobody@example.com' },
        message: { title: 'Hi', content: '' },
      }),
    ).toMatchObject({
      status: 404,
      body: { error: 'unknown_contact', message: expect.stringContaining('"nobody@example.com"') },
    });
    expect(
      await control(emulator, 'POST', 'messages', { contact: anna, message: { title: 7, content: '' } }),
    ).toMatchObject({ status: 400, body: { error: 'invalid_message' } });
    expect(await control(emulator, 'POST', 'messages', ['not', 'an', 'object'])).toMatchObject({
      status: 400,
      body: { error: 'bad_request' },
    });
    const wrongMethod = await control(emulator, 'DELETE', 'messages');
    expect(wrongMethod).toMatchObject({ status: 405, body: { error: 'method_not_allowed' } });
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST');
    expect(await control(emulator, 'GET', 'requests')).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect(emulator.messagesOf(anna)).toEqual([]);
  });

  it('is not in the request log, and faults never hit it', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'reset' });
    expect((await control(emulator, 'GET', 'contacts')).status).toBe(200);
    expect(
      (await control(emulator, 'POST', 'messages', { contact: anna, message: { title: 'Hi', content: '' } }))
        .status,
    ).toBe(201);
    expect(emulator.requests).toEqual([]);
  });

  it('is not served unless controlApi is true: its paths are unknown paths then', async () => {
    const emulator = await startEmulator({ controlApi: false });
    const pushed = await fetch(`${emulator.url}/_emulator/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contact: anna, message: { title: 'Hi', content: '' } }),
    });
    expect(pushed.status).toBe(404);
    expect(pushed.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await fetch(`${emulator.url}/_emulator/contacts`)).status).toBe(404);
    expect(emulator.messagesOf(anna)).toEqual([]);
    await expect(
      createRetenoEmulator({ apiKey, scriptId, controlApi: 'yes' as unknown as boolean }),
    ).rejects.toThrow(/`controlApi` must be true or false/);
  });
});

describe('control API: web pages cannot drive it', () => {
  const push = { contact: anna, message: { title: 'From a web page', content: '' } };

  it.each([
    ['another site', { origin: 'https://attacker.example' }],
    ['a local site', { origin: 'http://localhost:3000' }],
    ['a sandboxed page', { origin: 'null' }],
    ['a cross-site request without Origin', { 'sec-fetch-site': 'cross-site' }],
    ['a same-site request', { 'sec-fetch-site': 'same-site' }],
  ])('answers 403, without CORS headers, to a request from %s', async (_name, headers) => {
    const emulator = await startEmulator();
    const answer = await rawRequest(`${emulator.url}/_emulator/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(push),
    });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toEqual({
      error: 'forbidden',
      message: expect.stringMatching(/web pages/),
    });
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(emulator.messagesOf(anna)).toEqual([]);
  });

  it('refuses every preflight, so a page cannot send JSON, DELETE or a custom header to it', async () => {
    const emulator = await startEmulator();
    for (const method of ['POST', 'DELETE']) {
      const answer = await rawRequest(`${emulator.url}/_emulator/faults`, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://localhost:3000',
          'access-control-request-method': method,
          'access-control-request-headers': 'content-type',
        },
      });
      expect(answer.status).toBe(403);
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
      expect(answer.headers['access-control-allow-methods']).toBeUndefined();
    }
  });

  it("answers 415 to a body not sent as application/json (a form's or a text/plain fetch's)", async () => {
    const emulator = await startEmulator();
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const answer = await rawRequest(`${emulator.url}/_emulator/messages`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: JSON.stringify(push),
      });
      expect(answer.status).toBe(415);
    }
    expect(emulator.messagesOf(anna)).toEqual([]);
  });

  it('answers 421 to a name rebound to this machine (DNS rebinding), as every route does', async () => {
    const emulator = await startEmulator();
    const answer = await rawRequest(`${emulator.url}/_emulator/contacts`, {
      headers: { host: 'attacker.example' },
    });
    expect(answer.status).toBe(421);
    expect(answer.body).not.toContain('anna');
  });

  it('answers a URL the developer opens in the browser (Sec-Fetch-Site: none)', async () => {
    const emulator = await startEmulator();
    const answer = await rawRequest(`${emulator.url}/_emulator/contacts`, {
      headers: { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' },
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual(emulator.contacts());
  });
});

describe('welcome messages', () => {
  const welcome = { title: 'Welcome', content: 'Messages pushed to you appear here.' };

  it('gives each contact of `contacts` one welcomeMessage at start, and later contacts none', async () => {
    const emulator = await startEmulator({
      // The first two are one contact: it gets one message.
      contacts: [anna, { email: 'anna@example.com', phone: '+380501234567' }, { externalCustomerId: 'c-42' }],
      welcomeMessage: welcome,
    });
    expect(emulator.messagesOf(anna)).toEqual([expect.objectContaining({ ...welcome, status: 'UNOPENED' })]);
    expect(emulator.messagesOf({ externalCustomerId: 'c-42' })).toHaveLength(1);
    emulator.addContact({ email: 'later@example.com' });
    expect(emulator.messagesOf({ email: 'later@example.com' })).toEqual([]);
  });

  it('gives none without welcomeMessage, and refuses one that is not a message', async () => {
    const emulator = await startEmulator();
    expect(emulator.messagesOf(anna)).toEqual([]);
    const refused = createRetenoEmulator({ apiKey, scriptId, welcomeMessage: { title: 'Hi' } as never });
    await expect(refused).rejects.toThrow(/`welcomeMessage`: `content` must be a string/);
    await expect(refused).rejects.toMatchObject({ code: 'ERR_RETENO_EMULATOR_INVALID_OPTION' });
  });

  it('is what the command line gives its --contact contacts, unless --no-welcome-message', () => {
    const given = parseCliArguments(['--contact', 'anna@example.com'], {});
    expect(given).toMatchObject({ options: { welcomeMessage: cliWelcomeMessage, controlApi: true } });
    const none = parseCliArguments(['--contact', 'anna@example.com', '--no-welcome-message'], {});
    expect(none).toMatchObject({ kind: 'start' });
    expect(none.kind === 'start' && none.options).not.toHaveProperty('welcomeMessage');
  });
});

describe('contacts and messages, bounded in memory', () => {
  it('answers 507 from the contact API and the control API, and throws STORE_FULL, past maxStoreBytes; nothing changes', async () => {
    const emulator = await startEmulator({ contacts: [], maxStoreBytes: 64 * 1024 });
    const upsert = (index: number) =>
      fetch(`${emulator.url}/api/v1/contact`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basicAuth(apiKey) },
        body: JSON.stringify({
          channels: [{ type: 'email', value: `reader-${index}@example.com` }],
          firstName: 'n'.repeat(10_000),
        }),
      });
    const statuses: number[] = [];
    for (let index = 0; index < 6; index++) statuses.push((await upsert(index)).status);
    // A contact costs 256 bytes and two a character: 20,256 and its e-mail; three fit in 64 KiB.
    expect(statuses).toEqual([200, 200, 200, 507, 507, 507]);
    const refused = await upsert(9);
    expect(await refused.text()).toMatch(/^Insufficient Storage: .*65536 bytes.*maxStoreBytes/);
    expect(emulator.contacts()).toHaveLength(3);

    const big = { title: 'x'.repeat(5000), content: '' };
    const pushed = await control(emulator, 'POST', 'messages', {
      contact: { email: 'reader-0@example.com' },
      message: big,
    });
    expect(pushed).toMatchObject({ status: 507, body: { error: 'store_full' } });
    expect(() => emulator.pushMessage({ email: 'reader-0@example.com' }, big)).toThrow(
      expect.objectContaining({ code: 'ERR_RETENO_EMULATOR_STORE_FULL' }),
    );
    expect(() => emulator.addContact({ externalCustomerId: 'x'.repeat(5000) })).toThrow(RetenoEmulatorError);
    expect(emulator.messagesOf({ email: 'reader-0@example.com' })).toEqual([]);
    expect(emulator.contacts()).toHaveLength(3);
    // What fits still goes in.
    emulator.pushMessage({ email: 'reader-0@example.com' }, { title: 'Small', content: '' });
    expect(emulator.messagesOf({ email: 'reader-0@example.com' })).toHaveLength(1);
  });

  it('counts an update by what it changes: a shorter name frees room', async () => {
    const emulator = await startEmulator({ contacts: [], maxStoreBytes: 32 * 1024 });
    const upsert = (firstName: string, lastName?: string) =>
      fetch(`${emulator.url}/api/v1/contact`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basicAuth(apiKey) },
        body: JSON.stringify({
          channels: [{ type: 'email', value: 'anna@example.com' }],
          firstName,
          lastName,
        }),
      });
    expect((await upsert('a'.repeat(12_000))).status).toBe(200);
    expect((await upsert('a'.repeat(12_000), 'b'.repeat(6000))).status).toBe(507);
    expect((await upsert('Anna', 'b'.repeat(6000))).status).toBe(200);
    expect(emulator.contacts()).toEqual([expect.objectContaining({ firstName: 'Anna' })]);
  });

  it('keeps at most 10,000 tokens: the oldest then answers 401, as an expired one does', () => {
    const store = new InboxStore(60_000, 1024 * 1024);
    const contact = store.add({ email: 'anna@example.com', phone: null, externalCustomerId: null });
    const tokens = Array.from({ length: 10_001 }, () => store.issueToken(contact));
    expect(store.redeemToken(tokens[0] ?? '')).toBeUndefined();
    expect(store.redeemToken(tokens[1] ?? '')).toBe(contact);
    expect(store.redeemToken(tokens[10_000] ?? '')).toBe(contact);
  });

  it('remembers the digests of accepted contact bodies, at most 20,000 of them, for the 409', () => {
    const store = new InboxStore(60_000, 64 * 1024 * 1024);
    const api = new ContactApi(
      { contactRepeatWindowMs: 60_000, contactRateLimit: { requests: 1e9, perMs: 1000 }, maxStoreBytes: 0 },
      store,
    );
    const upsert = (index: number) => {
      const body = { channels: [{ type: 'email', value: 'anna@example.com' }], firstName: `n${index}` };
      return api.answer({
        method: 'POST',
        path: '/api/v1/contact',
        query: new URLSearchParams(),
        headers: { 'content-type': 'application/json' },
        authorization: 'valid',
        body: { text: JSON.stringify(body), json: body },
      }).status;
    };
    for (let index = 0; index <= 20_000; index++) expect(upsert(index)).toBe(200);
    expect(upsert(20_000)).toBe(409);
    expect(upsert(1)).toBe(409);
    expect(upsert(0)).toBe(200); // forgotten: the oldest of 20,001
  });
});

describe('command line: commands for a running emulator', () => {
  it('reads each command into one control API call', () => {
    const parse = (args: string[], env = {}) => {
      const [name, ...rest] = args;
      const command = parseControlCommand(name as never, rest, env);
      if (command.kind !== 'control') throw new Error('not a command');
      const { method, path, body } = command.call;
      return { url: command.url, method, path, body };
    };
    expect(parse(['push', '--to', 'anna@example.com', '--title', 'Hi'])).toEqual({
      url: 'http://127.0.0.1:8089',
      method: 'POST',
      path: '/_emulator/messages',
      body: { contact: { email: 'anna@example.com' }, message: { title: 'Hi', content: '' } },
    });
    expect(
      parse(['push', '--to', 'phone=+1555', '--title', 'T', '--content', 'C', '--link', 'https://e.com/']),
    ).toMatchObject({
      body: { contact: { phone: '+1555' }, message: { title: 'T', content: 'C', link: 'https://e.com/' } },
    });
    expect(
      parse(['messages', '--contact', 'anna@example.com'], { RETENO_EMULATOR_URL: 'http://localhost:4010/' }),
    ).toEqual({
      url: 'http://localhost:4010',
      method: 'GET',
      path: '/_emulator/messages?email=anna%40example.com',
      body: undefined,
    });
    expect(parse(['contacts', '--url', 'http://127.0.0.1:4010'])).toMatchObject({
      url: 'http://127.0.0.1:4010',
      method: 'GET',
      path: '/_emulator/contacts',
    });
    expect(parse(['add-contact', '--contact', 'externalCustomerId=42'])).toMatchObject({
      method: 'POST',
      path: '/_emulator/contacts',
      body: { externalCustomerId: '42' },
    });
    expect(parse(['invalidate-tokens', '--contact', 'anna@example.com'])).toMatchObject({
      body: { contact: { email: 'anna@example.com' } },
    });
    expect(parse(['invalidate-tokens', '--all'])).toMatchObject({
      path: '/_emulator/invalidate-tokens',
      body: {},
    });
    expect(
      parse([
        'fail',
        '--kind',
        'status',
        '--status',
        '429',
        '--retry-after',
        '2',
        '--times',
        '1',
        '--route',
        'token',
      ]),
    ).toMatchObject({
      path: '/_emulator/faults',
      body: { kind: 'status', status: 429, retryAfter: 2, times: 1, route: 'token' },
    });
    expect(parse(['clear-faults'])).toMatchObject({ method: 'DELETE', path: '/_emulator/faults' });
    for (const name of controlCommandNames) expect(cliUsage).toContain(`\n  ${name} `);
  });

  it('refuses a command without what it needs, with a flag it does not take, or a URL that is not one', () => {
    const parse = (name: string, args: string[]) => () => parseControlCommand(name as never, args, {});
    expect(parse('push', ['--to', 'anna@example.com'])).toThrow('push needs --title.');
    expect(parse('push', ['--title', 'Hi'])).toThrow('push needs --to.');
    expect(parse('push', ['--to', 'anna', '--title', 'Hi'])).toThrow(/--to "anna"/);
    expect(parse('contacts', ['--to', 'anna@example.com'])).toThrow('contacts takes no --to.');
    expect(parse('invalidate-tokens', [])).toThrow(/--contact <contact> or --all/);
    expect(parse('invalidate-tokens', ['--all', '--contact', 'a@example.com'])).toThrow(/or --all/);
    expect(parse('contacts', ['--url', 'ftp://127.0.0.1'])).toThrow(/--url must be/);
    expect(parse('contacts', ['--url', '127.0.0.1:8089'])).toThrow(/--url must be/);
    expect(parse('fail', ['--kind', 'status', '--status', 'five'])).toThrow(/--status/);
  });

  it('pushes, lists and ends tokens from its own process against an emulator with controlApi', async () => {
    const emulator = await startEmulator({ contacts: [anna, { phone: '+380501234567' }] });
    const url = ['--url', emulator.url];
    const pushed = await runCli(['push', ...url, '--to', 'anna@example.com', '--title', 'From the shell']);
    expect(pushed).toEqual({
      code: 0,
      stdout: expect.stringMatching(
        /^Pushed "From the shell" to anna@example\.com \(message [0-9a-f-]{36}\)\.\n$/,
      ),
      stderr: '',
    });
    expect(emulator.messagesOf(anna).map((message) => message.title)).toEqual(['From the shell']);

    const messages = await runCli(['messages', ...url, '--contact', 'anna@example.com', '--json']);
    expect(JSON.parse(messages.stdout)).toEqual(emulator.messagesOf(anna));
    const contacts = await runCli(['contacts', ...url]);
    expect(contacts.stdout).toBe('1: anna@example.com (setup)\n2: phone=+380501234567 (setup)\n');

    const token = await tokenFor(emulator, anna);
    const ended = await runCli(['invalidate-tokens', ...url, '--contact', 'anna@example.com']);
    expect(ended).toMatchObject({ code: 0, stdout: 'The tokens of anna@example.com ended.\n' });
    expect((await unreadCount(emulator, token)).status).toBe(401);
  });

  it('exits 1 with the reason for an unknown contact, no emulator, or something else at the URL', async () => {
    const emulator = await startEmulator();
    const unknown = await runCli([
      'push',
      '--url',
      emulator.url,
      '--to',
      'nobody@example.com',
      '--title',
      'Hi',
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^reteno-emulator push: the emulator does not know the contact .*\(HTTP 404\)\.\n$/,
    );

    const withoutControl = await startEmulator({ controlApi: false });
    const other = await runCli(['contacts', '--url', withoutControl.url]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/answered HTTP 404, not as a Reteno emulator's control API does/);

    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');
    const nobody = await runCli(['contacts'], { RETENO_EMULATOR_URL: `http://127.0.0.1:${port}` });
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toBe(
      `reteno-emulator contacts: no Reteno emulator answers at http://127.0.0.1:${port} (ECONNREFUSED). ` +
        'Start one with `npx reteno-emulator`, or pass --url.\n',
    );

    const usage = await runCli(['push', '--to', 'anna@example.com']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^reteno-emulator: push needs --title\.\n\nUsage: reteno-emulator/);
    expect((await runCli(['psuh'])).stderr).toMatch(/^reteno-emulator: unknown command "psuh"/);
  });

  it('starts a stand-alone emulator whose contacts have a welcome message and that another process can push to', async () => {
    const standalone = spawn(process.execPath, [cli, '--port', '0', '--contact', 'anna@example.com'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const banner = await outputUntil(standalone.stdout, 'Press Ctrl+C');
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1] ?? '';
      expect(banner).toContain(`control API: ${url}/_emulator/`);
      expect(banner).toContain('anna@example.com (a welcome message each)');

      expect(
        (await runCli(['push', '--url', url, '--to', 'anna@example.com', '--title', 'Pushed'])).code,
      ).toBe(0);
      const listed = await runCli(['messages', '--url', url, '--contact', 'anna@example.com', '--json']);
      expect((JSON.parse(listed.stdout) as { title: string }[]).map((message) => message.title)).toEqual([
        'Pushed',
        cliWelcomeMessage.title,
      ]);
    } finally {
      standalone.kill('SIGTERM');
      await once(standalone, 'exit');
    }
  });
});
