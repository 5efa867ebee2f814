// A stand-in for Reteno's token endpoint on 127.0.0.1, in a process of its own: as fast as node:http allows, or,
// with --fault-rate, failing a seeded share of its answers in mixed ways.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { serveParent } from './fixtures.js';

const { values: args } = parseArgs({
  options: {
    'fault-rate': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    // Every answer this late, as a slow Reteno.
    'delay-ms': { type: 'string', default: '0' },
  },
});
const faultRate = Number(args['fault-rate']);
const delayMs = Number(args['delay-ms']);
// While set, every token answer is a 429 (with this Retry-After, or none for ''): a Reteno throttling the account.
let throttling;
// What the contact API answers: 200, 400 (Reteno refuses the contact) or 429 (with Retry-After: 60).
let contactStatus = 200;

// Seeded, so that a soak run can be repeated fault for fault.
let seed = Number(args.seed) >>> 0;
function random() {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
}

const answer = (status, headers, body) => (res) => {
  if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(body);
};
const json = { 'content-type': 'application/json' };
const token = answer(200, json, JSON.stringify({ token: `tok_${'f'.repeat(48)}` }));
// A 429 is not among them: it holds every request of the instance for its back-off (the abuse run's storm).
const faults = {
  500: answer(500, {}, 'upstream failure'),
  503: answer(503, {}, 'upstream failure'),
  reset: (res) => res.socket?.resetAndDestroy(),
  garbage: answer(200, { 'content-type': 'text/html' }, '<html><h1>502 Bad Gateway</h1></html>'),
  'malformed-json': answer(200, json, '{"token":'),
  hang: () => {}, // no answer: the client gives up at its deadline
  slow: (res) => setTimeout(() => token(res), 300),
};
const kinds = Object.keys(faults);

const counts = {
  requests: 0,
  contactRequests: 0,
  // Requests in the busiest second of the clock.
  maxPerSecond: 0,
  connections: 0,
  maxOpenConnections: 0,
  faults: Object.fromEntries(kinds.map((kind) => [kind, 0])),
};
const sockets = new Set();
let second = 0;
let inSecond = 0;
// Contacts whose e-mail starts with 'new' are unknown: a sign-up, whose token stays '' even after it is created.
const unknown = answer(200, json, JSON.stringify({ token: '' }));
const server = createServer((req, res) => {
  counts.requests += 1;
  const now = Math.floor(Date.now() / 1000);
  inSecond = now === second ? inSecond + 1 : 1;
  second = now;
  counts.maxPerSecond = Math.max(counts.maxPerSecond, inSecond);
  const body = [];
  req
    .on('data', (chunk) => body.push(chunk))
    .on('end', () => {
      if (req.url.startsWith('/api/v1/contact')) {
        counts.contactRequests += 1;
        if (contactStatus === 429) return answer(429, { 'retry-after': '60' }, 'Too Many Requests')(res);
        return answer(contactStatus, json, '{"id":1}')(res);
      }
      if (throttling !== undefined) {
        return answer(429, throttling ? { 'retry-after': throttling } : {}, 'Too Many Requests')(res);
      }
      if (/"email":"new/.test(Buffer.concat(body).toString())) {
        return delayMs > 0 ? setTimeout(() => unknown(res), delayMs) : unknown(res);
      }
      if (delayMs > 0) return setTimeout(() => token(res), delayMs);
      if (faultRate === 0 || random() >= faultRate) return token(res);
      const kind = kinds[Math.floor(random() * kinds.length)];
      counts.faults[kind] += 1;
      faults[kind](res);
    });
});
server.on('connection', (socket) => {
  counts.connections += 1;
  sockets.add(socket.on('close', () => sockets.delete(socket)));
  counts.maxOpenConnections = Math.max(counts.maxOpenConnections, sockets.size);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

serveParent({
  url: () => `http://127.0.0.1:${server.address().port}`,
  counts: () => counts,
  throttle: () => (throttling = ''),
  'throttle-120': () => (throttling = '120'),
  release: () => (throttling = undefined),
  'contact-400': () => (contactStatus = 400),
  'contact-429': () => (contactStatus = 429),
  close: () => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  },
});
