import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Express } from 'express';
import request from 'supertest';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import type { Contact, RetenoInboxOptions } from '../src/index.js';
import { apiKey, buildSite, type LogRecorder, recordLogs, scriptId, tokenPath } from './helpers/site.js';

/**
 * `createContact`: a new sign-up, whom Reteno does not know yet, gets an inbox at once. The route creates the
 * contact through Reteno's contact API and asks for its token again, within `timeout` and the token guard.
 */

let emulator: RetenoEmulator;
beforeAll(async () => {
  emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [{ email: 'known@example.com' }] });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.clearFaults();
  emulator.clearRequests();
});

let serial = 0;
/** A contact nobody has seen: a new sign-up. */
function newSignUp(fields: Contact = {}): Contact {
  serial += 1;
  return { email: `new-${serial}-${Date.now()}@example.com`, ...fields };
}

const calls = (path: string) => emulator.requests.filter((entry) => entry.path === path);
const contactCalls = () => calls('/api/v1/contact');
const tokenCalls = () => calls('/v1/auth/contact/token');

function site(
  contact: Contact | (() => Contact),
  options: Partial<RetenoInboxOptions> = {},
): { app: Express; logs: LogRecorder } {
  const logs = recordLogs();
  const { app } = buildSite(
    {
      baseUrl: emulator.url,
      contactUrl: `${emulator.url}/api/v1/contact`,
      createContact: true,
      logger: logs,
      ...options,
    },
    { resolveContact: () => (typeof contact === 'function' ? contact() : contact) },
  );
  return { app, logs };
}

const askToken = (app: Express) => request(app).post(tokenPath).set('X-Reteno-Inbox', '1');

describe('createContact', () => {
  it('creates a contact Reteno does not know, with its e-mail and phone as channels, and answers its token', async () => {
    const contact = newSignUp({ phone: '+380501112233', externalCustomerId: 'user-77' });
    const { app, logs } = site(contact);
    const response = await askToken(app);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ token: expect.any(String) });
    expect(contactCalls()).toHaveLength(1);
    expect(contactCalls()[0]?.body).toEqual({
      channels: [
        { type: 'email', value: contact.email },
        { type: 'sms', value: contact.phone },
      ],
      externalCustomerId: 'user-77',
    });
    expect(contactCalls()[0]?.authorization).toBe('valid');
    expect(emulator.contacts().find((known) => known.email === contact.email)?.createdBy).toBe('contact-api');
    // The second request finds the contact at once.
    expect((await askToken(app)).status).toBe(200);
    expect(contactCalls()).toHaveLength(1);
    expect(logs.warnings).toEqual([]);
  });

  it("sends the details the createContact function gives, and never the browser's", async () => {
    const contact = newSignUp();
    const seen: Contact[] = [];
    const { app } = site(contact, {
      createContact: (_req, given) => {
        seen.push(given);
        return { firstName: 'Olena', lastName: 'Shevchenko', languageCode: 'uk', timeZone: 'Europe/Kyiv' };
      },
    });
    const response = await askToken(app).send({ email: 'intruder@example.com', firstName: 'Mallory' });
    expect(response.status).toBe(200);
    expect(seen).toEqual([{ email: contact.email }]);
    expect(contactCalls()[0]?.body).toEqual({
      channels: [{ type: 'email', value: contact.email }],
      firstName: 'Olena',
      lastName: 'Shevchenko',
      languageCode: 'uk',
      timeZone: 'Europe/Kyiv',
    });
  });

  it('leaves unknown contacts at 404 without createContact', async () => {
    const { app } = site(newSignUp(), { createContact: false });
    expect((await askToken(app)).status).toBe(404);
    expect(contactCalls()).toHaveLength(0);
  });

  it('waits for a contact Reteno is creating already (409) and answers its token when it comes', async () => {
    const contact = newSignUp();
    const { app } = site(contact, { timeout: 2000 });
    emulator.fail({ kind: 'status', status: 409, route: 'contact', times: 1 });
    // Another instance's creation lands a moment later.
    const elsewhere = sleep(400).then(() => emulator.addContact(contact));
    const response = await askToken(app);
    await elsewhere;
    expect(response.status).toBe(200);
    expect(contactCalls()).toHaveLength(1);
    expect(tokenCalls().length).toBeGreaterThanOrEqual(2);
  });

  it('creates a contact at most once a minute', async () => {
    const contact = newSignUp();
    const { app, logs } = site(contact, { retries: 0, timeout: 700 });
    emulator.fail({ kind: 'status', status: 500, route: 'contact', times: 1 });
    const failed = await askToken(app);
    expect(failed.status).toBe(502);
    expect(failed.body).toEqual({ error: 'upstream_error' });
    expect(logs.warnings).toEqual([
      expect.stringMatching(/ERR_RETENO_INBOX_UPSTREAM_FAILED: .*creating the contact: HTTP 500/),
    ]);
    // The next request does not create again within the minute: it only asks for the token, until its deadline.
    const started = performance.now();
    const again = await askToken(app);
    expect(again.status).toBe(404);
    expect(performance.now() - started).toBeLessThan(700 + 100);
    expect(contactCalls()).toHaveLength(1);
  });

  it('keeps a 429 from the contact API to contact creation: token calls go on', async () => {
    const { app } = site(newSignUp(), { timeout: 600 });
    emulator.fail({ kind: 'status', status: 429, retryAfter: 60, route: 'contact', times: 1 });
    const response = await askToken(app);
    expect(response.status).toBe(503);
    // Retry-After is honoured up to 30 s.
    expect(response.headers['retry-after']).toBe('30');
    // The same guard: a contact Reteno knows still gets its token.
    const known = site({ email: 'known@example.com' }, { timeout: 600 });
    expect((await askToken(known.app)).status).toBe(200);
    emulator.clearRequests();
    expect((await askToken(app)).status).toBe(503);
    // The sign-up's own token call went out; its creation waits for the contact API's back-off.
    expect(tokenCalls()).toHaveLength(1);
    expect(contactCalls()).toHaveLength(0);
  });

  describe('against a contact API that accepts contacts Reteno does not know yet', () => {
    let contactApi: Server;
    let contactStatus = 200;
    let contactUrl: string;
    beforeAll(async () => {
      contactApi = createServer((req, res) => {
        req.resume().on('end', () => {
          res.writeHead(contactStatus, { 'content-type': 'application/json' }).end('{"id":1}');
        });
      });
      await new Promise<void>((resolve) => contactApi.listen(0, '127.0.0.1', resolve));
      contactUrl = `http://127.0.0.1:${(contactApi.address() as AddressInfo).port}/api/v1/contact`;
    });
    afterAll(() => new Promise<void>((resolve) => contactApi.close(() => resolve())));

    it('asks again for the token at most 3 times per call, each counted against the budget', async () => {
      contactStatus = 200;
      const { app } = site(newSignUp(), {
        contactUrl,
        timeout: 4000,
        tokenBudget: { limit: 6, windowMs: 60_000 },
      });
      const first = await askToken(app);
      expect(first.status).toBe(404);
      // The call itself, then 3 more after the contact was created.
      expect(tokenCalls()).toHaveLength(4);
      // 4 of the budget of 6 are spent: the next call asks once and then twice more, and is refused the third time.
      emulator.clearRequests();
      const second = await askToken(app);
      expect(second.status).toBe(429);
      expect(second.body).toEqual({ error: 'too_many_requests' });
      expect(tokenCalls()).toHaveLength(2);
    });

    it('ends creation for the contact for the window after a 400 from the contact API', async () => {
      contactStatus = 400;
      const contact = newSignUp();
      const { app, logs } = site(contact, { contactUrl, timeout: 4000 });
      const refused = await askToken(app);
      expect(refused.status).toBe(502);
      expect(logs.warnings).toEqual([expect.stringContaining('creating the contact: HTTP 400')]);
      expect(tokenCalls()).toHaveLength(1);
      emulator.clearRequests();
      const started = performance.now();
      const again = await askToken(app);
      expect(again.status).toBe(404);
      // One token call, no creation, no asking again.
      expect(tokenCalls()).toHaveLength(1);
      expect(performance.now() - started).toBeLessThan(1000);
    });
  });

  it('answers 504 when creating the contact takes longer than the timeout', async () => {
    const { app } = site(newSignUp(), { timeout: 500 });
    emulator.fail({ kind: 'timeout', route: 'contact', times: 1 });
    const started = performance.now();
    const response = await askToken(app);
    expect(response.status).toBe(504);
    expect(performance.now() - started).toBeLessThan(500 + 100);
  });

  it('cannot create a contact that has neither e-mail nor phone: 404, logged once', async () => {
    const { app, logs } = site(() => ({ externalCustomerId: `only-id-${Date.now()}` }));
    expect((await askToken(app)).status).toBe(404);
    expect((await askToken(app)).status).toBe(404);
    expect(contactCalls()).toHaveLength(0);
    expect(logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_CONTACT_CREATION_FAILED')]);
  });

  it('logs a throwing createContact function once and creates the contact without details', async () => {
    const { app, logs } = site(newSignUp, {
      createContact: () => {
        throw new Error('profile store down');
      },
    });
    expect((await askToken(app)).status).toBe(200);
    expect((await askToken(app)).status).toBe(200);
    expect(contactCalls()).toHaveLength(2);
    expect(Object.keys(contactCalls()[0]?.body as object)).toEqual(['channels']);
    expect(logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_CALLBACK_FAILED')]);
  });
});
