import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
// The recipes are plain JavaScript that imports the built package, as a site would.
import { traceTokenCalls } from '../examples/opentelemetry.js';
import { collectTokenMetrics } from '../examples/prometheus.js';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import type { RetenoInboxOptions } from '../src/index.js';
import { apiKey, buildSite, recordLogs, scriptId, tokenPath, users } from './helpers/site.js';

/** The recipes of docs/OPERATING.md, against a real site and the emulator. */

let emulator: RetenoEmulator;
beforeAll(async () => {
  emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [{ ...users.anna }] });
});
afterAll(() => emulator.close());
beforeEach(() => emulator.clearFaults());

function site(options: Partial<RetenoInboxOptions> = {}, before: RequestHandler[] = []) {
  const { app } = buildSite(
    { baseUrl: emulator.url, logger: recordLogs(), ...options },
    {
      before,
      resolveContact: (req) => {
        if (req.get('x-test-throw')) throw new Error('session store down');
        return users.anna;
      },
    },
  );
  const answerErrors: ErrorRequestHandler = (_error, _req, res, _next) => {
    res.status(500).json({ error: 'site_error' });
  };
  return app.use(answerErrors);
}

const askToken = (app: ReturnType<typeof site>, headers: Record<string, string> = {}) =>
  request(app).post(tokenPath).set('X-Reteno-Inbox', '1').set(headers);

describe('examples/opentelemetry.js', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('recipes');
  let stop: () => void;
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    stop = traceTokenCalls(tracer);
  });
  afterAll(() => {
    stop();
    context.disable();
  });

  /** What an HTTP instrumentation does: a server span, active while the site handles the request. */
  const serverSpan: RequestHandler = (req, res, next) => {
    const span = tracer.startSpan(`${req.method} ${req.path}`);
    res.on('finish', () => span.end());
    context.with(trace.setSpan(context.active(), span), next);
  };

  it('ends one span per token call, a child of the server span, with the call as attributes', async () => {
    exporter.reset();
    const app = site({}, [serverSpan]);
    expect((await askToken(app)).status).toBe(200);
    emulator.fail({ kind: 'status', status: 500, route: 'token' });
    expect((await askToken(app)).status).toBe(502);
    expect((await askToken(app, { 'X-Test-Throw': '1' })).status).toBe(500);

    const spans = exporter.getFinishedSpans();
    const calls = spans.filter((span) => span.name === 'reteno-inbox token');
    expect(calls.map((span) => span.attributes['reteno_inbox.outcome'])).toEqual([
      'token',
      'failed',
      'error',
    ]);
    const [token, failed, error] = calls;
    expect(token?.attributes).toEqual({
      'reteno_inbox.outcome': 'token',
      'reteno_inbox.attempts': 1,
      'reteno_inbox.waited_ms': expect.any(Number),
      'http.response.status_code': 200,
      'reteno_inbox.upstream_status': 200,
    });
    expect(token?.status.code).toBe(SpanStatusCode.UNSET);
    expect(failed?.attributes).toMatchObject({
      'http.response.status_code': 502,
      'reteno_inbox.attempts': 3,
    });
    expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'failed' });
    expect(error?.status.code).toBe(SpanStatusCode.ERROR);
    expect(error?.events.map((event) => event.attributes?.['exception.message'])).toEqual([
      'session store down',
    ]);
    for (const call of calls) {
      const parent = spans.find((span) => span.spanContext().spanId === call.parentSpanContext?.spanId);
      expect(parent?.name).toBe(`POST ${tokenPath}`);
    }
    expect(JSON.stringify(calls.map((span) => span.attributes))).not.toMatch(/anna|test-api-key/);
  });
});

describe('examples/prometheus.js', () => {
  it('counts token calls by outcome, the budget refusals and the back-off windows', async () => {
    const register = new Registry();
    const stop = collectTokenMetrics(register);
    try {
      const app = site({ tokenBudget: { limit: 3, windowMs: 60_000 }, timeout: 500 });
      for (let call = 0; call < 2; call++) expect((await askToken(app)).status).toBe(200);
      emulator.fail({ kind: 'status', status: 429, retryAfter: 2, route: 'token', times: 1 });
      expect((await askToken(app)).status).toBe(503);
      expect((await askToken(app)).status).toBe(429);

      const scraped = await register.metrics();
      expect(scraped).toContain('reteno_inbox_token_call_duration_seconds_count{outcome="token"} 2');
      expect(scraped).toContain('reteno_inbox_token_call_duration_seconds_count{outcome="busy"} 1');
      expect(scraped).toContain('reteno_inbox_token_call_duration_seconds_count{outcome="over-budget"} 1');
      expect(scraped).toContain('reteno_inbox_token_call_duration_seconds_bucket{le="5",outcome="token"} 2');
      expect(scraped).toMatch(/^reteno_inbox_over_budget_total 1$/m);
      expect(scraped).toContain('reteno_inbox_backoff_windows_total{reason="retry-after"} 1');
      expect(scraped).toMatch(/^reteno_inbox_backoff_seconds_total 2$/m);
    } finally {
      stop();
    }
    expect((await register.metrics()).trim()).toBe('');
  });
});
