// npm run bench: the package's cost on a page and on the token route, each measured side by side with the
// same site without it. Sites and the upstream run in their own processes; this process only generates load.
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { startProcess } from './child-process.js';
import {
  browserHeaders,
  embedElements,
  signedInHeaders,
  tokenPath,
  tokenRequestHeaders,
  withoutNonces,
} from './fixtures.js';
import { pageNamed } from './pages.js';
import { median, medianInterval, pad, percentile, verdict } from './stats.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 30);
const processes = Number(process.env.BENCH_PROCESSES ?? 10);
const roundsPerProcess = Math.ceil(rounds / processes);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
// The page the page comparisons render (bench/pages.js): `shop`, 8.4 kB, or `listing`, 58 kB.
const page = process.env.BENCH_PAGE ?? 'shop';
pageNamed(page);
const sequentialTokenRequests = 2000;
// The handling-time comparison: fresh processes, and seconds of load in each after a 2 s warm-up.
const handlingProcesses = Number(process.env.BENCH_HANDLING_PROCESSES ?? 6);
const handlingSeconds = Number(process.env.BENCH_HANDLING_SECONDS ?? 8);

const signedIn = { headers: signedInHeaders };
const anonymous = { headers: browserHeaders };
const tokenRequest = {
  method: 'POST',
  path: tokenPath,
  headers: tokenRequestHeaders,
};

/**
 * One autocannon run against a site process. Every answer must be a 200, or the figure means nothing. Besides
 * throughput and latencies, reads the site's CPU time per request, which other load on the machine disturbs
 * far less than throughput.
 */
async function load(
  site,
  { method = 'GET', path = '/page', headers = {}, duration, amount, connections: c },
) {
  const latencies = [];
  const before = await site.ask('counts');
  const instance = autocannon({
    url: `${site.url}${path}`,
    method,
    headers,
    connections: c,
    ...(amount === undefined ? { duration } : { amount }),
  });
  instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  const result = await instance;
  const after = await site.ask('counts');
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) {
    throw new Error(`${method} ${site.url}${path}: ${failed} of ${result.requests.total} requests failed`);
  }
  const cpuMicros = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
  return {
    rps: result.requests.total / result.duration,
    cpuPerRequest: cpuMicros / (after.requests - before.requests),
    latencies,
  };
}

/** `values` starting at its `by`-th element (counted round and round), the ones before it moved to the end. */
function rotated(values, by) {
  const first = by % values.length;
  return [...values.slice(first), ...values.slice(0, first)];
}

/**
 * Starts `processes` fresh site processes one after another with `start()`, which resolves to `{ sites, stop }`.
 * In each, loads every site once for a warm-up, then once per round, each round starting one site later than the
 * last: two sites take turns, and over every four rounds each of four sites runs once in each place, so a drifting
 * machine, or a place in the round, favours none of them. Returns each site's rounds, from all processes.
 *
 * A Node process is a draw of its own. Two copies of the very same site, each in a process of its own, measured
 * 0.99 to 1.13 of each other over six pairs of processes; so the sites of a comparison share a process. Even
 * then, one process can favour one site: a page comparison run as 30 rounds in a single process came out
 * anywhere from 0.938 to 0.992 from one run to the next. Hence several processes, fewer rounds in each.
 */
async function interleaved(start, request, { duration = seconds, connections: c = connections } = {}) {
  const results = {};
  let round = 0;
  for (let started = 0; started < processes; started++) {
    const { sites, stop } = await start();
    try {
      const names = Object.keys(sites);
      for (const name of names) {
        results[name] ??= [];
        await load(sites[name], { ...request, duration: 1, connections: c });
      }
      for (let local = 0; local < roundsPerProcess; local++, round++) {
        for (const name of rotated(names, round)) {
          results[name].push(await load(sites[name], { ...request, duration, connections: c }));
        }
      }
    } finally {
      await stop();
    }
  }
  return results;
}

/** Site `a` against site `b`: ratios per round, between neighbours in time; their median is the figure. */
function compare(results, a, b) {
  const throughputRatios = results[a].map((r, i) => r.rps / results[b][i].rps);
  const cpuRatios = results[a].map((r, i) => results[b][i].cpuPerRequest / r.cpuPerRequest);
  return {
    a: results[a],
    b: results[b],
    throughput: median(throughputRatios),
    throughputRatios,
    cpu: median(cpuRatios),
    rps: { a: median(results[a].map((r) => r.rps)), b: median(results[b].map((r) => r.rps)) },
    cpuPerRequest: {
      a: median(results[a].map((r) => r.cpuPerRequest)),
      b: median(results[b].map((r) => r.cpuPerRequest)),
    },
  };
}

/** Two variants side by side, each time in fresh processes: `a` against `b`. */
async function sideBySide(a, b, request, options) {
  const start = async () => {
    const { sites, stop } = await startSites([a, b]);
    return { sites: { a: sites[a], b: sites[b] }, stop };
  };
  return compare(await interleaved(start, request, options), 'a', 'b');
}

function describeRatios(result) {
  const [low, high] = medianInterval(result.throughputRatios, { groupSize: roundsPerProcess });
  return (
    `(90% interval ${low.toFixed(3)}-${high.toFixed(3)}; ` +
    `${result.rps.a.toFixed(0)} vs ${result.rps.b.toFixed(0)} req/s; ` +
    `CPU ${result.cpuPerRequest.a.toFixed(0)} vs ${result.cpuPerRequest.b.toFixed(0)} us/req = ${result.cpu.toFixed(3)}x; ` +
    `rounds ${result.throughputRatios.map((r) => r.toFixed(2)).join(' ')})`
  );
}

async function fetchPage(site, headers) {
  const response = await fetch(`${site.url}/page`, { headers });
  if (response.status !== 200) throw new Error(`GET ${site.url}/page answered ${response.status}`);
  return response.text();
}

const lines = [];
function report(name, figure, target, passed, detail) {
  const targetText = passed === undefined ? target : `target ${target}`;
  const line = `${pad(name, 56)} ${pad(figure, 10)} ${pad(targetText, 16)} ${passed === undefined ? '    ' : verdict(passed)}  ${detail}`;
  lines.push(line);
  console.log(line);
}

console.log(
  `machine: ${cpus().length} CPUs (${cpus()[0]?.model}), node ${process.version}; ` +
    `${processes} site processes x ${roundsPerProcess} rounds x ${seconds} s per side, ${connections} connections; ` +
    `page: ${page}\n`,
);

// Requests and resolveContact calls per variant, summed over every site process that ran it.
const tally = {};
let sitesStarted = 0;

/**
 * Starts the given site variants in one process (see site-server.js) against the upstream, so that what slows or
 * speeds up a whole process (see `interleaved`) falls on every variant of a comparison alike. Each variant gets a
 * handle with its `url` and `ask(type, value)`. `stop()` adds the variants' counts to `tally`, then ends the
 * process.
 */
async function startSites(variants, upstreamUrl = upstream.url, extraArgs = []) {
  // Two identical sites of one process need not measure alike (see the control), so no variant is always the one
  // created first: the order of creation moves on by one with every process.
  const child = await startProcess('./site-server.js', [
    '--variants',
    rotated(variants, sitesStarted++).join(','),
    '--upstream',
    upstreamUrl,
    '--page',
    page,
    ...extraArgs,
  ]);
  const sites = Object.fromEntries(
    variants.map((variant) => [
      variant,
      { url: child.urls[variant], ask: (type, value) => child.ask(type, value ?? variant) },
    ]),
  );
  const stop = async () => {
    try {
      for (const variant of variants) {
        const { requests, resolveContactCalls } = await sites[variant].ask('counts');
        tally[variant] ??= { requests: 0, resolveContactCalls: 0 };
        tally[variant].requests += requests;
        tally[variant].resolveContactCalls += resolveContactCalls;
      }
    } finally {
      await child.stop();
    }
  };
  return { sites, stop };
}

/**
 * The sites of `variants` loaded all at once, one autocannon each (4 connections), in `handlingProcesses` fresh
 * processes. Each site times the synchronous handling of its requests: everything a page does in JavaScript, from
 * Express's first layer to res.end(). Sites loaded at the same moment share every change of the machine's speed,
 * so the differences between them carry none of the drift between rounds that the throughput ratios do. Returns,
 * per variant, the µs of handling per request in each process. `prepare(sites)` runs before the load.
 */
async function handlingTimes(variants, request, prepare) {
  const times = Object.fromEntries(variants.map((variant) => [variant, []]));
  // `load` stops the run if any answer is not a 200.
  const loadAll = (sites, duration) =>
    Promise.all(variants.map((variant) => load(sites[variant], { ...request, duration, connections: 4 })));
  for (let started = 0; started < handlingProcesses; started++) {
    const { sites, stop } = await startSites(variants, upstream.url, ['--time-handling']);
    try {
      await prepare?.(sites);
      await loadAll(sites, 2);
      // Asked of any one site: the process answers for all of its sites, and starts counting anew.
      await sites[variants[0]].ask('handling');
      await loadAll(sites, handlingSeconds);
      const handling = await sites[variants[0]].ask('handling');
      for (const variant of variants) {
        times[variant].push(handling[variant].nanoseconds / handling[variant].requests / 1000);
      }
    } finally {
      await stop();
    }
  }
  return times;
}

const upstream = await startProcess('./upstream-server.js');
// The control is a second copy of the page without the middleware, measured in the same rounds: what the rounds
// make of two identical sites is how far the page's other figures can be trusted on this machine.
const pageVariants = [
  'page-with-middleware',
  'page-floor',
  'page-without-middleware',
  'page-without-middleware#2',
];

try {
  // The embed, nonce included: what the middleware adds to a signed-in page, and nothing else.
  const probe = await startSites(pageVariants);
  let embed;
  try {
    const withInbox = probe.sites['page-with-middleware'];
    const withoutInbox = probe.sites['page-without-middleware'];
    const withPage = await fetchPage(withInbox, signedIn.headers);
    const withoutPage = await fetchPage(withoutInbox, signedIn.headers);
    const controlPage = await fetchPage(probe.sites['page-without-middleware#2'], signedIn.headers);
    if (withoutNonces(controlPage) !== withoutNonces(withoutPage)) {
      throw new Error('the control must serve the very page the site without the middleware serves');
    }
    const [found, ...extra] = embedElements(withPage);
    if (found === undefined || extra.length > 0 || !/^<script nonce="[A-Za-z0-9+/]{22}==">/.test(found)) {
      throw new Error('the signed-in page must carry exactly one embed, with a nonce');
    }
    // The site's own scripts may carry the response's nonce too (the listing page's do).
    if (
      withoutNonces(withPage.replace(found, '')) !== withoutNonces(withoutPage) ||
      withoutNonces(await fetchPage(withInbox, anonymous.headers)) !==
        withoutNonces(await fetchPage(withoutInbox, anonymous.headers))
    ) {
      throw new Error('the pages with and without the middleware must differ by the embed alone');
    }
    embed = found;
    const embedBytes = Buffer.byteLength(embed);
    report(
      'embed bytes per signed-in page, nonce included',
      `${embedBytes} B`,
      '<= 1200 B',
      embedBytes <= 1200,
      `(page: ${Buffer.byteLength(withoutPage)} B without, ${Buffer.byteLength(withPage)} B with)`,
    );
  } finally {
    await probe.stop();
  }

  // The floor: a middleware that hands the template the same embed without doing anything, i.e. what one more
  // Express layer and ~750 more bytes per page cost, whoever renders them.
  const startPages = async () => {
    const pages = await startSites(pageVariants);
    await pages.sites['page-floor'].ask('floorEmbed', embed);
    const floorPage = await fetchPage(pages.sites['page-floor'], signedIn.headers);
    const withPage = await fetchPage(pages.sites['page-with-middleware'], signedIn.headers);
    if (Buffer.byteLength(floorPage) !== Buffer.byteLength(withPage)) {
      await pages.stop();
      throw new Error('the floor page must be as long as the page with the middleware');
    }
    const { sites } = pages;
    return {
      sites: {
        with: sites['page-with-middleware'],
        floor: sites['page-floor'],
        without: sites['page-without-middleware'],
        control: sites['page-without-middleware#2'],
      },
      stop: pages.stop,
    };
  };
  const signedInRounds = await interleaved(startPages, signedIn);
  const signedInResult = compare(signedInRounds, 'with', 'without');
  report(
    'page, signed-in: with / without middleware',
    `${signedInResult.throughput.toFixed(3)}x`,
    '>= 0.97',
    signedInResult.throughput >= 0.97,
    describeRatios(signedInResult),
  );
  for (const [name, a, b] of [
    ['  of which the floor: same embed, no work / without', 'floor', 'without'],
    ["  and the middleware's own work: with / floor", 'with', 'floor'],
    ['  control: an identical site without / without', 'control', 'without'],
  ]) {
    const result = compare(signedInRounds, a, b);
    report(name, `${result.throughput.toFixed(3)}x`, '(see above)', undefined, describeRatios(result));
  }
  // The same pages, the control included, by their handling time, each process's sites loaded at once.
  const handling = await handlingTimes(pageVariants, signedIn, (sites) =>
    sites['page-floor'].ask('floorEmbed', embed),
  );
  for (const [name, a, b] of [
    ['page, signed-in: JS handling added, with - without', 'page-with-middleware', 'page-without-middleware'],
    ['  of which the floor: floor - without', 'page-floor', 'page-without-middleware'],
    ["  and the middleware's own work: with - floor", 'page-with-middleware', 'page-floor'],
    [
      '  control: an identical site without - without',
      'page-without-middleware#2',
      'page-without-middleware',
    ],
  ]) {
    const added = handling[a].map((time, i) => time - handling[b][i]);
    report(
      name,
      `${median(added).toFixed(1)} us`,
      '(per request)',
      undefined,
      `(per process: ${added.map((time) => time.toFixed(1)).join(' ')}; ` +
        `${median(handling[a]).toFixed(1)} vs ${median(handling[b]).toFixed(1)} us/req; ` +
        `${handlingProcesses} processes x ${handlingSeconds} s, sites loaded at once)`,
    );
  }

  const anonymousResult = await sideBySide('page-with-middleware', 'page-without-middleware', anonymous);
  report(
    'page, anonymous: with / without middleware',
    `${anonymousResult.throughput.toFixed(3)}x`,
    '>= 0.99',
    anonymousResult.throughput >= 0.99,
    describeRatios(anonymousResult),
  );

  const tokenResult = await sideBySide('token-route', 'token-bare', tokenRequest);
  report(
    `token route / bare got route (${connections} conn.)`,
    `${tokenResult.throughput.toFixed(3)}x`,
    '>= 0.90',
    tokenResult.throughput >= 0.9,
    describeRatios(tokenResult),
  );

  // One request at a time: the difference of the medians is the route's own latency.
  const sequential = await sideBySide('token-route', 'token-bare', tokenRequest, { connections: 1 });
  const routeLatencies = sequential.a.flatMap((r) => r.latencies).sort((x, y) => x - y);
  const bareLatencies = sequential.b.flatMap((r) => r.latencies).sort((x, y) => x - y);
  const added = percentile(routeLatencies, 0.5) - percentile(bareLatencies, 0.5);
  report(
    'token route added median latency (1 conn.)',
    `${added.toFixed(3)} ms`,
    '<= 0.5 ms',
    added <= 0.5,
    `(p50 ${percentile(routeLatencies, 0.5).toFixed(3)} vs ${percentile(bareLatencies, 0.5).toFixed(3)} ms, ` +
      `p99 ${percentile(routeLatencies, 0.99).toFixed(3)} vs ${percentile(bareLatencies, 0.99).toFixed(3)} ms, ` +
      `${routeLatencies.length} + ${bareLatencies.length} requests)`,
  );

  for (const [name, variant] of [
    ['resolveContact calls per page request', 'page-with-middleware'],
    ['resolveContact calls per token request', 'token-route'],
  ]) {
    const { resolveContactCalls, requests } = tally[variant];
    report(
      name,
      (resolveContactCalls / requests).toFixed(4),
      '== 1',
      resolveContactCalls === requests,
      `(${resolveContactCalls} calls, ${requests} requests)`,
    );
  }

  // Keep-alive: a fresh site and upstream each, 2,000 token requests one after another.
  for (const variant of ['token-route', 'token-bare']) {
    const freshUpstream = await startProcess('./upstream-server.js');
    const sites = await startSites([variant], freshUpstream.url);
    const site = sites.sites[variant];
    try {
      await load(site, { ...tokenRequest, amount: sequentialTokenRequests, connections: 1 });
      const { connections: opened, requests } = await freshUpstream.ask('counts');
      if (requests !== sequentialTokenRequests) throw new Error(`the upstream saw ${requests} requests`);
      report(
        `upstream sockets, ${sequentialTokenRequests} sequential requests (${variant})`,
        String(opened),
        '<= 2',
        opened <= 2,
        '',
      );
    } finally {
      await sites.stop();
      await freshUpstream.stop();
    }
  }
} finally {
  await upstream.stop();
}

if (lines.some((line) => line.includes(' MISS '))) process.exitCode = 1;
