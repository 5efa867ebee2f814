// npm run bench: the package's cost on a page and on the token route, each measured side by side with the
// same site without it. Sites and the upstream run in their own processes; this process only generates load.
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { startProcess } from './child-process.js';
import { scriptElements, tokenPath } from './fixtures.js';
import { median, medianInterval, pad, percentile, verdict } from './stats.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 30);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const sequentialTokenRequests = 2000;

const signedIn = { headers: { cookie: 'sid=known' } };
const anonymous = { headers: {} };
const tokenRequest = {
  method: 'POST',
  path: tokenPath,
  headers: { cookie: 'sid=known', 'x-reteno-inbox': '1' },
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

/**
 * Loads every site once per round, in an order that reverses each round (so a drifting machine hurts all
 * alike), after a warm-up of each. Returns each site's rounds.
 */
async function interleaved(sites, request, { duration = seconds, connections: c = connections } = {}) {
  const names = Object.keys(sites);
  for (const name of names) await load(sites[name], { ...request, duration: 1, connections: c });
  const results = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      results[name].push(await load(sites[name], { ...request, duration, connections: c }));
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

async function sideBySide(a, b, request, options) {
  return compare(await interleaved({ a, b }, request, options), 'a', 'b');
}

function describeRatios(result) {
  const [low, high] = medianInterval(result.throughputRatios);
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
    `${rounds} rounds x ${seconds} s per side, ${connections} connections\n`,
);

/**
 * Starts the given site variants in one process (see site-server.js) against `upstreamUrl`. Each variant gets
 * a handle with its `url` and `ask(type)`, which asks the process about that variant.
 */
async function startSites(variants, upstreamUrl) {
  const child = await startProcess('./site-server.js', [
    '--variants',
    variants.join(','),
    '--upstream',
    upstreamUrl,
  ]);
  const sites = Object.fromEntries(
    variants.map((variant) => [
      variant,
      { url: child.urls[variant], ask: (type) => child.ask(type, variant) },
    ]),
  );
  return { sites, stop: child.stop, setFloorEmbed: (embed) => child.ask('floorEmbed', embed) };
}

const upstream = await startProcess('./upstream-server.js');
const pages = await startSites(
  ['page-with-middleware', 'page-floor', 'page-without-middleware'],
  upstream.url,
);
const withInbox = pages.sites['page-with-middleware'];
const floorPage = pages.sites['page-floor'];
const withoutInbox = pages.sites['page-without-middleware'];

try {
  // The embed, nonce included: what the middleware adds to a signed-in page, and nothing else.
  const withPage = await fetchPage(withInbox, signedIn.headers);
  const withoutPage = await fetchPage(withoutInbox, signedIn.headers);
  const [embed, ...extra] = scriptElements(withPage);
  if (embed === undefined || extra.length > 0 || !/^<script nonce="[A-Za-z0-9+/]{22}==">/.test(embed)) {
    throw new Error('the signed-in page must carry exactly one embed, with a nonce');
  }
  if (
    withPage.replace(embed, '') !== withoutPage ||
    (await fetchPage(withInbox, anonymous.headers)) !== (await fetchPage(withoutInbox, anonymous.headers))
  ) {
    throw new Error('the pages with and without the middleware must differ by the embed alone');
  }
  const embedBytes = Buffer.byteLength(embed);
  report(
    'embed bytes per signed-in page, nonce included',
    `${embedBytes} B`,
    '<= 1200 B',
    embedBytes <= 1200,
    `(page: ${Buffer.byteLength(withoutPage)} B without, ${Buffer.byteLength(withPage)} B with)`,
  );

  // The floor: a middleware that hands the template the same embed without doing anything, i.e. what one more
  // Express layer and ~750 more bytes per page cost, whoever renders them.
  await pages.setFloorEmbed(embed);
  if (Buffer.byteLength(await fetchPage(floorPage, signedIn.headers)) !== Buffer.byteLength(withPage)) {
    throw new Error('the floor page must be as long as the page with the middleware');
  }
  const signedInRounds = await interleaved(
    { with: withInbox, floor: floorPage, without: withoutInbox },
    signedIn,
  );
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
  ]) {
    const result = compare(signedInRounds, a, b);
    report(name, `${result.throughput.toFixed(3)}x`, '(see above)', undefined, describeRatios(result));
  }
  const anonymousResult = await sideBySide(withInbox, withoutInbox, anonymous);
  report(
    'page, anonymous: with / without middleware',
    `${anonymousResult.throughput.toFixed(3)}x`,
    '>= 0.99',
    anonymousResult.throughput >= 0.99,
    describeRatios(anonymousResult),
  );

  const tokenSites = await startSites(['token-route', 'token-bare'], upstream.url);
  const route = tokenSites.sites['token-route'];
  const bare = tokenSites.sites['token-bare'];
  try {
    const result = await sideBySide(route, bare, tokenRequest);
    report(
      `token route / bare got route (${connections} conn.)`,
      `${result.throughput.toFixed(3)}x`,
      '>= 0.90',
      result.throughput >= 0.9,
      describeRatios(result),
    );

    // One request at a time: the difference of the medians is the route's own latency.
    const sequential = await sideBySide(route, bare, tokenRequest, { connections: 1 });
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

    for (const [name, site] of [
      ['resolveContact calls per page request', withInbox],
      ['resolveContact calls per token request', route],
    ]) {
      const { resolveContactCalls, requests } = await site.ask('counts');
      report(
        name,
        (resolveContactCalls / requests).toFixed(4),
        '== 1',
        resolveContactCalls === requests,
        `(${resolveContactCalls} calls, ${requests} requests)`,
      );
    }
  } finally {
    await tokenSites.stop();
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
  await pages.stop();
  await upstream.stop();
}

if (lines.some((line) => line.includes(' MISS '))) process.exitCode = 1;
