// npm run soak: token requests at concurrency 50 while the upstream fails 20% of its answers in mixed ways (5xx,
// resets, garbage, malformed JSON, hangs, slow answers). Fails unless every answer is one the token route
// documents, the site never answered 500, and its memory did not grow.
import { cpus } from 'node:os';
import { startChild, tokenPath } from './fixtures.js';

const env = (name, fallback) => process.env[`SOAK_${name}`] ?? String(fallback);
const total = Number(env('REQUESTS', 20_000));
const warmUp = Number(env('WARM_UP', 2000));
const concurrency = Number(env('CONCURRENCY', 50));
const [faultRate, timeout, seed] = [env('FAULT_RATE', 0.2), env('TIMEOUT', 5000), env('SEED', 1)];
const megabytes = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

// The token route's documented answers for a signed-in contact the upstream knows.
const documented = {
  200: (body) => typeof body?.token === 'string' && body.token !== '',
  502: (body, headers) => body?.error === 'upstream_error' && !headers.has('retry-after'),
  503: (body, headers) => body?.error === 'upstream_busy' && /^\d+$/.test(headers.get('retry-after') ?? ''),
  // A visitor's next call while its previous one still waits (a hang holds it for the whole timeout).
  429: (body, headers) => body?.error === 'too_many_requests' && headers.get('retry-after') === '1',
  504: (body) => body?.error === 'upstream_timeout',
};

console.log(
  `${cpus().length} CPUs (${cpus()[0]?.model}), Node.js ${process.version}; ${total} requests after ${warmUp} ` +
    `warm-up, concurrency ${concurrency}, upstream fault rate ${faultRate}, timeout ${timeout} ms, seed ${seed}\n`,
);
const upstream = await startChild('./upstream.js', ['--fault-rate', faultRate, '--seed', seed]);
// The site-wide cap (maxPerSecond, 50 by default) would hold this run to 50 requests a second: the abuse run
// measures the cap, this one the faults.
const siteArgs = [
  '--upstream',
  upstream.url,
  '--timeout',
  timeout,
  '--guard',
  process.env.SOAK_GUARD ?? '{"maxPerSecond":10000}',
];
const site = await startChild('./token-site.js', siteArgs, ['--expose-gc']);

/** `amount` token requests through `concurrency` workers: statuses, undocumented answers, latencies in ms. */
async function run(amount) {
  const figures = { statuses: {}, undocumented: [], latencies: [] };
  const url = `${site.url}${tokenPath}`;
  let sent = 0;
  const worker = async () => {
    while (sent < amount) {
      sent += 1;
      const started = performance.now();
      // 1,000 signed-in visitors, each well within the token budget.
      const headers = { cookie: `sid=soak${sent % 1000}`, 'x-reteno-inbox': '1' };
      try {
        const response = await fetch(url, { method: 'POST', headers });
        const text = await response.text();
        figures.latencies.push(performance.now() - started);
        figures.statuses[response.status] = (figures.statuses[response.status] ?? 0) + 1;
        if (!documented[response.status]?.(JSON.parse(text), response.headers)) {
          figures.undocumented.push(`${response.status} ${text.slice(0, 80)}`);
        }
      } catch (error) {
        // The site closed the connection (a crash or a bug) or answered something that is not JSON.
        figures.undocumented.push(`error: ${error.cause?.code ?? error.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return figures;
}

// The warm-up lets the JIT, V8's young generation and the connection pools settle at their working size, so what
// the measured run leaves behind is growth.
await run(warmUp);
const before = { memory: await site.ask('memory'), upstream: await upstream.ask('counts') };
const started = performance.now();
const { statuses, undocumented, latencies } = await run(total);
const seconds = (performance.now() - started) / 1000;
const after = { memory: await site.ask('memory'), upstream: await upstream.ask('counts') };
const siteCounts = await site.ask('counts');
await site.stop();
await upstream.stop();

latencies.sort((a, b) => a - b);
// The value below which `fraction` of the latencies fall (nearest rank).
const at = (fraction) =>
  `${latencies[Math.max(0, Math.ceil(fraction * latencies.length) - 1)].toFixed(1)} ms`;
const upstreamRequests = after.upstream.requests - before.upstream.requests;
const faults = Object.entries(after.upstream.faults).map(
  ([kind, n]) => `${kind} ${n - before.upstream.faults[kind]}`,
);
const heapGrowth = after.memory.heapUsed - before.memory.heapUsed;
const rssGrowth = after.memory.rss - before.memory.rss;
console.log(
  `${total} requests in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)} req/s)\n` +
    `statuses: ${JSON.stringify(statuses)}\n` +
    `latency: p50 ${at(0.5)}, p90 ${at(0.9)}, p99 ${at(0.99)}, max ${at(1)}\n` +
    `upstream: ${upstreamRequests} requests (${(upstreamRequests / total).toFixed(2)} per token request) over ` +
    `${after.upstream.connections - before.upstream.connections} connections; faults: ${faults.join(', ')}\n` +
    `site after GC: heap used ${megabytes(before.memory.heapUsed)} -> ${megabytes(after.memory.heapUsed)}, ` +
    `RSS ${megabytes(before.memory.rss)} -> ${megabytes(after.memory.rss)}\n`,
);

const checks = [
  ['every answer documented', undocumented.length === 0, undocumented.slice(0, 5).join(' | ')],
  [
    'no 500, no unhandled rejection',
    siteCounts.siteErrors + siteCounts.unhandledRejections === 0,
    siteCounts,
  ],
  ['heap growth < 5 MB', heapGrowth < 5 * 2 ** 20, megabytes(heapGrowth)],
  ['RSS growth < 20 MB', rssGrowth < 20 * 2 ** 20, megabytes(rssGrowth)],
];
for (const [name, passed, detail] of checks) {
  console.log(`${passed ? 'PASS' : 'FAIL'}  ${name}${passed ? '' : `: ${JSON.stringify(detail)}`}`);
}
if (checks.some(([, passed]) => !passed)) process.exitCode = 1;
