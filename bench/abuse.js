// npm run soak (after the fault run), or node bench/abuse.js: what one abusive account, a Reteno 429 storm, a
// flood of concurrent token requests, a frozen Redis, a crowd of abusive accounts, new sign-ups, the contact API's
// 429, two sites on one Redis and a malformed contact cost the site and its Reteno account. Fails unless the token
// guard holds: upstream calls within the budget and the site-wide cap, one per back-off window, sockets within the
// cap, answers within timeout. ABUSE_ONLY=5,6 runs some scenarios only.
import { spawnSync } from 'node:child_process';
import { startChild, tokenPath } from './fixtures.js';

const timeout = 5000;
const guard = process.env.ABUSE_GUARD ?? '{}'; // '' for a package without the guard's options
const only = process.env.ABUSE_ONLY?.split(',').map(Number);
const runs = (scenario) => only === undefined || only.includes(scenario);
const rows = [];
const checks = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One token request of `contact`: its status (or 'reset', or 'no answer' after `giveUpMs`) and time taken. */
async function askToken(url, contact, giveUpMs = 60_000) {
  const started = performance.now();
  const response = await fetch(`${url}${tokenPath}`, {
    method: 'POST',
    headers: { cookie: `sid=${contact}`, 'x-reteno-inbox': '1' },
    signal: AbortSignal.timeout(giveUpMs),
  }).catch((error) => ({ status: error.name === 'TimeoutError' ? 'no answer' : 'reset', text: () => '' }));
  await response.text();
  return { status: response.status, ms: performance.now() - started };
}

/** Token requests of `contact` from `workers` loops for `seconds`; statuses, and each request's time in `times`. */
async function hammer(url, contacts, workers, seconds, pauseMs = 0, times = undefined) {
  const statuses = {};
  const until = performance.now() + seconds * 1000;
  const worker = async (index) => {
    while (performance.now() < until) {
      const { status, ms } = await askToken(url, contacts[index % contacts.length]);
      statuses[status] = (statuses[status] ?? 0) + 1;
      times?.push(ms);
      if (pauseMs) await sleep(pauseMs);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, index) => worker(index)));
  return statuses;
}

const count = (statuses) => Object.values(statuses).reduce((sum, n) => sum + n, 0);
const percentile = (values, fraction) =>
  [...values].sort((a, b) => a - b)[Math.max(0, Math.ceil(fraction * values.length) - 1)] ?? 0;

async function withSites(upstreamArgs, siteArgs, count, run) {
  const upstream = await startChild('./upstream.js', upstreamArgs);
  const args = [
    '--upstream',
    upstream.url,
    '--timeout',
    String(timeout),
    ...(guard ? ['--guard', guard] : []),
  ];
  const sites = [];
  for (let index = 0; index < count; index++)
    sites.push(await startChild('./token-site.js', [...args, ...siteArgs]));
  try {
    return await run(upstream, sites);
  } finally {
    for (const site of sites) await site.stop();
    await upstream.stop();
  }
}

const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

// 1. One signed-in account at full speed: 20 connections for 15 s.
if (runs(1))
  await withSites([], [], 1, async (upstream, [site]) => {
    const statuses = await hammer(site.url, ['anna'], 20, 15);
    const { requests } = await upstream.ask('counts');
    rows.push(['one contact, 20 connections, 15 s', statuses, `${requests} upstream calls`]);
    checks.push(['one contact: upstream calls <= 60 (its budget)', requests <= 60, requests]);
  });

// 2. 200 contacts, each asking every 100 ms, while Reteno answers 429 to everything for 10 s.
if (runs(2))
  await withSites([], [], 1, async (upstream, [site]) => {
    const contacts = Array.from({ length: 200 }, (_, index) => `storm${index}`);
    await upstream.ask('throttle');
    const statuses = await hammer(site.url, contacts, 200, 10, 100);
    const { requests } = await upstream.ask('counts');
    rows.push(['200 contacts, 10 s of 429s', statuses, `${requests} upstream calls`]);
    // The first wave (at most maxInFlight, sent before the first 429 came back), then one per window: 1, 2, 4 s.
    checks.push(['429 storm: upstream calls <= 32 + one per back-off window (4)', requests <= 36, requests]);
  });

// 3. 1,500 concurrent token requests against a Reteno that takes 1 s to answer.
if (runs(3))
  await withSites(['--delay-ms', '1000'], [], 1, async (upstream, [site]) => {
    const rssBefore = (await site.ask('memory')).rss;
    const contacts = Array.from({ length: 1500 }, (_, index) => `flood${index}`);
    const statuses = {};
    await Promise.all(
      contacts.map(async (contact) => {
        const response = await fetch(`${site.url}${tokenPath}`, {
          method: 'POST',
          headers: { cookie: `sid=${contact}`, 'x-reteno-inbox': '1' },
        }).catch(() => ({ status: 'reset', text: () => '' }));
        await response.text();
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      }),
    );
    const rssAfter = (await site.ask('memory')).rss;
    const { maxOpenConnections } = await upstream.ask('counts');
    const { maxHeldMs } = await site.ask('counts');
    const documented = Object.keys(statuses).every((status) => ['200', '503', '504'].includes(status));
    rows.push([
      '1,500 at once, 1 s upstream',
      statuses,
      `${maxOpenConnections} upstream sockets at most; longest held ${maxHeldMs.toFixed(0)} ms; RSS ${mb(rssBefore)} -> ${mb(rssAfter)}`,
    ]);
    checks.push(['flood: upstream sockets <= 32', maxOpenConnections <= 32, maxOpenConnections]);
    checks.push(['flood: every answer 200, 503 or 504', documented, statuses]);
    checks.push(['flood: held <= timeout + 100 ms', maxHeldMs <= timeout + 100, maxHeldMs]);
  });

// 4. Two instances sharing one Redis: one contact on both at full speed for 10 s.
const redisServer = spawnSync('redis-server', ['--version']).status === 0;
const { startRedis } = await import('./redis.js');
if (!runs(4)) {
  // Not asked for.
} else if (redisServer && guard) {
  const redis = await startRedis();
  await withSites([], ['--redis', redis.url], 2, async (upstream, sites) => {
    const answers = await Promise.all(sites.map((site) => hammer(site.url, ['anna'], 10, 10)));
    const { requests } = await upstream.ask('counts');
    rows.push(['two instances on Redis, one contact, 10 s', answers, `${requests} upstream calls`]);
    checks.push(['two instances: upstream calls <= 60 (one shared budget)', requests <= 60, requests]);
  });
  await redis.stop();
} else {
  rows.push(['two instances on Redis', 'not run', redisServer ? 'no guard options' : 'no redis-server']);
}

// 5. A frozen Redis (SIGSTOP: the connection stays open, the client "ready"): 20 token calls, then 1,000 at once.
if (runs(5) && redisServer) {
  const redis = await startRedis();
  const stallTimeout = 2000;
  const upstream = await startChild('./upstream.js', []);
  const site = await startChild('./token-site.js', [
    ...['--upstream', upstream.url, '--timeout', String(stallTimeout), '--redis', redis.url],
    ...(guard ? ['--guard', guard] : []),
  ]);
  try {
    await askToken(site.url, 'warm');
    redis.process.kill('SIGSTOP');
    const twenty = await Promise.all(
      Array.from({ length: 20 }, (_, index) => askToken(site.url, `stall${index}`, 12_000)),
    );
    const inTime = twenty.filter(({ status, ms }) => status === 200 && ms <= stallTimeout + 100).length;
    const thousand = await Promise.all(
      Array.from({ length: 1000 }, (_, index) => askToken(site.url, `crowd${index}`, 12_000)),
    );
    const statuses = {};
    for (const { status } of thousand) statuses[status] = (statuses[status] ?? 0) + 1;
    const { maxHeldMs } = await site.ask('counts');
    rows.push([
      'Redis frozen, timeout 2000 ms',
      statuses,
      `${inTime} of 20 calls answered 200 within timeout + 100 ms; of 1,000 at once, longest held ${maxHeldMs.toFixed(0)} ms`,
    ]);
    checks.push(['Redis frozen: 20 of 20 answered within timeout + 100 ms', inTime === 20, inTime]);
    checks.push(['Redis frozen: 1,000 at once, none unanswered', !('no answer' in statuses), statuses]);
  } finally {
    redis.process.kill('SIGCONT');
    await site.stop();
    await upstream.stop();
    await redis.stop();
  }
}

// 6. 300 accounts, 2 connections each at full speed for 10 s, while 20 ordinary users load a page a second;
// Reteno answers in 300 ms.
if (runs(6))
  await withSites(['--delay-ms', '300'], ['--watch', 'ordinary'], 1, async (upstream, [site]) => {
    const crowd = Array.from({ length: 300 }, (_, index) => `crowd${index}`);
    const ordinary = Array.from({ length: 20 }, (_, index) => `ordinary${index}`);
    const [flood, users] = await Promise.all([
      hammer(site.url, crowd, 600, 10),
      hammer(site.url, ordinary, 20, 10, 1000),
    ]);
    const { requests, maxPerSecond } = await upstream.ask('counts');
    const times = (await site.ask('counts')).watchedMs;
    const success = (users[200] ?? 0) / count(users);
    rows.push([
      '300 accounts flooding, 20 ordinary users, Reteno 300 ms, 10 s',
      { crowd: flood, ordinary: users },
      `${requests} upstream calls, at most ${maxPerSecond} in a second; ordinary users ${(success * 100).toFixed(1)} % 200, p95 ${(percentile(times, 0.95) / 1000).toFixed(2)} s at the site`,
    ]);
    checks.push(['crowd: upstream calls per second <= 50 (maxPerSecond)', maxPerSecond <= 50, maxPerSecond]);
    checks.push(['crowd: ordinary users >= 95 % 200', success >= 0.95, success]);
  });

// 7. A new sign-up whose token Reteno never has (it answers {"token": ""} even after creating it): one account on
// 8 connections for 15 s.
if (runs(7))
  await withSites([], ['--create-contact'], 1, async (upstream, [site]) => {
    const statuses = await hammer(site.url, ['newcomer'], 8, 15);
    const { requests, contactRequests } = await upstream.ask('counts');
    rows.push([
      'createContact, token never ready, 8 connections, 15 s',
      statuses,
      `${requests} upstream calls (${contactRequests} to the contact API)`,
    ]);
    checks.push(['createContact: upstream calls <= 61 (its budget, one creation)', requests <= 61, requests]);
  });

// 8. One sign-up meets the contact API's 429 (Retry-After: 60); then 20 existing users ask every 250 ms for 5 s.
if (runs(8))
  await withSites([], ['--create-contact'], 1, async (upstream, [site]) => {
    await upstream.ask('contact-429');
    const signUp = await askToken(site.url, 'newbie');
    const users = Array.from({ length: 20 }, (_, index) => `member${index}`);
    const statuses = await hammer(site.url, users, 20, 5, 250);
    rows.push([
      'contact API 429 (Retry-After 60), then existing users for 5 s',
      { signUp: signUp.status, users: statuses },
      '',
    ]);
    checks.push([
      'contact API 429: existing users all 200',
      count(statuses) === (statuses[200] ?? 0),
      statuses,
    ]);
  });

// 9. Two sites with different API keys (two Reteno accounts) on one Redis: site A's Reteno throttles
// (Retry-After: 120) and anna spends her budget on A; then site B's users and anna ask on B for 5 s.
if (runs(9) && redisServer && guard) {
  const redis = await startRedis();
  const upstreams = [await startChild('./upstream.js', []), await startChild('./upstream.js', [])];
  const [siteA, siteB] = [
    await startChild('./token-site.js', [
      '--upstream',
      upstreams[0].url,
      '--redis',
      redis.url,
      '--guard',
      guard,
    ]),
    await startChild('./token-site.js', [
      ...['--upstream', upstreams[1].url, '--redis', redis.url, '--guard', guard],
      ...['--api-key', 'another-account-key-9e2d'],
    ]),
  ];
  try {
    await hammer(siteA.url, ['anna'], 1, 3);
    await upstreams[0].ask('throttle-120');
    const throttledA = await askToken(siteA.url, 'bob');
    const users = Array.from({ length: 10 }, (_, index) => `member${index}`);
    const statuses = await hammer(siteB.url, users, 10, 5, 250);
    const anna = await askToken(siteB.url, 'anna');
    rows.push([
      'two sites (two API keys) on one Redis, A throttled, 5 s on B',
      { A: throttledA.status, B: statuses, annaOnB: anna.status },
      '',
    ]);
    checks.push(['shared Redis: site B all 200', count(statuses) === (statuses[200] ?? 0), statuses]);
    checks.push(["shared Redis: anna's budget on A leaves B alone", anna.status === 200, anna.status]);
  } finally {
    for (const child of [siteA, siteB, ...upstreams]) await child.stop();
    await redis.stop();
  }
}

// 10. A malformed contact (a site's bug) asking on 8 connections for 10 s: lines logged.
if (runs(10))
  await withSites([], [], 1, async (_upstream, [site]) => {
    const statuses = await hammer(site.url, ['bad'], 8, 10);
    const { warnings } = await site.ask('counts');
    rows.push(['malformed contact, 8 connections, 10 s', statuses, `${warnings} warnings logged`]);
    checks.push(['log flood: at most 2 warnings in 10 s (one per 10 s)', warnings <= 2, warnings]);
  });

for (const [name, statuses, figures] of rows) console.log(`${name}: ${JSON.stringify(statuses)}; ${figures}`);
for (const [name, passed, detail] of checks) {
  console.log(`${passed ? 'PASS' : 'FAIL'}  ${name}${passed ? '' : `: ${JSON.stringify(detail)}`}`);
}
if (checks.some(([, passed]) => !passed)) process.exitCode = 1;
