import { channel, tracingChannel } from 'node:diagnostics_channel';
import type { ErrorRequestHandler } from 'express';
import request from 'supertest';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import {
  type BackoffMessage,
  type BudgetMessage,
  type Contact,
  channelNames,
  type RetenoInboxOptions,
  type TokenCallContext,
} from '../src/index.js';
import { basicCredentials } from '../src/credentials.js';
import { traceTokenCall } from '../src/tracing.js';
import { apiKey, buildSite, recordLogs, scriptId, tokenPath, users } from './helpers/site.js';

/**
 * What a site's operator sees through node:diagnostics_channel: one traced call per POST to the token route, with
 * its outcome and timings, and the token guard's decisions. Never the API key, a token or a contact value.
 */

const events = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
const fields = ['outcome', 'status', 'attempts', 'upstreamStatus', 'waitedMs', 'durationMs', 'error'];

let emulator: RetenoEmulator;
beforeAll(async () => {
  emulator = await createRetenoEmulator({
    apiKey,
    scriptId,
    contacts: [users.anna, users.bob, users.carol, users.dave].map((contact) => ({ ...contact })),
  });
});
afterAll(() => emulator.close());

/** Everything published while a test runs: each event with a copy of the context as it was then. */
interface Recording {
  published: { event: (typeof events)[number]; context: TokenCallContext; snapshot: TokenCallContext }[];
  budget: BudgetMessage[];
  backoff: BackoffMessage[];
  tokens: string[];
}
let recording: Recording;
const record = (event: (typeof events)[number]) => (message: unknown) => {
  const context = message as TokenCallContext;
  recording.published.push({ event, context, snapshot: { ...context } });
};
const handlers = {
  start: record('start'),
  end: record('end'),
  asyncStart: record('asyncStart'),
  asyncEnd: record('asyncEnd'),
  error: record('error'),
};
const onBudget = (message: unknown) => recording.budget.push(message as BudgetMessage);
const onBackoff = (message: unknown) => recording.backoff.push(message as BackoffMessage);

beforeEach(() => {
  emulator.clearFaults();
  recording = { published: [], budget: [], backoff: [], tokens: [] };
  tracingChannel(channelNames.token).subscribe(handlers);
  channel(channelNames.budget).subscribe(onBudget);
  channel(channelNames.backoff).subscribe(onBackoff);
});
afterEach(() => {
  tracingChannel(channelNames.token).unsubscribe(handlers);
  channel(channelNames.budget).unsubscribe(onBudget);
  channel(channelNames.backoff).unsubscribe(onBackoff);
  // No secret and no contact value in anything published, whatever the outcome.
  const published = JSON.stringify([
    recording.published.map(({ snapshot }) => snapshot),
    recording.budget,
    recording.backoff,
  ]);
  const contactValues = Object.values(users).flatMap((contact) => Object.values(contact) as string[]);
  const secrets = [apiKey, basicCredentials(apiKey), ...recording.tokens, ...contactValues];
  for (const secret of secrets) expect(published).not.toContain(secret);
  for (const { context } of recording.published) {
    expect(fields).toEqual(expect.arrayContaining(Object.keys(context)));
  }
});

function site(options: Partial<RetenoInboxOptions> = {}, resolveContact?: () => Contact | undefined) {
  const { app } = buildSite(
    { baseUrl: emulator.url, logger: recordLogs(), ...options },
    { resolveContact: resolveContact ?? ((req) => users[req.get('x-test-contact') ?? 'dave']) },
  );
  const answerErrors: ErrorRequestHandler = (_error, _req, res, _next) => {
    res.status(500).json({ error: 'site_error' });
  };
  app.use(answerErrors);
  return app;
}

/** One token call and the context it published, which must be one start, end, (error,) asyncStart, asyncEnd. */
async function traced(
  app: ReturnType<typeof site>,
  contact = 'dave',
  headers: Record<string, string> = { 'X-Reteno-Inbox': '1' },
) {
  const before = recording.published.length;
  const response = await request(app).post(tokenPath).set(headers).set('X-Test-Contact', contact);
  if (typeof response.body.token === 'string') recording.tokens.push(response.body.token);
  const mine = recording.published.slice(before);
  const context = mine[0]?.context;
  expect(mine.every((entry) => entry.context === context)).toBe(true);
  return { response, context, events: mine.map(({ event }) => event) };
}

describe('token channel', () => {
  it('traces a token: start and end, then asyncStart and asyncEnd with every field set', async () => {
    const { response, context, events: order } = await traced(site());
    expect(response.status).toBe(200);
    expect(order).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(recording.published[0]?.snapshot).toEqual({ attempts: 0, waitedMs: 0 });
    expect(context).toEqual({
      outcome: 'token',
      status: 200,
      attempts: 1,
      upstreamStatus: 200,
      waitedMs: expect.any(Number),
      durationMs: expect.any(Number),
    });
    // Nothing waited in line: only the guard's own steps, which a busy machine may stretch.
    expect(context?.waitedMs).toBeLessThan(context?.durationMs ?? 0);
    expect(context?.durationMs).toBeGreaterThan(0);
  });

  it('traces a new sign-up created with createContact as one call: token, 200, every attempt counted', async () => {
    const creations: unknown[] = [];
    const onCreation = (message: unknown) => creations.push(message);
    channel(channelNames.contactCreation).subscribe(onCreation);
    try {
      const newcomer = { email: `newcomer-${Date.now()}@example.com` };
      const app = site({ createContact: true, contactUrl: `${emulator.url}/api/v1/contact` }, () => newcomer);
      const { response, context } = await traced(app);
      expect(response.status).toBe(200);
      // The token call (not found), the creation, the token call again.
      expect(context).toMatchObject({ outcome: 'token', status: 200, attempts: 3, upstreamStatus: 200 });
      expect(creations).toEqual([{ outcome: 'upserted', attempts: 1 }]);
      expect(JSON.stringify(creations)).not.toContain(newcomer.email);
    } finally {
      channel(channelNames.contactCreation).unsubscribe(onCreation);
    }
  });

  it('traces a contact Reteno does not know as not-found, 404', async () => {
    const { context } = await traced(site(), 'stranger');
    expect(context).toMatchObject({ outcome: 'not-found', status: 404, attempts: 1, upstreamStatus: 200 });
  });

  it('traces a 429 from Reteno as busy, 503, and publishes the back-off window on the backoff channel', async () => {
    emulator.fail({ kind: 'status', status: 429, retryAfter: 1, route: 'token', times: 1 });
    const { context } = await traced(site({ timeout: 500 }));
    expect(context).toMatchObject({ outcome: 'busy', status: 503, attempts: 1, upstreamStatus: 429 });
    expect(recording.backoff).toEqual([{ endpoint: 'token', seconds: 1, reason: 'retry-after' }]);
  });

  it('counts the back-off in waitedMs, and every attempt, when the call gets its token after it', async () => {
    emulator.fail({ kind: 'status', status: 429, retryAfter: 1, route: 'token', times: 1 });
    const { context } = await traced(site({ timeout: 3000 }));
    expect(context).toMatchObject({ outcome: 'token', status: 200, attempts: 2, upstreamStatus: 200 });
    expect(context?.waitedMs).toBeGreaterThanOrEqual(900);
    expect(context?.durationMs).toBeGreaterThanOrEqual(context?.waitedMs ?? 0);
  });

  it("counts the time in the guard's queue in waitedMs", async () => {
    emulator.fail({ kind: 'timeout', delayMs: 300, route: 'token', times: 1 });
    const app = site({ maxInFlight: 1 });
    const ask = (contact: string) =>
      request(app).post(tokenPath).set({ 'X-Reteno-Inbox': '1', 'X-Test-Contact': contact });
    const responses = await Promise.all([ask('dave'), ask('anna')]);
    recording.tokens.push(...responses.map((response) => response.body.token));
    const calls = recording.published
      .filter(({ event }) => event === 'asyncEnd')
      .map(({ context }) => context);
    expect(calls.map((call) => call.outcome)).toEqual(['token', 'token']);
    expect(Math.max(...calls.map((call) => call.waitedMs))).toBeGreaterThanOrEqual(250);
    expect(Math.min(...calls.map((call) => call.waitedMs))).toBeLessThan(250);
  });

  it('publishes a back-off of its own choosing as exponential', async () => {
    emulator.fail({ kind: 'status', status: 429, route: 'token', times: 1 });
    await traced(site({ timeout: 300 }));
    expect(recording.backoff).toEqual([{ endpoint: 'token', seconds: 1, reason: 'exponential' }]);
  });

  it('traces a Reteno that does not answer as timeout, 504', async () => {
    emulator.fail({ kind: 'timeout', route: 'token' });
    const { context } = await traced(site({ timeout: 300 }));
    expect(context).toMatchObject({ outcome: 'timeout', status: 504, attempts: 1 });
    expect(context?.upstreamStatus).toBeUndefined();
    expect(context?.durationMs).toBeGreaterThanOrEqual(290);
  });

  it("traces a failing Reteno as failed, 502, with every attempt and Reteno's status", async () => {
    emulator.fail({ kind: 'status', status: 500, route: 'token' });
    const { context } = await traced(site({ retries: 2 }));
    expect(context).toMatchObject({ outcome: 'failed', status: 502, attempts: 3, upstreamStatus: 500 });
  });

  it('traces an API key Reteno refuses as refused, 502', async () => {
    emulator.fail({ kind: 'status', status: 401, route: 'token' });
    const { context } = await traced(site());
    expect(context).toMatchObject({ outcome: 'refused', status: 502, attempts: 1, upstreamStatus: 401 });
  });

  it('traces a contact over its budget as over-budget, 429, and publishes it on the budget channel', async () => {
    const app = site({ tokenBudget: { limit: 1, windowMs: 60_000 } });
    await traced(app);
    const { context } = await traced(app);
    expect(context).toMatchObject({ outcome: 'over-budget', status: 429, attempts: 0 });
    expect(context?.upstreamStatus).toBeUndefined();
    expect(recording.budget).toEqual([{ retryAfterSeconds: 60 }]);
  });

  it("traces a call made while the contact's previous one waits as concurrent, 429, without calling Reteno", async () => {
    emulator.fail({ kind: 'timeout', delayMs: 300, route: 'token', times: 1 });
    const app = site();
    const ask = () => request(app).post(tokenPath).set({ 'X-Reteno-Inbox': '1', 'X-Test-Contact': 'dave' });
    const first = ask().then((response) => response);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const { context } = await traced(app);
    recording.tokens.push((await first).body.token);
    expect(context).toMatchObject({ outcome: 'concurrent', status: 429, attempts: 0, waitedMs: 0 });
  });

  it.each([
    ['forbidden', 403, {}, 'dave'],
    ['unauthenticated', 401, { 'X-Reteno-Inbox': '1' }, 'nobody'],
  ] as const)('traces %s, %i, without calling Reteno', async (outcome, status, headers, contact) => {
    const { context, events: order } = await traced(site(), contact, headers);
    expect(order).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(context).toMatchObject({ outcome, status, attempts: 0, waitedMs: 0 });
  });

  it('traces an invalid contact as invalid-contact, 422, without its value', async () => {
    const { context } = await traced(site({}, () => ({ email: 'anna@example.com', phone: 'not a phone' })));
    expect(context).toMatchObject({ outcome: 'invalid-contact', status: 422, attempts: 0 });
  });

  it('publishes error with what resolveContact threw, then asyncStart and asyncEnd, and no status', async () => {
    const thrown = new Error('session store down');
    const {
      response,
      context,
      events: order,
    } = await traced(
      site({}, () => {
        throw thrown;
      }),
    );
    expect(response.status).toBe(500);
    expect(order).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect(context).toMatchObject({ outcome: 'error', error: thrown });
    expect(context?.status).toBeUndefined();
  });

  it('does not trace a method other than POST (405)', async () => {
    const response = await request(site()).get(tokenPath).set('X-Reteno-Inbox', '1');
    expect(response.status).toBe(405);
    expect(recording.published).toEqual([]);
  });

  it('builds nothing while nobody subscribes', () => {
    tracingChannel(channelNames.token).unsubscribe(handlers);
    expect(traceTokenCall({ statusCode: 200 } as Parameters<typeof traceTokenCall>[0])).toBeUndefined();
  });
});
