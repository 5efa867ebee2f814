// npm run bench: the package's work per page, side by side with helmet() and a do-nothing layer, a token call with
// and without a subscriber to its diagnostics channel, then its token route against a bare got route. Shorter
// runs: BENCH_PROCESSES, BENCH_REQUESTS, BENCH_WARM_UP, BENCH_SECONDS.
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { headers, median, startChild, tokenPath } from './fixtures.js';

const processes = Number(process.env.BENCH_PROCESSES ?? 5);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = 3;

const perRow = `${process.env.BENCH_REQUESTS ?? 20_000} requests per row in each of ${processes} fresh processes`;
console.log(`${cpus().length} CPUs (${cpus()[0]?.model}), Node.js ${process.version}; ${perRow}, warm`);
/** Runs `script` in `processes` fresh processes, one after the other: the JSON line each prints. */
async function inFreshProcesses(script) {
  const results = [];
  for (let started = 0; started < processes; started++) {
    const path = fileURLToPath(new URL(script, import.meta.url));
    results.push(JSON.parse((await promisify(execFile)(process.execPath, [path])).stdout));
  }
  return results;
}
const results = await inFreshProcesses('./page-cost.js');
const rows = [
  ['helmet()', 'helmet.signedIn', 'floor.signedIn'],
  ['this package, signed-in page', 'package.signedIn', 'floor.signedIn'],
  ['this package, anonymous page', 'package.anonymous', 'floor.anonymous'],
  ['control: a second do-nothing layer, signed-in page', 'control.signedIn', 'floor.signedIn'],
];
const cost = {};
console.log(
  "\nPages: each layer's own work (its call to its next(), plus the embed helper's call) in µs per",
);
console.log('request, over a do-nothing layer; the median of the per-process medians (those in brackets)');
for (const [name, run, base] of rows) {
  const values = results.map((result) => result[run] - result[base]);
  cost[run] = median(values);
  const each = values.map((value) => value.toFixed(1)).join(' ');
  console.log(`  ${name.padEnd(50)} ${cost[run].toFixed(1).padStart(5)} µs  (${each})`);
}
console.log(
  `  the embed: ${results[0].embedBytes} bytes per signed-in page, nonce included (${results[0].embedGzipBytes} gzipped)\n\nBudget`,
);
const budget = [
  ['signed-in page ≤ helmet()', cost['package.signedIn'], cost['helmet.signedIn']],
  ['anonymous page ≤ 0.5 µs', cost['package.anonymous'], 0.5],
];
for (const [name, figure, limit] of budget) {
  console.log(
    `  ${figure <= limit ? 'PASS' : 'FAIL'}  ${name}: ${figure.toFixed(1)} ≤ ${limit.toFixed(1)} µs`,
  );
}
if (budget.some(([, figure, limit]) => figure > limit)) process.exitCode = 1;

const traced = await inFreshProcesses('./token-cost.js');
console.log(
  '\nTracing: one token call at a time, end to end in µs, site and upstream in one process; the median',
);
console.log('of the per-process medians (those in brackets)');
for (const [name, run] of [
  ['nobody subscribes to the token channel', 'unsubscribed'],
  ['a subscriber that does nothing', 'subscribed'],
]) {
  const values = traced.map((result) => result[run]);
  const each = values.map((value) => value.toFixed(0)).join(' ');
  console.log(`  ${name.padEnd(50)} ${median(values).toFixed(0).padStart(5)} µs  (${each})`);
}
const extra = median(traced.map((result) => result.subscribed - result.unsubscribed));
console.log(`  what the subscriber adds: ${extra.toFixed(1)} µs per token call`);

// Both token routes are in one site process, on one upstream process; the load comes from this process.
console.log(
  `\nToken route: ${rounds} rounds of ${seconds} s per route, 10 connections, upstream on 127.0.0.1`,
);
const upstream = await startChild('./upstream.js');
// One signed-in visitor at full speed: the token budget is off here, or it would answer 429 after 60 calls.
const guard = JSON.stringify({ tokenBudget: false });
const site = await startChild('./token-site.js', ['--upstream', upstream.url, '--guard', guard]);
const routes = { 'this package': tokenPath, 'bare got route': '/bare/token' };
const runs = { 'this package': [], 'bare got route': [] };
async function load(name, duration) {
  const options = { method: 'POST', headers: headers.token, connections: 10, duration };
  const result = await autocannon({ url: `${site.url}${routes[name]}`, ...options });
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) throw new Error(`${name}: ${failed} of ${result.requests.total} requests failed`);
  return { rps: result.requests.total / result.duration, p50: result.latency.p50, p99: result.latency.p99 };
}
try {
  for (const name of Object.keys(routes)) await load(name, 1);
  for (let round = 0; round < rounds; round++) {
    // The routes take turns, each round starting with the other.
    const order = round % 2 === 0 ? Object.keys(routes) : Object.keys(routes).reverse();
    for (const name of order) runs[name].push(await load(name, seconds));
  }
} finally {
  await site.stop();
  await upstream.stop();
}
for (const [name, measured] of Object.entries(runs)) {
  const [rps, p50, p99] = ['rps', 'p50', 'p99'].map((field) => median(measured.map((run) => run[field])));
  console.log(
    `  ${name.padEnd(16)} ${rps.toFixed(0).padStart(5)} req/s, latency p50 ${p50} ms, p99 ${p99} ms`,
  );
}
const ratios = runs['this package'].map((run, i) => run.rps / runs['bare got route'][i].rps);
console.log(`  throughput, this package / bare got route: ${median(ratios).toFixed(2)} (for information)`);
