// A site in a process of its own with two token routes on one upstream: the package's, and the bare route a site
// would write by hand with got (no origin or contact check, no retries, no deadline).
import { Agent, createServer } from 'node:http';
import { parseArgs } from 'node:util';
import express from 'express';
import got from 'got';
import { apiKey, loadPackage, scriptId, serveParent, signIn } from './fixtures.js';

const { values: args } = parseArgs({
  options: {
    upstream: { type: 'string' },
    timeout: { type: 'string', default: '5000' },
    // The token guard's options, as JSON (left out for a package without them).
    guard: { type: 'string', default: '{}' },
    redis: { type: 'string' },
  },
});
const { retenoInbox } = await loadPackage();
const guard = JSON.parse(args.guard);
if (args.redis) {
  const { createClient } = await import('redis');
  guard.redis = await createClient({ url: args.redis }).connect();
}
// maxHeldMs: the longest the site held a token request, from its arrival to the end of its answer.
const counts = { siteErrors: 0, unhandledRejections: 0, maxHeldMs: 0 };
process.on('unhandledRejection', () => {
  counts.unhandledRejections += 1;
});

const app = express().set('etag', false);
app.use(signIn);
app.use((_req, res, next) => {
  const started = performance.now();
  res.on('finish', () => {
    counts.maxHeldMs = Math.max(counts.maxHeldMs, performance.now() - started);
  });
  next();
});
const resolveContact = (req) => req.user;
const timeout = Number(args.timeout);
app.use(retenoInbox({ apiKey, scriptId, baseUrl: args.upstream, resolveContact, timeout, ...guard }));
const bare = got.extend({
  prefixUrl: args.upstream,
  agent: { http: new Agent({ keepAlive: true }) },
  headers: { authorization: `Basic ${Buffer.from(`:${apiKey}`).toString('base64')}` },
});
app.post('/bare/token', async (req, res, next) => {
  try {
    const { token } = await bare.post('v1/auth/contact/token', { json: req.user }).json();
    res.json({ token });
  } catch (error) {
    next(error);
  }
});
app.use((_error, _req, res, _next) => {
  counts.siteErrors += 1;
  res.status(500).json({ error: 'site_error' });
});
const server = createServer(app);
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

serveParent({
  url: () => `http://127.0.0.1:${server.address().port}`,
  counts: () => counts,
  // After a full GC when the process runs with --expose-gc.
  memory: () => {
    globalThis.gc?.();
    return process.memoryUsage();
  },
  close: () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  },
});
