// npm run soak (after the fault run), or node bench/abuse.js: what one abusive account, a Reteno 429 storm and a
// flood of concurrent token requests cost the site's Reteno account. Fails unless the token guard holds:
// upstream calls within the budget and one per back-off window, sockets within the cap, answers within timeout.
import { spawnSync } from 'node:child_process';
import { startChild, tokenPath } from './fixtures.js';

const timeout = 5000;
const guard = process.env.ABUSE_GUARD ?? '{}'; // '' for a package without the guard's options
const rows = [];
const checks = [];

/** Token requests of `contact` from `workers` loops for `seconds`; statuses. */
async function hammer(url, contacts, workers, seconds, pauseMs = 0) {
  const statuses = {};
  const until = performance.now() + seconds * 1000;
  const worker = async (index) => {
    while (performance.now() < until) {
      const cookie = `sid=${contacts[index % contacts.length]}`;
      const response = await fetch(`${url}${tokenPath}`, {
        method: 'POST',
        headers: { cookie, 'x-reteno-inbox': '1' },
      }).catch(() => ({ status: 'reset', text: () => '' }));
      await response.text();
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, index) => worker(index)));
  return statuses;
}

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
await withSites([], [], 1, async (upstream, [site]) => {
  const statuses = await hammer(site.url, ['anna'], 20, 15);
  const { requests } = await upstream.ask('counts');
  rows.push(['one contact, 20 connections, 15 s', statuses, `${requests} upstream calls`]);
  checks.push(['one contact: upstream calls <= 60 (its budget)', requests <= 60, requests]);
});

// 2. 200 contacts, each asking every 100 ms, while Reteno answers 429 to everything for 10 s.
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
if (redisServer && guard) {
  const { startRedis } = await import('./redis.js');
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

for (const [name, statuses, figures] of rows) console.log(`${name}: ${JSON.stringify(statuses)}; ${figures}`);
for (const [name, passed, detail] of checks) {
  console.log(`${passed ? 'PASS' : 'FAIL'}  ${name}${passed ? '' : `: ${JSON.stringify(detail)}`}`);
}
if (checks.some(([, passed]) => !passed)) process.exitCode = 1;
