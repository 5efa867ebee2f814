import { parseCliArguments } from '../src/emulator/cli-options.js';
import {
  createRetenoEmulator,
  type RetenoEmulator,
  type RetenoEmulatorOptions,
} from '../src/emulator/index.js';

/** The emulator's contact API (Reteno's `POST /api/v1/contact`), over real HTTP on 127.0.0.1. */

const apiKey = 'test-api-key';
const scriptId = '3f0c2a9e-5b1d-4c7e-9a8f-0123456789ab';
const contactPath = '/api/v1/contact';

const running = new Set<RetenoEmulator>();

async function startEmulator(options: Partial<RetenoEmulatorOptions> = {}): Promise<RetenoEmulator> {
  const emulator = await createRetenoEmulator({ apiKey, scriptId, ...options });
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

function postContact(
  emulator: RetenoEmulator,
  body: unknown,
  headers: Record<string, string> = { authorization: basicAuth(apiKey) },
  path = contactPath,
): Promise<Response> {
  return fetch(`${emulator.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A contact API call that must succeed; returns the id it answered. */
async function upsertContact(emulator: RetenoEmulator, body: unknown): Promise<number> {
  const response = await postContact(emulator, body);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const answer = (await response.json()) as { id: unknown };
  expect(Object.keys(answer)).toEqual(['id']);
  expect(Number.isInteger(answer.id)).toBe(true);
  return answer.id as number;
}

async function tokenOf(emulator: RetenoEmulator, contact: object): Promise<string> {
  const response = await fetch(`${emulator.url}/v1/auth/contact/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(apiKey) },
    body: JSON.stringify(contact),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

function emailChannel(value: string) {
  return { type: 'email', value };
}

function smsChannel(value: string) {
  return { type: 'sms', value };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('contact API: creating and updating contacts', () => {
  it('creates an unknown contact and answers its id; the token route then issues tokens for it', async () => {
    const emulator = await startEmulator();
    expect(await tokenOf(emulator, { email: 'anna@example.com' })).toBe('');

    const id = await upsertContact(emulator, {
      firstName: 'Anna',
      lastName: 'Koval',
      languageCode: 'uk-UA',
      externalCustomerId: 'c-42',
      channels: [emailChannel('Anna@Example.com'), smsChannel('+380501234567')],
    });

    for (const contact of [
      { email: 'anna@example.com' },
      { phone: '+380501234567' },
      { externalCustomerId: 'c-42' },
    ]) {
      expect(await tokenOf(emulator, contact)).not.toBe('');
    }
    expect(emulator.contacts()).toEqual([
      {
        id,
        email: 'anna@example.com',
        phone: '+380501234567',
        externalCustomerId: 'c-42',
        firstName: 'Anna',
        lastName: 'Koval',
        languageCode: 'uk-UA',
        timeZone: null,
        createdBy: 'contact-api',
      },
    ]);
    // An inbox is there for it, as for any known contact.
    expect(emulator.messagesOf({ externalCustomerId: 'c-42' })).toEqual([]);
  });

  it('gives every new contact its own id, after the contacts it knew from the start', async () => {
    const emulator = await startEmulator({ contacts: [{ email: 'setup@example.com' }] });
    const first = await upsertContact(emulator, { channels: [emailChannel('one@example.com')] });
    const second = await upsertContact(emulator, { channels: [smsChannel('+15550001111')] });
    const ids = emulator.contacts().map((contact) => contact.id);
    expect(ids).toEqual([ids[0], first, second]);
    expect(new Set(ids).size).toBe(3);
    expect(emulator.contacts().map((contact) => contact.createdBy)).toEqual([
      'setup',
      'contact-api',
      'contact-api',
    ]);
  });

  it('updates the known contact its e-mail, phone or externalCustomerId matches instead of creating one', async () => {
    const emulator = await startEmulator();
    const id = await upsertContact(emulator, { channels: [emailChannel('taras@example.com')] });

    // Found by e-mail: gains a phone and a first name.
    const byEmail = {
      firstName: 'Taras',
      channels: [emailChannel('TARAS@example.com'), smsChannel('+380671112233')],
    };
    expect(await upsertContact(emulator, byEmail)).toBe(id);
    // Found by phone: gains an externalCustomerId and a last name.
    const byPhone = {
      lastName: 'Shevchenko',
      externalCustomerId: 't-7',
      channels: [smsChannel('+380671112233')],
    };
    expect(await upsertContact(emulator, byPhone)).toBe(id);
    // Found by externalCustomerId, with only a channel the emulator does not look up.
    const byId = {
      externalCustomerId: 't-7',
      languageCode: 'uk',
      channels: [{ type: 'webpush', value: 'sub-1' }],
    };
    expect(await upsertContact(emulator, byId)).toBe(id);

    expect(emulator.contacts()).toEqual([
      {
        id,
        email: 'taras@example.com',
        phone: '+380671112233',
        externalCustomerId: 't-7',
        firstName: 'Taras',
        lastName: 'Shevchenko',
        languageCode: 'uk',
        timeZone: null,
        createdBy: 'contact-api',
      },
    ]);
  });

  it('updates a contact it knew from the start, which keeps its inbox and its tokens', async () => {
    const emulator = await startEmulator({ contacts: [{ email: 'anna@example.com' }] });
    emulator.pushMessage({ email: 'anna@example.com' }, { title: 'Hello', content: 'Kept' });
    const [setup] = emulator.contacts();
    const id = await upsertContact(emulator, {
      firstName: 'Anna',
      channels: [emailChannel('anna@example.com'), smsChannel('+380501234567')],
    });
    expect(id).toBe(setup?.id);
    expect(emulator.contacts()).toEqual([
      expect.objectContaining({ id, phone: '+380501234567', firstName: 'Anna', createdBy: 'setup' }),
    ]);
    expect(emulator.messagesOf({ phone: '+380501234567' }).map((message) => message.title)).toEqual([
      'Hello',
    ]);
    expect(await tokenOf(emulator, { phone: '+380501234567' })).not.toBe('');
  });

  it('keeps the identifying fields a contact already has when an update brings others', async () => {
    const emulator = await startEmulator();
    const id = await upsertContact(emulator, {
      externalCustomerId: 'c-1',
      channels: [emailChannel('old@example.com')],
    });
    expect(
      await upsertContact(emulator, {
        externalCustomerId: 'c-1',
        channels: [emailChannel('new@example.com')],
      }),
    ).toBe(id);
    expect(emulator.contacts()).toEqual([expect.objectContaining({ email: 'old@example.com' })]);
  });

  it('invalidateTokens(contact) works for a contact the contact API created', async () => {
    const emulator = await startEmulator();
    await upsertContact(emulator, { channels: [emailChannel('anna@example.com')] });
    const token = await tokenOf(emulator, { email: 'anna@example.com' });
    emulator.invalidateTokens({ email: 'anna@example.com' });
    const count = await fetch(`${emulator.url}/appinbox/v1/messages/count`, {
      headers: { 'ES-TOKEN': token },
    });
    expect(count.status).toBe(401);
  });
});

describe('contact API: refused requests', () => {
  it.each([
    ['no channels', { firstName: 'Anna', externalCustomerId: 'c-1' }],
    ['empty channels', { externalCustomerId: 'c-1', channels: [] }],
    [
      'channels that are not an array',
      { externalCustomerId: 'c-1', channels: { type: 'email', value: 'a@example.com' } },
    ],
  ])('answers 400 for %s, and creates nothing', async (_name, body) => {
    const emulator = await startEmulator();
    const response = await postContact(emulator, body);
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/`channels` is required/);
    expect(emulator.contacts()).toEqual([]);
  });

  it.each([
    ['a channel of an unknown type', { channels: [{ type: 'fax', value: '1' }] }, /channels\[0\]\.type/],
    [
      'a channel without a value',
      { channels: [emailChannel('a@example.com'), { type: 'sms' }] },
      /channels\[1\]\.value/,
    ],
    ['a channel that is not an object', { channels: ['a@example.com'] }, /channels\[0\]` must be an object/],
    [
      'two e-mail channels',
      { channels: [emailChannel('a@example.com'), emailChannel('b@example.com')] },
      /more than one email/,
    ],
    [
      'only channels it cannot look up',
      { channels: [{ type: 'webpush', value: 'sub-1' }] },
      /at least one non-empty email, phone or externalCustomerId \(email and phone come from the email and sms/,
    ],
    [
      'a numeric externalCustomerId',
      { externalCustomerId: 42, channels: [emailChannel('a@example.com')] },
      /externalCustomerId/,
    ],
    [
      'a first name that is not a string',
      { firstName: 1, channels: [emailChannel('a@example.com')] },
      /firstName/,
    ],
    ['fields that are not an array', { fields: {}, channels: [emailChannel('a@example.com')] }, /fields/],
    ['an array body', [{ channels: [emailChannel('a@example.com')] }], /Contact object/],
  ])('answers 400 for %s', async (_name, body, message) => {
    const emulator = await startEmulator();
    const response = await postContact(emulator, body);
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(message);
    expect(emulator.contacts()).toEqual([]);
  });

  it('answers 400 for a body that is not JSON, or not sent as application/json', async () => {
    const emulator = await startEmulator();
    const broken = await postContact(emulator, '{"channels": [');
    expect(broken.status).toBe(400);
    expect(await broken.text()).toMatch(/must be JSON/);
    const asText = await fetch(`${emulator.url}${contactPath}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: basicAuth(apiKey) },
      body: JSON.stringify({ channels: [emailChannel('a@example.com')] }),
    });
    expect(asText.status).toBe(400);
    expect(await asText.text()).toMatch(/Content-Type/);
    expect(emulator.contacts()).toEqual([]);
  });

  it('answers 401 for a wrong or missing key before it reads the body, and creates nothing', async () => {
    const emulator = await startEmulator();
    const body = { channels: [emailChannel('a@example.com')] };
    const wrongKey: Record<string, string> = { authorization: basicAuth('wrong-key') };
    for (const headers of [wrongKey, {}]) {
      const response = await postContact(emulator, body, headers);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic/);
    }
    expect((await postContact(emulator, 'not json', wrongKey)).status).toBe(401);
    expect(emulator.contacts()).toEqual([]);
  });

  it('answers 405 to anything but POST', async () => {
    const emulator = await startEmulator();
    const response = await fetch(`${emulator.url}${contactPath}`, {
      headers: { authorization: basicAuth(apiKey) },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });
});

describe('contact API: repeated requests', () => {
  it('answers 409 to the same body within the repeat window, and 200 once it has passed', async () => {
    const emulator = await startEmulator({ contactRepeatWindowMs: 400 });
    const body = { firstName: 'Anna', channels: [emailChannel('anna@example.com')] };
    const id = await upsertContact(emulator, body);

    const repeat = await postContact(emulator, body);
    expect(repeat.status).toBe(409);
    expect(await repeat.text()).toMatch(/repeated request/i);
    // The same JSON with its keys in another order is the same request.
    expect((await postContact(emulator, { channels: body.channels, firstName: 'Anna' })).status).toBe(409);
    // Another body for the same contact is not a repeat.
    expect(await upsertContact(emulator, { ...body, lastName: 'Koval' })).toBe(id);

    await sleep(450);
    expect(await upsertContact(emulator, body)).toBe(id);
    expect(emulator.contacts()).toHaveLength(1);
  });

  it('answers 409 within a minute by default', async () => {
    const emulator = await startEmulator();
    const body = { channels: [emailChannel('anna@example.com')] };
    await upsertContact(emulator, body);
    expect((await postContact(emulator, body)).status).toBe(409);
  });

  it('never answers 409 with contactRepeatWindowMs 0', async () => {
    const emulator = await startEmulator({ contactRepeatWindowMs: 0 });
    const body = { channels: [emailChannel('anna@example.com')] };
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) statuses.push((await postContact(emulator, body)).status);
    expect(statuses).toEqual([200, 200, 200]);
    // The same contact each time: repeats update it, they never add one.
    expect(emulator.contacts()).toHaveLength(1);
  });
});

describe('contact API: rate limit', () => {
  it('answers 429 with Retry-After above the limit, and answers again once the window has passed', async () => {
    const emulator = await startEmulator({ contactRateLimit: { requests: 2, perMs: 1500 } });
    await upsertContact(emulator, { channels: [emailChannel('one@example.com')] });
    await upsertContact(emulator, { channels: [emailChannel('two@example.com')] });

    const limited = await postContact(emulator, { channels: [emailChannel('three@example.com')] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^[12]$/);
    expect(emulator.contacts()).toHaveLength(2);

    await sleep(1550);
    await upsertContact(emulator, { channels: [emailChannel('three@example.com')] });
  });

  it('counts only requests with the right key, as Reteno counts per account', async () => {
    const emulator = await startEmulator({ contactRateLimit: { requests: 1, perMs: 60_000 } });
    const body = { channels: [emailChannel('anna@example.com')] };
    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await postContact(emulator, body, { authorization: basicAuth('wrong-key') })).status).toBe(401);
    }
    await upsertContact(emulator, body);
    const limited = await postContact(emulator, { channels: [emailChannel('bob@example.com')] });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
  });

  it("allows Reteno's 200 requests a second by default", async () => {
    const emulator = await startEmulator({ contactRepeatWindowMs: 0 });
    const body = JSON.stringify({ channels: [emailChannel('anna@example.com')] });
    const statuses = await Promise.all(
      Array.from({ length: 201 }, () => postContact(emulator, body).then((response) => response.status)),
    );
    // All in one window on any machine that sends 201 local requests within a second; the last may fall in the next.
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(200);
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
  });
});

describe('contact API: path, request log and faults', () => {
  it('serves the path given by contactPath, and only that one', async () => {
    const emulator = await startEmulator({ contactPath: '/v1/contact' });
    expect((await postContact(emulator, { channels: [emailChannel('a@example.com')] })).status).toBe(404);
    const response = await postContact(
      emulator,
      { channels: [emailChannel('a@example.com')] },
      undefined,
      '/v1/contact',
    );
    expect(response.status).toBe(200);
  });

  it('records contact calls in the request log, never the Authorization value', async () => {
    const emulator = await startEmulator();
    const body = { channels: [emailChannel('anna@example.com')] };
    await postContact(emulator, body);
    await postContact(emulator, body, { authorization: basicAuth('wrong-key') });
    expect(emulator.requests).toMatchObject([
      { method: 'POST', path: contactPath, body, status: 200, authorization: 'valid' },
      { method: 'POST', path: contactPath, body, status: 401, authorization: 'invalid' },
    ]);
    for (const entry of emulator.requests) expect(entry.headers).not.toHaveProperty('authorization');
    const logged = JSON.stringify(emulator.requests);
    expect(logged).not.toContain(apiKey);
    expect(logged).not.toContain('wrong-key');
  });

  it("plays faults aimed at the contact route, and not the token route's", async () => {
    const emulator = await startEmulator({ contacts: [{ email: 'anna@example.com' }] });
    const body = { channels: [emailChannel('bob@example.com')] };
    emulator.fail({ kind: 'status', status: 503, retryAfter: 2, times: 1, route: 'contact' });
    emulator.fail({ kind: 'status', status: 500, times: 1, route: 'token' });
    const failed = await postContact(emulator, body);
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('2');
    // The faulted request created nothing, so the next one is not a repeat.
    expect(emulator.contacts()).toHaveLength(1);
    await upsertContact(emulator, body);
    const tokenCall = await fetch(`${emulator.url}/v1/auth/contact/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basicAuth(apiKey) },
      body: JSON.stringify({ email: 'anna@example.com' }),
    });
    expect(tokenCall.status).toBe(500);
  });

  it('plays reset, delayed and timeout faults on the contact route, and faults on every route', async () => {
    const emulator = await startEmulator();
    emulator.fail({ kind: 'reset', times: 1, route: 'contact' });
    await expect(postContact(emulator, { channels: [emailChannel('a@example.com')] })).rejects.toThrow();

    emulator.fail({ kind: 'status', status: 502, delayMs: 300, times: 1, route: 'contact' });
    let started = Date.now();
    expect((await postContact(emulator, { channels: [emailChannel('a@example.com')] })).status).toBe(502);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);

    emulator.fail({ kind: 'timeout', delayMs: 300, times: 1, route: 'contact' });
    started = Date.now();
    await upsertContact(emulator, { channels: [emailChannel('a@example.com')] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);

    emulator.fail({ kind: 'garbage', times: 1 });
    const garbage = await postContact(emulator, { channels: [emailChannel('b@example.com')] });
    expect(garbage.headers.get('content-type')).toMatch(/^text\/html/);
    expect(emulator.contacts()).toHaveLength(1);
  });
});

describe('contact API options', () => {
  it.each([
    ['a path without a leading slash', { contactPath: 'api/v1/contact' }, /contactPath/],
    ['a path with a query', { contactPath: '/api/v1/contact?x=1' }, /contactPath/],
    ["the token route's path", { contactPath: '/v1/auth/contact/token' }, /taken/],
    ['a path under the App Inbox API', { contactPath: '/appinbox/contact' }, /taken/],
    ['a negative repeat window', { contactRepeatWindowMs: -1 }, /contactRepeatWindowMs/],
    ['a fractional repeat window', { contactRepeatWindowMs: 0.5 }, /contactRepeatWindowMs/],
    ['a rate limit of 0 requests', { contactRateLimit: { requests: 0 } }, /contactRateLimit\.requests/],
    ['a rate limit window of 0', { contactRateLimit: { perMs: 0 } }, /contactRateLimit\.perMs/],
    ['a rate limit that is a number', { contactRateLimit: 200 }, /contactRateLimit/],
    ['an unknown rate limit property', { contactRateLimit: { request: 5 } }, /unknown property `request`/],
  ])('refuses %s with a coded error', async (_name, options, message) => {
    const attempt = createRetenoEmulator({ apiKey, scriptId, ...options } as RetenoEmulatorOptions);
    await expect(attempt).rejects.toThrow(message);
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_RETENO_EMULATOR_INVALID_OPTION' });
  });

  it('fills a partial rate limit from the defaults', async () => {
    const emulator = await startEmulator({ contactRateLimit: { requests: 1 } });
    await upsertContact(emulator, { channels: [emailChannel('a@example.com')] });
    const limited = await postContact(emulator, { channels: [emailChannel('b@example.com')] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
  });

  it('takes its options from the command line', () => {
    const flags = [
      '--contact-path',
      '/v1/contact',
      '--contact-repeat-window-ms',
      '0',
      '--contact-rate-limit',
      '5/2000',
    ];
    expect(parseCliArguments(flags, {})).toMatchObject({
      options: {
        contactPath: '/v1/contact',
        contactRepeatWindowMs: 0,
        contactRateLimit: { requests: 5, perMs: 2000 },
      },
    });
    expect(parseCliArguments([], {})).toEqual({
      kind: 'start',
      options: expect.not.objectContaining({ contactPath: expect.anything() }),
    });
    expect(() => parseCliArguments(['--contact-rate-limit', '200'], {})).toThrow(/--contact-rate-limit/);
    expect(() => parseCliArguments(['--contact-repeat-window-ms', '1m'], {})).toThrow(
      /--contact-repeat-window-ms/,
    );
  });
});
