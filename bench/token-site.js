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
    'api-key': { type: 'string', default: apiKey },
    // Creates contacts the upstream does not know through its contact API.
    'create-contact': { type: 'boolean', default: false },
    // Times the requests of visitors whose sid starts with this, as the site sees them (the load generator's own
    // event loop, busy with a crowd, adds its delay to what it measures).
    watch: { type: 'string' },
  },
});
const { retenoInbox } = await loadPackage();
const guard = JSON.parse(args.guard);
if (args.redis) {
  const { createClient } = await import('redis');
  guard.redis = await createClient({ url: args.redis }).connect();
}
// maxHeldMs: the longest the site held a token request, from its arrival to the end of its answer.
const counts = { siteErrors: 0, unhandledRejections: 0, maxHeldMs: 0, warnings: 0, watchedMs: [] };
const watched = args.watch && new RegExp(`\\bsid=${args.watch}`);
process.on('unhandledRejection', () => {
  counts.unhandledRejections += 1;
});

const app = express().set('etag', false);
app.use(signIn);
app.use((req, res, next) => {
  const started = performance.now();
  res.on('finish', () => {
    const heldMs = performance.now() - started;
    counts.maxHeldMs = Math.max(counts.maxHeldMs, heldMs);
    if (watched?.test(req.headers.cookie ?? '')) counts.watchedMs.push(heldMs);
  });
  next();
});
// A visitor signed in as `bad…` has a malformed contact, as a site's bug would give.
const resolveContact = (req) => (req.user?.email.startsWith('bad') ? { email: 'not an e-mail' } : req.user);
const timeout = Number(args.timeout);
const logger = {
  warn: () => {
    counts.warnings += 1;
  },
  error: () => {},
};
const creation = args['create-contact']
  ? { createContact: true, contactUrl: `${args.upstream}/api/v1/contact` }
  : {};
app.use(
  retenoInbox({
    apiKey: args['api-key'],
    scriptId,
    baseUrl: args.upstream,
    resolveContact,
    timeout,
    logger,
    ...creation,
    ...guard,
  }),
);
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
