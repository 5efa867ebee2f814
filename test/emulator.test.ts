import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createContext, runInContext, Script } from 'node:vm';
import ts from 'typescript';
import { parseCliArguments, parseContact } from '../src/emulator/cli-options.js';
import {
  createRetenoEmulator,
  type RetenoEmulator,
  RetenoEmulatorError,
  type RetenoEmulatorOptions,
} from '../src/emulator/index.js';
import { isLoopbackAddress, isServedHost } from '../src/emulator/hosts.js';
import { optionNames } from '../src/emulator/options.js';
import { packageFile } from '../src/package-files.js';
import { readWidgetSource, renderWidgetScript } from '../src/emulator/widget.js';

const apiKey = 'test-api-key';
const scriptId = '3f0c2a9e-5b1d-4c7e-9a8f-0123456789ab';
const anna = { email: 'Anna@Example.com' };
const bob = { phone: '+380501234567' };
const carol = { externalCustomerId: 'c-42' };

const running = new Set<RetenoEmulator>();

async function startEmulator(options: Partial<RetenoEmulatorOptions> = {}): Promise<RetenoEmulator> {
  const emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [anna, bob, carol], ...options });
  running.add(emulator);
  return emulator;
}

afterEach(async () => {
  await Promise.all([...running].map((emulator) => emulator.close()));
  running.clear();
});

function basicAuth(password: string, username = 'site'): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

function postToken(
  emulator: RetenoEmulator,
  body: unknown,
  headers: Record<string, string> = { authorization: basicAuth(apiKey) },
): Promise<Response> {
  return fetch(`${emulator.url}/v1/auth/contact/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function tokenFor(emulator: RetenoEmulator, contact: object): Promise<string> {
  const response = await postToken(emulator, contact);
  expect(response.status).toBe(200);
  const { token } = (await response.json()) as { token: string };
  expect(token).not.toBe('');
  return token;
}

function inbox(
  emulator: RetenoEmulator,
  path: string,
  token: string | null,
  init: RequestInit = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('ES-TOKEN', token);
  return fetch(`${emulator.url}/appinbox/v1${path}`, { ...init, headers });
}

/** An inbox call that must succeed; returns the parsed body (if any) and the next token. */
async function inboxOk(
  emulator: RetenoEmulator,
  path: string,
  token: string,
  init: RequestInit = {},
): Promise<{ body: unknown; next: string }> {
  const response = await inbox(emulator, path, token, init);
  expect(response.status).toBeLessThan(300);
  const next = response.headers.get('es-token');
  expect(next).toBeTruthy();
  const text = await response.text();
  return { body: text === '' ? undefined : JSON.parse(text), next: next ?? '' };
}

function postStatus(ids: string[] | null): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'OPENED', ids }),
  };
}

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  chunks: number;
  body: string;
  elapsedMs: number;
}

/** A plain node:http request, to see how the answer arrives (chunks, timing). */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  return new Promise<RawAnswer>((resolve, reject) => {
    const started = Date.now();
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            chunks: parts.length,
            body: Buffer.concat(parts).toString('utf8'),
            elapsedMs: Date.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The widget as the emulator serves it, with settings that point nowhere. */
async function widgetScript(): Promise<string> {
  return renderWidgetScript(await readWidgetSource(), {
    apiUrl: 'http://127.0.0.1:1',
    bellSelector: null,
    pollIntervalMs: 5000,
  });
}

/** Runs `action` with `console.warn` recorded instead of printed; returns what was warned. */
async function warningsDuring(action: () => Promise<unknown>): Promise<string[]> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(' '));
  try {
    await action();
  } finally {
    console.warn = original;
  }
  return warnings;
}

function codeOf(error: unknown): string | undefined {
  return error instanceof RetenoEmulatorError ? error.code : undefined;
}

describe('createRetenoEmulator options', () => {
  it('listens on loopback by default and gives a URL without a trailing slash', async () => {
    const emulator = await startEmulator();
    expect(emulator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${emulator.url}/scripts/${scriptId}.js`)).status).toBe(200);
  });

  it.each([
    ['a missing apiKey', { scriptId }, /apiKey/],
    ['an empty apiKey', { apiKey: '', scriptId }, /apiKey/],
    ['a missing scriptId', { apiKey }, /scriptId/],
    ['an empty scriptId', { apiKey, scriptId: '' }, /scriptId/],
    ['an unknown option', { apiKey, scriptId, apikey: 'x' }, /unknown option `apikey`/],
    ['a port out of range', { apiKey, scriptId, port: 70000 }, /port/],
    ['a contact without fields', { apiKey, scriptId, contacts: [{ email: '' }] }, /contacts\[0\]/],
    ['a poll interval below 100 ms', { apiKey, scriptId, pollIntervalMs: 10 }, /pollIntervalMs/],
    ['a negative log size', { apiKey, scriptId, maxLoggedRequests: -1 }, /maxLoggedRequests/],
    ['a fractional log size', { apiKey, scriptId, maxLoggedRequests: 1.5 }, /maxLoggedRequests/],
    ['an origin with a path', { apiKey, scriptId, corsOrigins: ['http://localhost:3000/'] }, /did you mean/],
    ['an empty bell selector', { apiKey, scriptId, bellSelector: ' ' }, /bellSelector/],
    ['a negative log byte size', { apiKey, scriptId, maxLoggedBytes: -1 }, /maxLoggedBytes/],
    ['a token lifetime of 0', { apiKey, scriptId, tokenTtlMs: 0 }, /tokenTtlMs/],
    ['a fractional token lifetime', { apiKey, scriptId, tokenTtlMs: 0.5 }, /tokenTtlMs/],
  ])('refuses %s with a clear error', async (_name, options, message) => {
    const attempt = createRetenoEmulator(options as RetenoEmulatorOptions);
    await expect(attempt).rejects.toThrow(message);
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_RETENO_EMULATOR_INVALID_OPTION' });
  });
});

describe('token route', () => {
  it('answers a known contact with a fresh opaque token as JSON', async () => {
    const emulator = await startEmulator();
    const response = await postToken(emulator, { email: 'anna@example.com' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const first = ((await response.json()) as { token: string }).token;
    const second = await tokenFor(emulator, { email: 'anna@example.com' });
    expect(first).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(second).not.toBe(first);
  });

  it('accepts any username as long as the password is the API key', async () => {
    const emulator = await startEmulator();
    const response = await postToken(emulator, anna, { authorization: basicAuth(apiKey, 'anything-at-all') });
    expect(response.status).toBe(200);
  });

  it.each([
    ['a wrong API key', { authorization: basicAuth('wrong-key') }],
    ['no Authorization header', {} as Record<string, string>],
    ['the key as username', { authorization: `Basic ${Buffer.from(`${apiKey}:`).toString('base64')}` }],
    ['a Bearer token', { authorization: `Bearer ${apiKey}` }],
  ])('answers 401 for %s', async (_name, headers) => {
    const emulator = await startEmulator();
    const response = await postToken(emulator, anna, headers);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic/);
  });

  it('checks the key before it looks at the body', async () => {
    const emulator = await startEmulator();
    expect((await postToken(emulator, 'not json', { authorization: basicAuth('wrong') })).status).toBe(401);
  });

  it.each([
    ['an empty object', {}],
    ['only empty fields', { email: '', phone: null }],
    ['a non-string field', { externalCustomerId: 42 }],
    ['a JSON array', [{ email: 'anna@example.com' }]],
    ['a body that is not JSON', '{"email":'],
  ])('answers 400 for %s', async (_name, body) => {
    const emulator = await startEmulator();
    expect((await postToken(emulator, body)).status).toBe(400);
  });

  it('answers 400 when the body is not sent as application/json', async () => {
    const emulator = await startEmulator();
    const response = await postToken(emulator, anna, {
      authorization: basicAuth(apiKey),
      'content-type': 'text/plain',
    });
    expect(response.status).toBe(400);
  });

  it('answers {"token": ""} for a contact it does not know', async () => {
    const emulator = await startEmulator();
    const response = await postToken(emulator, { email: 'stranger@example.com', phone: '+10000000000' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ token: '' });
  });

  it.each([
    ['email in another case', { email: 'ANNA@example.COM' }, anna],
    ['phone', { phone: '+380501234567' }, bob],
    ['externalCustomerId', { externalCustomerId: 'c-42' }, carol],
    [
      'one known field among unknown ones',
      { email: 'nobody@example.com', externalCustomerId: 'c-42' },
      carol,
    ],
  ])('finds a contact by %s', async (_name, lookup, owner) => {
    const emulator = await startEmulator();
    const message = emulator.pushMessage(owner, { title: 'For the owner', content: '' });
    const token = await tokenFor(emulator, lookup);
    const { body } = await inboxOk(emulator, '/messages', token);
    expect((body as { list: { id: string }[] }).list.map((item) => item.id)).toEqual([message.id]);
  });

  it('does not match a phone written differently or an id in another case', async () => {
    const emulator = await startEmulator();
    expect(await (await postToken(emulator, { phone: '380501234567' })).json()).toEqual({ token: '' });
    expect(await (await postToken(emulator, { externalCustomerId: 'C-42' })).json()).toEqual({ token: '' });
  });

  it('answers 405 to anything but POST', async () => {
    const emulator = await startEmulator();
    const response = await fetch(`${emulator.url}/v1/auth/contact/token`, {
      headers: { authorization: basicAuth(apiKey) },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('knows contacts added later, and merges a contact that shares a field with a known one', async () => {
    const emulator = await startEmulator({ contacts: [] });
    expect(await (await postToken(emulator, { email: 'dora@example.com' })).json()).toEqual({ token: '' });
    emulator.addContact({ email: 'dora@example.com' });
    emulator.addContact({ email: 'DORA@example.com', phone: '+15550001111' });
    const message = emulator.pushMessage({ phone: '+15550001111' }, { title: 'Hi', content: 'Dora' });
    const token = await tokenFor(emulator, { email: 'dora@example.com' });
    const { body } = await inboxOk(emulator, '/messages', token);
    expect(body).toEqual({ list: [message], totalPages: 1 });
    expect(() => emulator.addContact({ email: '  ' })).toThrow(RetenoEmulatorError);
  });
});

describe('App Inbox API', () => {
  it('rotates tokens: each answer carries the next token and the used one stops working', async () => {
    const emulator = await startEmulator();
    const first = await tokenFor(emulator, anna);
    const { body, next: second } = await inboxOk(emulator, '/messages/count', first);
    expect(body).toEqual({ count: 0 });
    expect(second).not.toBe(first);
    expect((await inbox(emulator, '/messages/count', first)).status).toBe(401);
    const { next: third } = await inboxOk(emulator, '/messages/count', second);
    expect((await inbox(emulator, '/messages/count', second)).status).toBe(401);
    expect((await inbox(emulator, '/messages/count', third)).status).toBe(200);
  });

  it('answers 401 without a token or with one it never issued', async () => {
    const emulator = await startEmulator();
    expect((await inbox(emulator, '/messages/count', null)).status).toBe(401);
    expect((await inbox(emulator, '/messages/count', 'made-up-token')).status).toBe(401);
    expect((await inbox(emulator, '/messages/count', '')).status).toBe(401);
  });

  it('keeps every token issued to a contact working until used', async () => {
    const emulator = await startEmulator();
    const first = await tokenFor(emulator, anna);
    const second = await tokenFor(emulator, anna);
    expect((await inbox(emulator, '/messages/count', second)).status).toBe(200);
    expect((await inbox(emulator, '/messages/count', first)).status).toBe(200);
  });

  it("invalidateTokens(contact) ends that contact's tokens only", async () => {
    const emulator = await startEmulator();
    const annaFirst = await tokenFor(emulator, anna);
    const annaSecond = await tokenFor(emulator, anna);
    const bobToken = await tokenFor(emulator, bob);
    emulator.invalidateTokens({ email: 'anna@example.com' });
    expect((await inbox(emulator, '/messages/count', annaFirst)).status).toBe(401);
    expect((await inbox(emulator, '/messages/count', annaSecond)).status).toBe(401);
    expect((await inbox(emulator, '/messages/count', bobToken)).status).toBe(200);
    expect((await inbox(emulator, '/messages/count', await tokenFor(emulator, anna))).status).toBe(200);
  });

  it("invalidateTokens() ends everyone's tokens, including ones handed out in answers", async () => {
    const emulator = await startEmulator();
    const { next: annaNext } = await inboxOk(emulator, '/messages/count', await tokenFor(emulator, anna));
    const carolToken = await tokenFor(emulator, carol);
    emulator.invalidateTokens();
    expect((await inbox(emulator, '/messages/count', annaNext)).status).toBe(401);
    expect((await inbox(emulator, '/messages/count', carolToken)).status).toBe(401);
  });

  it('refuses to invalidate, push to or list an unknown contact', async () => {
    const emulator = await startEmulator();
    const stranger = { email: 'stranger@example.com' };
    expect(() => emulator.invalidateTokens(stranger)).toThrow(/does not know the contact/);
    let thrown: unknown;
    try {
      emulator.pushMessage(stranger, { title: 'Hi', content: '' });
    } catch (error) {
      thrown = error;
    }
    expect(codeOf(thrown)).toBe('ERR_RETENO_EMULATOR_UNKNOWN_CONTACT');
    expect((thrown as Error).message).toMatch(/pushMessage\(\).*stranger@example\.com.*addContact/);
    expect(() => emulator.messagesOf(stranger)).toThrow(RetenoEmulatorError);
  });

  it('refuses a message without a string title and content', async () => {
    const emulator = await startEmulator();
    const bad = { title: 1, content: 'x' } as unknown as { title: string; content: string };
    expect(() => emulator.pushMessage(anna, bad)).toThrow(/`title` must be a string/);
    expect(() =>
      emulator.pushMessage(anna, { title: 'x', content: 'y', link: 5 as unknown as string }),
    ).toThrow(/`link`/);
  });

  it('counts unread messages and lists them newest first with every field', async () => {
    const emulator = await startEmulator();
    const before = Date.now();
    const older = emulator.pushMessage(anna, { title: 'Older', content: 'First' });
    const newer = emulator.pushMessage(anna, {
      title: 'Newer',
      content: 'Second',
      link: 'https://example.com/offer',
      image: 'https://example.com/offer.png',
    });
    expect(newer).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      createdDate: expect.any(Number),
      title: 'Newer',
      content: 'Second',
      image: 'https://example.com/offer.png',
      link: 'https://example.com/offer',
      newMessage: true,
      status: 'UNOPENED',
    });
    expect(newer.createdDate).toBeGreaterThanOrEqual(before);
    expect(older).toMatchObject({ link: null, image: null });
    emulator.pushMessage(bob, { title: 'Not for Anna', content: '' });

    const count = await inboxOk(emulator, '/messages/count', await tokenFor(emulator, anna));
    expect(count.body).toEqual({ count: 2 });
    const list = await inboxOk(emulator, '/messages', count.next);
    expect(list.body).toEqual({ list: [newer, older], totalPages: 1 });
  });

  it('pages with page and pageSize, and filters by status', async () => {
    const emulator = await startEmulator();
    const titles = ['m1', 'm2', 'm3', 'm4', 'm5'];
    const ids = titles.map((title) => emulator.pushMessage(carol, { title, content: '' }).id);
    let token = await tokenFor(emulator, carol);
    const call = async (path: string, init?: RequestInit) => {
      const result = await inboxOk(emulator, path, token, init);
      token = result.next;
      return result.body as { list: { title: string; status: string }[]; totalPages: number };
    };
    const page2 = await call('/messages?page=2&pageSize=2');
    expect(page2.list.map((message) => message.title)).toEqual(['m3', 'm2']);
    expect(page2.totalPages).toBe(3);
    expect((await call('/messages?page=4&pageSize=2')).list).toEqual([]);
    expect((await call('/messages')).list).toHaveLength(5);

    await call('/messages/status', postStatus([ids[0] ?? '', ids[4] ?? '']));
    const opened = await call('/messages?status=OPENED');
    expect(opened.list.map((message) => message.title)).toEqual(['m5', 'm1']);
    expect(opened.totalPages).toBe(1);
    const unopened = await call('/messages?status=UNOPENED&pageSize=2');
    expect(unopened.list.map((message) => message.title)).toEqual(['m4', 'm3']);
    expect(unopened.totalPages).toBe(2);
  });

  it.each([['page=0'], ['page=abc'], ['pageSize=0'], ['pageSize=101'], ['status=READ']])(
    'answers 400 to a list with %s, and still hands out the next token',
    async (query) => {
      const emulator = await startEmulator();
      const response = await inbox(emulator, `/messages?${query}`, await tokenFor(emulator, anna));
      expect(response.status).toBe(400);
      const next = response.headers.get('es-token') ?? '';
      expect((await inbox(emulator, '/messages/count', next)).status).toBe(200);
    },
  );

  it('marks the listed messages opened, ignoring unknown ids, and answers with no body', async () => {
    const emulator = await startEmulator();
    const first = emulator.pushMessage(anna, { title: 'a', content: '' });
    const second = emulator.pushMessage(anna, { title: 'b', content: '' });
    const response = await inbox(
      emulator,
      '/messages/status',
      await tokenFor(emulator, anna),
      postStatus([first.id, 'no-such-id']),
    );
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    const { body } = await inboxOk(emulator, '/messages/count', response.headers.get('es-token') ?? '');
    expect(body).toEqual({ count: 1 });
    expect(emulator.messagesOf(anna)).toEqual([second, { ...first, status: 'OPENED', newMessage: false }]);
  });

  it('marks every message opened when ids is null', async () => {
    const emulator = await startEmulator();
    emulator.pushMessage(anna, { title: 'a', content: '' });
    emulator.pushMessage(anna, { title: 'b', content: '' });
    const bobMessage = emulator.pushMessage(bob, { title: 'c', content: '' });
    const { next } = await inboxOk(
      emulator,
      '/messages/status',
      await tokenFor(emulator, anna),
      postStatus(null),
    );
    expect((await inboxOk(emulator, '/messages/count', next)).body).toEqual({ count: 0 });
    expect(emulator.messagesOf(anna).every((message) => message.status === 'OPENED')).toBe(true);
    expect(emulator.messagesOf(bob)).toEqual([bobMessage]);
  });

  it.each([
    ['no body', undefined],
    ['another status', JSON.stringify({ status: 'UNOPENED', ids: null })],
    ['ids missing', JSON.stringify({ status: 'OPENED' })],
    ['ids of numbers', JSON.stringify({ status: 'OPENED', ids: [1] })],
    ['a body that is not JSON', 'status=OPENED'],
  ])('answers 400 to a status change with %s', async (_name, body) => {
    const emulator = await startEmulator();
    const message = emulator.pushMessage(anna, { title: 'a', content: '' });
    const token = await tokenFor(emulator, anna);
    const response = await inbox(emulator, '/messages/status', token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
    });
    expect(response.status).toBe(400);
    expect(emulator.messagesOf(anna)).toEqual([message]);
  });

  it('answers 404 for an unknown App Inbox path and 405 for a wrong method, without using the token', async () => {
    const emulator = await startEmulator();
    const token = await tokenFor(emulator, anna);
    expect((await inbox(emulator, '/nothing-here', token)).status).toBe(404);
    const wrongMethod = await inbox(emulator, '/messages/count', token, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect((await inbox(emulator, '/messages/count', token)).status).toBe(200);
  });
});

describe('CORS', () => {
  const site = 'http://localhost:3000';

  it('answers a preflight for the App Inbox API, reflecting any origin by default', async () => {
    const emulator = await startEmulator();
    const response = await fetch(`${emulator.url}/appinbox/v1/messages/status`, {
      method: 'OPTIONS',
      headers: {
        origin: site,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'es-token',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(site);
    expect(response.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(response.headers.get('access-control-allow-methods')).toMatch(/GET/);
    const allowedHeaders = (response.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    expect(allowedHeaders).toContain('es-token');
    expect(allowedHeaders).toContain('content-type');
    expect(response.headers.get('vary')).toMatch(/Origin/);
  });

  it('lets the page read the rotated token: the origin is allowed and ES-TOKEN exposed', async () => {
    const emulator = await startEmulator();
    const response = await inbox(emulator, '/messages/count', await tokenFor(emulator, anna), {
      headers: { origin: site },
    });
    expect(response.headers.get('access-control-allow-origin')).toBe(site);
    expect(response.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('es-token');
  });

  it('allows only the listed origins when corsOrigins is given', async () => {
    const emulator = await startEmulator({ corsOrigins: [site] });
    const preflight = (origin: string) =>
      fetch(`${emulator.url}/appinbox/v1/messages/count`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET' },
      });
    expect((await preflight(site)).headers.get('access-control-allow-origin')).toBe(site);
    const refused = await preflight('http://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const answer = await inbox(emulator, '/messages/count', await tokenFor(emulator, anna), {
      headers: { origin: 'http://evil.example' },
    });
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('widget script', () => {
  it('is served for the configured script id as uncached JavaScript', async () => {
    const emulator = await startEmulator();
    const response = await fetch(`${emulator.url}/scripts/${scriptId}.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/javascript/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const source = await response.text();
    expect(() => new Script(source)).not.toThrow();
    expect(source).toContain(JSON.stringify(emulator.url));
  });

  it.each([
    ['another id', '/scripts/00000000-0000-4000-8000-000000000000.js'],
    ['the id without .js', `/scripts/${scriptId}`],
    ['the id in a sub-folder', `/scripts/x/${scriptId}.js`],
  ])('answers 404 for %s', async (_name, path) => {
    const emulator = await startEmulator();
    expect((await fetch(`${emulator.url}${path}`)).status).toBe(404);
  });

  it('writes the bell selector and poll interval in as safe JSON', async () => {
    const emulator = await startEmulator({ bellSelector: '</script><b id="x">\u2028', pollIntervalMs: 1234 });
    const source = await (await fetch(`${emulator.url}/scripts/${scriptId}.js`)).text();
    expect(source).not.toContain('</script>');
    expect(source).not.toContain('\u2028');
    const settings = /const SETTINGS = (\{.*?\});/.exec(source)?.[1] ?? '';
    expect(JSON.parse(settings)).toEqual({
      apiUrl: emulator.url,
      bellSelector: '</script><b id="x">\u2028',
      pollIntervalMs: 1234,
    });
  });

  it('serves views/emulator-widget.js as it is, but for the settings line it writes in', async () => {
    const emulator = await startEmulator({ pollIntervalMs: 700 });
    const served = (await (await fetch(`${emulator.url}/scripts/${scriptId}.js`)).text()).split('\n');
    const file = (await readFile(packageFile('views/emulator-widget.js'), 'utf8')).split('\n');
    expect(served).toHaveLength(file.length);
    const changed = served.flatMap((line, index) => (line === file[index] ? [] : [[file[index], line]]));
    expect(changed).toEqual([
      [
        "  const SETTINGS = { apiUrl: '', bellSelector: null, pollIntervalMs: 5000 };",
        `  const SETTINGS = {"apiUrl":${JSON.stringify(emulator.url)},"bellSelector":null,"pollIntervalMs":700};`,
      ],
    ]);
  });

  it('is plain ES2017 that a strict CSP allows: no eval, no HTML strings, no style attributes', async () => {
    const source = await widgetScript();
    expect(syntaxNewerThanES2017(source)).toEqual([]);
    for (const forbidden of [
      /\binnerHTML\b/,
      /\bouterHTML\b/,
      /insertAdjacentHTML/,
      /document\.write/,
      /\beval\s*\(/,
      /new\s+Function\b/,
      /setAttribute\(\s*['"]style['"]/,
      /createElement\(\s*['"]style['"]/,
      /\.style\.cssText/,
      /console\.error/,
    ]) {
      expect(source).not.toMatch(forbidden);
    }
  });

  it('finds syntax newer than ES2017 (the check above can fail)', () => {
    const newer = syntaxNewerThanES2017(
      'a?.b; x ?? y; var o = { ...p }; try { f() } catch { } class C { #p = 1 } /(?<n>x)/s; 1_000;',
    );
    expect(newer).toEqual(
      expect.arrayContaining([
        'optional chaining',
        'nullish coalescing',
        'object spread or rest',
        'catch without a binding',
        'class fields',
        'regular expression features of ES2018',
        'numeric separators',
      ]),
    );
  });

  it("takes over the loader's queue: replays calls, warns on a second init, ignores other commands", async () => {
    const page = loadWidgetInPage(await widgetScript(), [
      "eS('sendEvent', 'PageView', {});",
      "eS('init', {TRACKING: true}, {getAuthTokenCallback: function () { return Promise.resolve('t'); }, language: 'en'});",
    ]);
    expect(page.window.eS).not.toBe(page.stub);
    expect(page.consoleCalls).toEqual([]);
    page.run("eS('sendEvent', 'ProductPage', {productKey: '1'});");
    expect(page.consoleCalls).toEqual([]);
    page.run("eS('init', {APP_INBOX: true}, {getAuthTokenCallback: function () {}, language: 'en'});");
    expect(page.consoleCalls).toEqual([['warn', expect.stringContaining('only the first call')]]);
    // A call through a reference kept to the loader's stub reaches the widget too.
    page.run("stubRef('init', {APP_INBOX: true}, {});");
    expect(page.consoleCalls).toHaveLength(2);
  });

  it('warns, without throwing, when APP_INBOX is on but getAuthTokenCallback is missing', async () => {
    const page = loadWidgetInPage(await widgetScript(), ["eS('init', {APP_INBOX: true}, {language: 'uk'});"]);
    expect(page.consoleCalls).toEqual([['warn', expect.stringContaining('getAuthTokenCallback')]]);
  });
});

describe('faults', () => {
  it('answers 500 with a short text body by default, until cleared, on every API route', async () => {
    const emulator = await startEmulator();
    const token = await tokenFor(emulator, anna);
    emulator.fail({ kind: 'status' });
    for (const response of [
      await postToken(emulator, anna),
      await inbox(emulator, '/messages/count', token),
    ]) {
      expect(response.status).toBe(500);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      expect((await response.text()).length).toBeLessThan(100);
    }
    emulator.clearFaults();
    // The faulted request did not use the token up.
    expect((await inbox(emulator, '/messages/count', token)).status).toBe(200);
  });

  it('plays a status with Retry-After for the given number of times, then answers normally', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'status', status: 429, retryAfter: 3, times: 2 });
    const first = await postToken(emulator, anna);
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('3');
    expect((await postToken(emulator, anna)).status).toBe(429);
    expect((await postToken(emulator, anna)).status).toBe(200);
  });

  it('hits only the chosen route', async () => {
    const emulator = await startEmulator();
    const token = await tokenFor(emulator, anna);
    emulator.fail({ kind: 'status', status: 503, route: 'inbox' });
    expect((await postToken(emulator, anna)).status).toBe(200);
    expect((await inbox(emulator, '/messages/count', token)).status).toBe(503);
    emulator.clearFaults();
    emulator.fail({ kind: 'status', status: 502, route: 'token' });
    expect((await inbox(emulator, '/messages/count', token)).status).toBe(200);
    expect((await postToken(emulator, anna)).status).toBe(502);
  });

  it('plays queued faults in order', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'status', status: 503, times: 1 });
    emulator.fail({ kind: 'garbage', times: 1 });
    expect((await postToken(emulator, anna)).status).toBe(503);
    expect((await postToken(emulator, anna)).headers.get('content-type')).toMatch(/^text\/html/);
    expect((await postToken(emulator, anna)).status).toBe(200);
  });

  it('never hits the script, preflights or unknown paths', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'reset' });
    expect((await fetch(`${emulator.url}/scripts/${scriptId}.js`)).status).toBe(200);
    const preflight = await fetch(`${emulator.url}/appinbox/v1/messages`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET' },
    });
    expect(preflight.status).toBe(204);
    expect((await fetch(`${emulator.url}/elsewhere`)).status).toBe(404);
    await expect(postToken(emulator, anna)).rejects.toThrow();
  });

  it('delays a status by delayMs', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'status', status: 504, delayMs: 300, times: 1 });
    const started = Date.now();
    expect((await postToken(emulator, anna)).status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  });

  it('timeout with delayMs: hangs that long, then answers normally', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'timeout', delayMs: 300, times: 1 });
    const started = Date.now();
    const response = await postToken(emulator, anna);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { token: string }).token).not.toBe('');
  });

  it('timeout without delayMs: never answers, and close() releases the hanging request', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'timeout' });
    const pending = postToken(emulator, anna);
    pending.catch(() => undefined);
    await waitFor(() => emulator.requests.length === 1);
    const raced = await Promise.race([
      pending.then(() => 'answered'),
      new Promise((resolve) => setTimeout(resolve, 300, 'still waiting')),
    ]);
    expect(raced).toBe('still waiting');
    expect(emulator.requests[0]?.status).toBeNull();
    const closing = Date.now();
    await emulator.close();
    expect(Date.now() - closing).toBeLessThan(1000);
    await expect(pending).rejects.toThrow();
  });

  it('reset: destroys the connection', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'reset', times: 1 });
    await expect(rawRequest(`${emulator.url}/appinbox/v1/messages/count`)).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect((await inbox(emulator, '/messages/count', null)).status).toBe(401);
  });

  it('garbage: 200 with an HTML body', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'garbage', route: 'token' });
    const response = await postToken(emulator, anna);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const body = await response.text();
    expect(() => JSON.parse(body)).toThrow();
  });

  it('malformed-json: 200 JSON that does not parse', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'malformed-json' });
    const response = await postToken(emulator, anna);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.text()).toBe('{"token":');
  });

  it('trickle: the normal answer, one byte every delayMs', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'trickle', delayMs: 20, times: 1 });
    const answer = await rawRequest(`${emulator.url}/v1/auth/contact/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(apiKey), 'content-type': 'application/json' },
      body: JSON.stringify(anna),
    });
    expect(answer.status).toBe(200);
    const bytes = Buffer.byteLength(answer.body);
    expect(answer.headers['content-length']).toBe(String(bytes));
    expect((JSON.parse(answer.body) as { token: string }).token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(answer.chunks).toBeGreaterThan(bytes / 2);
    expect(answer.elapsedMs).toBeGreaterThanOrEqual(bytes * 20 * 0.8);
  });

  it('oversize: 200 with a 10 MiB body and no Content-Length', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'oversize', times: 1 });
    const answer = await rawRequest(`${emulator.url}/appinbox/v1/messages/count`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBeUndefined();
    expect(Buffer.byteLength(answer.body)).toBe(10 * 1024 * 1024);
    expect(answer.body.startsWith('{"token":"aaa')).toBe(true);
  });

  it.each([
    ['an unknown kind', { kind: 'explode' }, /`kind` must be one of/],
    ['a status on another kind', { kind: 'reset', status: 503 }, /`status` applies only/],
    ['a status out of range', { kind: 'status', status: 99 }, /`status`/],
    ['zero times', { kind: 'status', times: 0 }, /`times`/],
    ['an unknown route', { kind: 'status', route: 'script' }, /`route`/],
    ['a negative delay', { kind: 'timeout', delayMs: -1 }, /`delayMs`/],
    ['an unknown property', { kind: 'status', retry: 1 }, /unknown property `retry`/],
  ])('refuses %s', async (_name, fault, message) => {
    const emulator = await startEmulator();
    let thrown: unknown;
    try {
      emulator.fail(fault as never);
    } catch (error) {
      thrown = error;
    }
    expect(codeOf(thrown)).toBe('ERR_RETENO_EMULATOR_INVALID_FAULT');
    expect((thrown as Error).message).toMatch(message);
    expect((await postToken(emulator, anna)).status).toBe(200);
  });
});

describe('requests log', () => {
  it('records every request with its method, path, query, headers, parsed body, status and time', async () => {
    const emulator = await startEmulator();
    const before = Date.now();
    const token = await tokenFor(emulator, anna);
    await inbox(emulator, '/messages?page=2&pageSize=5', token, { headers: { 'X-Trace': 'abc' } });
    await fetch(`${emulator.url}/appinbox/v1/messages/status`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'not json',
    });
    await fetch(`${emulator.url}/scripts/${scriptId}.js`);

    expect(emulator.requests).toHaveLength(4);
    const [tokenRequest, listRequest, statusRequest, scriptRequest] = emulator.requests;
    expect(tokenRequest).toMatchObject({
      method: 'POST',
      path: '/v1/auth/contact/token',
      query: {},
      body: anna,
      status: 200,
    });
    expect(tokenRequest?.authorization).toBe('valid');
    expect(tokenRequest?.at).toBeGreaterThanOrEqual(before);
    expect(listRequest).toMatchObject({
      method: 'GET',
      path: '/appinbox/v1/messages',
      query: { page: '2', pageSize: '5' },
      body: undefined,
      status: 200,
    });
    expect(listRequest?.headers['es-token']).toBe(token);
    expect(listRequest?.headers['x-trace']).toBe('abc');
    expect(statusRequest).toMatchObject({ body: 'not json', status: 401 });
    expect(scriptRequest).toMatchObject({ method: 'GET', path: `/scripts/${scriptId}.js`, status: 200 });
  });

  it('records faulted requests with the status they got, and clearRequests() empties the log', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'status', status: 503, times: 1 });
    await postToken(emulator, anna);
    expect(emulator.requests.map((entry) => entry.status)).toEqual([503]);
    emulator.clearRequests();
    expect(emulator.requests).toEqual([]);
    await postToken(emulator, anna);
    expect(emulator.requests.map((entry) => entry.status)).toEqual([200]);
  });
});

describe('requests log size', () => {
  it('keeps the newest maxLoggedRequests requests, oldest first', async () => {
    const emulator = await startEmulator({ maxLoggedRequests: 3 });
    for (let index = 0; index < 5; index++) {
      expect((await fetch(`${emulator.url}/scripts/${scriptId}.js?n=${index}`)).status).toBe(200);
    }
    expect(emulator.requests.map((entry) => entry.query.n)).toEqual(['2', '3', '4']);
    emulator.clearRequests();
    await fetch(`${emulator.url}/scripts/${scriptId}.js?n=5`);
    expect(emulator.requests.map((entry) => entry.query.n)).toEqual(['5']);
  });

  it('keeps no log with 0, and still answers', async () => {
    const emulator = await startEmulator({ maxLoggedRequests: 0 });
    expect(await tokenFor(emulator, anna)).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(emulator.requests).toEqual([]);
  });
});

describe('requests log: no credentials, bounded in memory', () => {
  it('records whether Authorization was absent, valid or invalid, never its value', async () => {
    const emulator = await startEmulator();
    await postToken(emulator, anna);
    await postToken(emulator, anna, { authorization: basicAuth('wrong-key') });
    await postToken(emulator, anna, {});
    await inbox(emulator, '/messages/count', null, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(emulator.requests.map((entry) => entry.authorization)).toEqual([
      'valid',
      'invalid',
      'absent',
      'invalid',
    ]);
    for (const entry of emulator.requests) expect(entry.headers).not.toHaveProperty('authorization');
    const logged = JSON.stringify(emulator.requests);
    expect(logged).not.toContain(apiKey);
    expect(logged).not.toContain(Buffer.from(`site:${apiKey}`).toString('base64'));
    expect(logged).not.toContain('wrong-key');
  });

  it('keeps the newest requests within maxLoggedBytes, counting two bytes a character, and skips one larger than that', async () => {
    const emulator = await startEmulator({ maxLoggedBytes: 16_384 });
    const post = (n: number, characters: number) =>
      fetch(`${emulator.url}/appinbox/v1/messages/status?n=${n}`, {
        method: 'POST',
        body: 'x'.repeat(characters),
      });
    for (let n = 0; n < 10; n++) expect((await post(n, 1000)).status).toBe(401);
    const kept = emulator.requests.map((entry) => entry.query.n);
    // Each entry costs 2,016 bytes of body, its headers and its objects: 3 to 6 fit in 16 KiB.
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(kept.length).toBeLessThan(7);
    expect(kept).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'].slice(-kept.length));
    const bodies = emulator.requests.reduce((sum, entry) => sum + 2 * String(entry.body).length, 0);
    expect(bodies).toBeLessThanOrEqual(16_384);

    // 8,192 characters take 16 KiB on their own.
    expect((await post(10, 8192)).status).toBe(401);
    expect(emulator.requests.map((entry) => entry.query.n)).toEqual(kept);
    await post(11, 10);
    expect(emulator.requests.at(-1)?.query.n).toBe('11');
  });

  it('keeps the body as text and parses it on each read, so a body of many small values costs its text', async () => {
    const emulator = await startEmulator();
    await postToken(emulator, { email: 'anna@example.com', fields: [{}, {}] });
    const [entry] = emulator.requests;
    expect(entry?.body).toEqual({ email: 'anna@example.com', fields: [{}, {}] });
    expect(entry?.body).not.toBe(entry?.body);
    expect(JSON.parse(JSON.stringify(entry))).toMatchObject({ body: { email: 'anna@example.com' } });
  });

  it('keeps no log with maxLoggedBytes 0, and still answers', async () => {
    const emulator = await startEmulator({ maxLoggedBytes: 0 });
    expect(await tokenFor(emulator, anna)).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(emulator.requests).toEqual([]);
  });
});

describe('token lifetime', () => {
  it('refuses an unused token from the token route with 401 once tokenTtlMs has passed', async () => {
    const emulator = await startEmulator({ tokenTtlMs: 200 });
    const fresh = await tokenFor(emulator, anna);
    const ageing = await tokenFor(emulator, anna);
    expect((await inbox(emulator, '/messages/count', fresh)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const expired = await inbox(emulator, '/messages/count', ageing);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('es-token')).toBeNull();
    expect(await expired.text()).toMatch(/expired/);
    expect((await inbox(emulator, '/messages/count', await tokenFor(emulator, anna))).status).toBe(200);
  });

  it('lets the tokens handed out in answers expire too', async () => {
    const emulator = await startEmulator({ tokenTtlMs: 200 });
    const { next } = await inboxOk(emulator, '/messages/count', await tokenFor(emulator, anna));
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await inbox(emulator, '/messages/count', next)).status).toBe(401);
  });

  it('keeps tokens working for an hour by default', async () => {
    const emulator = await startEmulator();
    const token = await tokenFor(emulator, anna);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await inbox(emulator, '/messages/count', token)).status).toBe(200);
  });
});

describe('Host check (DNS rebinding)', () => {
  const hostRequest = (emulator: RetenoEmulator, path: string, host: string, method = 'GET') =>
    rawRequest(`${emulator.url}${path}`, {
      method,
      headers: { host, origin: `http://${host}`, 'access-control-request-method': 'GET' },
    });

  it.each([
    ['a name rebound to this machine', 'attacker.example'],
    ['such a name with a port', 'attacker.example:80'],
    ['a name that starts like localhost', 'localhost.attacker.example'],
    ['a name that starts like 127.0.0.1', '127.0.0.1.attacker.example'],
    ['user info before a loopback address', 'attacker.example@127.0.0.1'],
    ['a private network address', '192.168.1.20'],
  ])('answers 421 with a JSON error, on every route, to %s', async (_name, host) => {
    const emulator = await startEmulator();
    const token = await tokenFor(emulator, anna);
    for (const [path, method] of [
      [`/scripts/${scriptId}.js`, 'GET'],
      ['/v1/auth/contact/token', 'POST'],
      ['/appinbox/v1/messages/count', 'GET'],
      ['/appinbox/v1/messages/count', 'OPTIONS'],
    ] as const) {
      const answer = await hostRequest(emulator, path, host, method);
      expect(answer.status).toBe(421);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(answer.body)).toEqual({ error: 'host_not_served', message: expect.any(String) });
      expect(answer.body).not.toContain('attacker');
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    }
    expect(emulator.requests.slice(1).map((entry) => entry.status)).toEqual([421, 421, 421, 421]);
    // The refused call did not use the token up.
    expect((await inbox(emulator, '/messages/count', token)).status).toBe(200);
  });

  it.each([
    ['localhost'],
    ['LOCALHOST:8080'],
    ['app.localhost'],
    ['127.0.0.1'],
    ['127.8.9.10:1'],
    ['[::1]:443'],
  ])('serves the loopback name %s', async (host) => {
    const emulator = await startEmulator();
    expect((await hostRequest(emulator, `/scripts/${scriptId}.js`, host)).status).toBe(200);
  });

  it('tells which hosts are served: loopback names and the configured host, any port', () => {
    expect(isServedHost('localhost:3000', '127.0.0.1')).toBe(true);
    expect(isServedHost('[0:0:0:0:0:0:0:1]', '127.0.0.1')).toBe(true);
    expect(isServedHost('dev.example.test:4010', 'dev.example.test')).toBe(true);
    expect(isServedHost('DEV.example.test', 'dev.example.test')).toBe(true);
    expect(isServedHost('192.168.1.20:4010', '192.168.1.20')).toBe(true);
    expect(isServedHost('[fd00::1]:4010', 'fd00::1')).toBe(true);
    expect(isServedHost('192.168.1.21', '192.168.1.20')).toBe(false);
    expect(isServedHost('other.example.test', 'dev.example.test')).toBe(false);
    expect(isServedHost(undefined, '127.0.0.1')).toBe(false);
    expect(isServedHost('', '127.0.0.1')).toBe(false);
    expect(isServedHost('127.0.0.1/path', '127.0.0.1')).toBe(false);
    expect(isServedHost('localhost.', '127.0.0.1')).toBe(false);
  });
});

describe('listening address', () => {
  it('prints nothing for a loopback address', async () => {
    const warnings = await warningsDuring(() => startEmulator({ host: '127.0.0.1' }));
    expect(warnings).toEqual([]);
  });

  it('warns when it listens on an address other machines may reach, and still serves loopback names only', async () => {
    let emulator: RetenoEmulator | undefined;
    const warnings = await warningsDuring(async () => {
      emulator = await startEmulator({ host: '0.0.0.0' });
    });
    expect(warnings).toEqual([
      expect.stringMatching(/^Reteno emulator: listening on http:\/\/0\.0\.0\.0:\d+.*127\.0\.0\.1/),
    ]);
    const port = new URL(emulator?.url ?? '').port;
    expect((await rawRequest(`http://127.0.0.1:${port}/scripts/${scriptId}.js`)).status).toBe(200);
    const rebound = await rawRequest(`http://127.0.0.1:${port}/scripts/${scriptId}.js`, {
      headers: { host: `attacker.example:${port}` },
    });
    expect(rebound.status).toBe(421);
  });

  it('tells loopback addresses from others', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopbackAddress(address)).toBe(true);
    }
    for (const address of ['0.0.0.0', '::', '192.168.1.20', '::ffff:10.0.0.1', 'fd00::1']) {
      expect(isLoopbackAddress(address)).toBe(false);
    }
  });
});

describe('close', () => {
  it('stops listening, and a second close() resolves too', async () => {
    const emulator = await startEmulator();
    await fetch(`${emulator.url}/scripts/${scriptId}.js`);
    await emulator.close();
    await emulator.close();
    await expect(fetch(`${emulator.url}/scripts/${scriptId}.js`)).rejects.toThrow();
  });

  it('cuts a trickling answer short', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'trickle', delayMs: 1000 });
    const pending = postToken(emulator, anna).then((response) => response.text());
    pending.catch(() => undefined);
    await waitFor(() => emulator.requests[0]?.status === 200);
    await emulator.close();
    await expect(pending).rejects.toThrow();
  });
});

describe('command line', () => {
  it('has defaults for everything', () => {
    expect(parseCliArguments([], {})).toEqual({
      kind: 'start',
      options: {
        port: 8089,
        host: '127.0.0.1',
        apiKey: 'emulator-api-key',
        scriptId: '00000000-0000-4000-8000-000000000000',
        contacts: [],
        controlApi: true,
        welcomeMessage: { title: 'Welcome to the Reteno emulator', content: expect.any(String) },
      },
    });
  });

  it('reads the environment, and flags win over it', () => {
    const env = {
      PORT: '4000',
      RETENO_EMULATOR_API_KEY: 'env-key',
      RETENO_EMULATOR_CONTACTS: 'a@example.com, phone=+15550001111',
    };
    expect(parseCliArguments([], env)).toMatchObject({
      options: {
        port: 4000,
        apiKey: 'env-key',
        contacts: [{ email: 'a@example.com' }, { phone: '+15550001111' }],
      },
    });
    const args = [
      '--port',
      '0',
      '--api-key',
      'flag-key',
      '--contact',
      'b@example.com',
      '--contact',
      'externalCustomerId=7',
    ];
    const flags = [...args, '--cors-origin', 'http://localhost:3000', '--token-ttl-ms', '60000'];
    expect(parseCliArguments(flags, env)).toMatchObject({
      options: {
        port: 0,
        apiKey: 'flag-key',
        contacts: [{ email: 'b@example.com' }, { externalCustomerId: '7' }],
        corsOrigins: ['http://localhost:3000'],
        tokenTtlMs: 60000,
      },
    });
  });

  it('refuses a bad port, a contact it cannot read, and unknown flags', () => {
    expect(() => parseCliArguments(['--port', 'eighty'], {})).toThrow(/--port/);
    expect(() => parseCliArguments(['--token-ttl-ms', '1h'], {})).toThrow(/--token-ttl-ms/);
    expect(() => parseContact('anna')).toThrow(/--contact "anna"/);
    expect(() => parseCliArguments(['--apikey', 'x'], {})).toThrow(/apikey/);
    expect(parseCliArguments(['-h'], {})).toEqual({ kind: 'help' });
  });
});

/** The first cells of the table under README.md's heading `### <heading>`, without their backquotes. */
async function readmeTableKeys(heading: string): Promise<string[]> {
  const readme = await readFile(packageFile('README.md'), 'utf8');
  const section = readme.split(`\n### ${heading}\n`)[1]?.split(/\n##/)[0] ?? '';
  return [...section.matchAll(/^\| `([^`]+)` +\|/gm)].map((match) => match[1] ?? '');
}

describe("README's emulator tables", () => {
  it('lists every option of createRetenoEmulator, once', async () => {
    const listed = await readmeTableKeys('Its options');
    expect([...listed].sort()).toEqual(Object.keys(optionNames).sort());
  });

  it('lists every data-reteno-inbox-* attribute the widget sets, and no other', async () => {
    const widget = await readFile(packageFile('views/emulator-widget.js'), 'utf8');
    const set = new Set([...widget.matchAll(/'(data-reteno-inbox-[a-z-]+)'/g)].map((match) => match[1]));
    const listed = await readmeTableKeys("The widget's hooks for browser tests");
    expect(listed.length).toBeGreaterThan(10);
    expect([...listed].sort()).toEqual([...set].sort());
  });

  it('lists control API routes that the control API serves', async () => {
    const emulator = await startEmulator({ controlApi: true });
    const routes = await readmeTableKeys('Driving it from another process');
    expect(routes.length).toBeGreaterThanOrEqual(7);
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      const answer = await fetch(`${emulator.url}${path.replace(/\?.*$/, '')}`, {
        method,
        ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
      });
      const { error } = (await answer.json().catch(() => ({}))) as { error?: string };
      expect({ route, error }).not.toMatchObject({
        error: expect.stringMatching(/^(not_found|method_not_allowed)$/),
      });
      expect({ route, status: answer.status }).not.toMatchObject({ status: 405 });
    }
  });
});

/** Names the syntax in `source` that ES2017 does not have. */
function syntaxNewerThanES2017(source: string): string[] {
  const file = ts.createSourceFile('widget.js', source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (
      (ts.isPropertyAccessExpression(node) ||
        ts.isElementAccessExpression(node) ||
        ts.isCallExpression(node)) &&
      node.questionDotToken
    ) {
      found.add('optional chaining');
    }
    if (ts.isBinaryExpression(node)) {
      const operator = node.operatorToken.kind;
      if (
        operator === ts.SyntaxKind.QuestionQuestionToken ||
        operator === ts.SyntaxKind.QuestionQuestionEqualsToken
      ) {
        found.add('nullish coalescing');
      }
      if (
        operator === ts.SyntaxKind.BarBarEqualsToken ||
        operator === ts.SyntaxKind.AmpersandAmpersandEqualsToken
      ) {
        found.add('logical assignment');
      }
    }
    if (
      ts.isSpreadAssignment(node) ||
      (ts.isBindingElement(node) && node.dotDotDotToken && ts.isObjectBindingPattern(node.parent))
    ) {
      found.add('object spread or rest');
    }
    if (ts.isCatchClause(node) && !node.variableDeclaration) found.add('catch without a binding');
    if (ts.isForOfStatement(node) && node.awaitModifier) found.add('for await');
    if (ts.isFunctionLike(node) && 'asteriskToken' in node && node.asteriskToken) {
      if (ts.getCombinedModifierFlags(node as ts.Declaration) & ts.ModifierFlags.Async)
        found.add('async generators');
    }
    if (
      ts.isPropertyDeclaration(node) ||
      ts.isPrivateIdentifier(node) ||
      ts.isClassStaticBlockDeclaration(node)
    ) {
      found.add('class fields');
    }
    if (ts.isRegularExpressionLiteral(node) && /\(\?<[=!]?|\\p\{|\/[a-z]*s[a-z]*$/.test(node.text)) {
      found.add('regular expression features of ES2018');
    }
    if (ts.isNumericLiteral(node) && node.getText(file).includes('_')) found.add('numeric separators');
    if (node.kind === ts.SyntaxKind.BigIntLiteral) found.add('bigint');
    if (ts.isMetaProperty(node) || node.kind === ts.SyntaxKind.ImportKeyword) found.add('modules');
    ts.forEachChild(node, visit);
  };
  visit(file);
  return [...found];
}

interface FakePage {
  window: Record<string, unknown>;
  stub: unknown;
  consoleCalls: unknown[][];
  run(code: string): void;
}

/**
 * Runs the site's loader, the page's calls, then the widget, in a bare context with just enough of a document for
 * the loader. Nothing here needs the DOM: APP_INBOX stays off or init is refused.
 */
function loadWidgetInPage(widget: string, pageCalls: string[]): FakePage {
  const consoleCalls: unknown[][] = [];
  const record =
    (level: string) =>
    (...args: unknown[]) =>
      consoleCalls.push([level, ...args]);
  const firstScript = { parentNode: { insertBefore: () => undefined } };
  const context = createContext({
    document: {
      readyState: 'complete',
      currentScript: null,
      scripts: [firstScript],
      createElement: () => ({}),
    },
    HTMLScriptElement: function HTMLScriptElement() {},
    console: { log: record('log'), info: record('info'), warn: record('warn'), error: record('error') },
  });
  const run = (code: string) => runInContext(code, context);
  run('var window = this;');
  run(
    "!function(t,e,c,n){var s=e.createElement(c);s.async=1,s.src=n;var r=e.scripts[0];r.parentNode.insertBefore(s,r);var f=function(){f.c(arguments)};f.q=[];f.c=function(){f.q.push(arguments)};t.eS=t.eS||f}(window,document,'script','http://127.0.0.1:1/scripts/x.js');",
  );
  run('var stubRef = window.eS;');
  for (const call of pageCalls) run(call);
  run(widget);
  const window = run('window') as Record<string, unknown>;
  return { window, stub: run('stubRef'), consoleCalls, run };
}
