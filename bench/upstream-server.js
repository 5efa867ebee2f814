// A stand-in for Reteno's token endpoint on 127.0.0.1, in its own process: as fast as node:http allows, or,
// with --fault-rate, failing that share of requests in mixed ways.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { answerParent } from './child-process.js';
import { contacts } from './fixtures.js';

const { values: args } = parseArgs({
  options: {
    'fault-rate': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
  },
});
const faultRate = Number(args['fault-rate']);

// A contact this upstream does not know: it answers `{"token": ""}` like Reteno.
const unknownEmail = contacts.unknown.email;

const faultKinds = ['500', '503', '429', '429-long', 'reset', 'garbage', 'malformed-json', 'hang', 'slow'];
const hangReleaseMs = 10_000;
const slowMs = 300;

// A small seeded generator, so a soak run can be repeated fault for fault.
let state = Number(args.seed) >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const counts = {
  connections: 0,
  requests: 0,
  faults: Object.fromEntries(faultKinds.map((kind) => [kind, 0])),
};
const sockets = new Set();
const timers = new Set();
const token = `tok_${'0123456789abcdef'.repeat(3)}`;
const tokenBody = JSON.stringify({ token });
const unknownBody = JSON.stringify({ token: '' });

function later(ms, callback) {
  const timer = setTimeout(() => {
    timers.delete(timer);
    callback();
  }, ms);
  timers.add(timer);
}

function answer(res, body) {
  const contact = safeParse(body);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(contact?.email === unknownEmail ? unknownBody : tokenBody);
}

function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function fail(kind, req, res, body) {
  counts.faults[kind] += 1;
  switch (kind) {
    case '500':
    case '503':
      res.writeHead(Number(kind), { 'content-type': 'text/plain' });
      res.end('upstream failure\n');
      return;
    case '429':
      res.writeHead(429, { 'content-type': 'text/plain' });
      res.end('Too Many Requests\n');
      return;
    case '429-long':
      res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '30' });
      res.end('Too Many Requests\n');
      return;
    case 'reset':
      req.socket.resetAndDestroy();
      return;
    case 'garbage':
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body><h1>502 Bad Gateway</h1></body></html>\n');
      return;
    case 'malformed-json':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"token":');
      return;
    case 'hang':
      // No answer; the client gives up at its deadline. Released later so nothing stays open forever.
      later(hangReleaseMs, () => res.destroy());
      return;
    case 'slow':
      later(slowMs, () => {
        if (!res.destroyed) answer(res, body);
      });
      return;
  }
}

const server = createServer((req, res) => {
  counts.requests += 1;
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (faultRate > 0 && random() < faultRate) {
      fail(faultKinds[Math.floor(random() * faultKinds.length)], req, res, body);
      return;
    }
    answer(res, body);
  });
});
server.on('connection', (socket) => {
  counts.connections += 1;
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

answerParent({
  ready: () => ({ url: `http://127.0.0.1:${server.address().port}` }),
  counts: () => structuredClone({ ...counts, openSockets: sockets.size }),
  close: () =>
    new Promise((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
});
