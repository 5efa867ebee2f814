// npm run soak: 20,000 token requests at concurrency 50 while the upstream fails 20% of its answers in mixed
// ways (5xx, 429, resets, garbage, malformed JSON, hangs, slow answers). Prints status counts, latencies and
// the site's memory, and fails unless every answer is one the token route documents.
import { cpus } from 'node:os';
import { startProcess } from './child-process.js';
import { tokenPath, tokenRequestHeaders } from './fixtures.js';
import { pad, percentile } from './stats.js';

const total = Number(process.env.SOAK_REQUESTS ?? 20_000);
const concurrency = Number(process.env.SOAK_CONCURRENCY ?? 50);
const faultRate = Number(process.env.SOAK_FAULT_RATE ?? 0.2);
const timeout = Number(process.env.SOAK_TIMEOUT ?? 5000);
const seed = process.env.SOAK_SEED ?? '1';
const rssBudget = 20 * 1024 * 1024;
const warmUp = Number(process.env.SOAK_WARM_UP ?? 2000);

// The token route's documented answers for a signed-in contact Reteno knows, by status.
const documented = {
  200: (body) => typeof body.token === 'string' && body.token !== '',
  502: (body, headers) => body.error === 'upstream_error' && !headers.has('retry-after'),
  503: (body, headers) => body.error === 'upstream_busy' && /^\d+$/.test(headers.get('retry-after') ?? ''),
  504: (body) => body.error === 'upstream_timeout',
};

const megabytes = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

console.log(
  `machine: ${cpus().length} CPUs (${cpus()[0]?.model}), node ${process.version}; ` +
    `${total} requests, concurrency ${concurrency}, upstream fault rate ${faultRate}, timeout ${timeout} ms, seed ${seed}\n`,
);

let siteExit;
const upstream = await startProcess('./upstream-server.js', [
  '--fault-rate',
  String(faultRate),
  '--seed',
  seed,
]);
const child = await startProcess(
  './site-server.js',
  ['--variants', 'token-route', '--upstream', upstream.url, '--timeout', String(timeout)],
  { execArgv: ['--expose-gc'], onExit: (code, signal) => (siteExit ??= code ?? signal) },
);
const url = `${child.urls['token-route']}${tokenPath}`;

const statuses = new Map();
const undocumented = [];
const latencies = [];
let transportErrors = 0;
let next = 0;
let goal = 0;

function resetFigures() {
  statuses.clear();
  undocumented.length = 0;
  latencies.length = 0;
  transportErrors = 0;
}

async function worker() {
  while (next < goal) {
    next += 1;
    const started = performance.now();
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: tokenRequestHeaders,
      });
      const text = await response.text();
      latencies.push(performance.now() - started);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const check = documented[response.status];
      if (!check || body === undefined || !check(body, response.headers)) {
        undocumented.push(`${response.status} ${text.slice(0, 80)}`);
      }
    } catch (error) {
      // The site closed the connection or could not be reached: a crash or a bug, never an answer.
      transportErrors += 1;
      undocumented.push(`transport: ${error.cause?.code ?? error.message}`);
    }
  }
}

/** Runs `amount` requests through `concurrency` workers; `samples` gets the site's RSS every 2 s. */
async function run(amount, samples) {
  next = 0;
  goal = amount;
  const sampler = setInterval(async () => samples?.push((await child.ask('memory')).rss), 2000);
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(sampler);
}

// A warm-up with the same mix first: the JIT, V8's young generation and the socket pools settle at their
// working size, so the growth measured after it is what 20,000 more requests leave behind.
const startup = await child.ask('memory');
await run(warmUp);
resetFigures();
const before = await child.ask('memory');
const upstreamBefore = await upstream.ask('counts');
const rssSamples = [];
const started = performance.now();
await run(total, rssSamples);
const seconds = (performance.now() - started) / 1000;
const after = await child.ask('memory');
const counts = await child.ask('counts', 'token-route').catch(() => undefined);
const upstreamAfter = await upstream.ask('counts');
const upstreamCounts = {
  requests: upstreamAfter.requests - upstreamBefore.requests,
  connections: upstreamAfter.connections - upstreamBefore.connections,
  faults: Object.fromEntries(
    Object.entries(upstreamAfter.faults).map(([kind, n]) => [kind, n - upstreamBefore.faults[kind]]),
  ),
};
const crashed = siteExit;
await child.stop();
await upstream.stop();

latencies.sort((a, b) => a - b);
const rssGrowth = after.rss - before.rss;
const checks = [
  ['site process still running', crashed === undefined, `exited: ${crashed}`],
  ['every answer documented', undocumented.length === 0, undocumented.slice(0, 5).join(' | ')],
  ['no 500 (site error handler)', counts?.siteErrors === 0, `${counts?.siteErrors} site errors`],
  ['no unhandled rejection', counts?.unhandledRejections === 0, `${counts?.unhandledRejections}`],
  ['RSS growth < 20 MB', rssGrowth < rssBudget, `${megabytes(before.rss)} -> ${megabytes(after.rss)}`],
];

console.log(`${total} requests in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)} req/s)`);
console.log(
  `statuses: ${[...statuses]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ')}; transport errors: ${transportErrors}`,
);
console.log(
  `latency: p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p90 ${percentile(latencies, 0.9).toFixed(1)} ms, ` +
    `p99 ${percentile(latencies, 0.99).toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms`,
);
console.log(
  `upstream: ${upstreamCounts.requests} requests (${(upstreamCounts.requests / total).toFixed(2)} per token request), ` +
    `${upstreamCounts.connections} connections; faults: ${Object.entries(upstreamCounts.faults)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ')}`,
);
console.log(
  `site memory: RSS ${megabytes(startup.rss)} at start-up, ${megabytes(before.rss)} after ${warmUp} warm-up requests, ${megabytes(after.rss)} after the run (growth ${megabytes(rssGrowth)}); ` +
    `heap used after GC ${megabytes(before.heapUsed)} -> ${megabytes(after.heapUsed)};\n` +
    `RSS every 2 s during the run: ${rssSamples.map((rss) => (rss / 1024 / 1024).toFixed(0)).join(' ')} MB\n`,
);
for (const [name, passed, detail] of checks) {
  console.log(`${pad(name, 32)} ${passed ? 'PASS' : 'FAIL'}  ${passed ? '' : detail}`);
}
if (checks.some(([, passed]) => !passed)) process.exitCode = 1;
