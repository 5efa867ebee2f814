// node bench/profile.js [variant] [seconds]: loads one bench site (default: page-with-middleware, 10 s) under
// `node --cpu-prof` and leaves the profile in .tmp/profiles/ (open it in Chrome DevTools > Performance).
// Prints the requests served, so profiles of two variants compare per request. BENCH_PAGE picks the page.
import { mkdirSync } from 'node:fs';
import autocannon from 'autocannon';
import { startProcess } from './child-process.js';
import { embedElements, signedInHeaders, tokenPath, tokenRequestHeaders } from './fixtures.js';

const [variant = 'page-with-middleware', seconds = '10'] = process.argv.slice(2);
const directory = new URL(`../.tmp/profiles/${variant}/`, import.meta.url).pathname;
mkdirSync(directory, { recursive: true });

const upstream = await startProcess('./upstream-server.js');
// The floor page needs the real embed, which the page with the middleware renders.
const variants = variant === 'page-floor' ? ['page-floor', 'page-with-middleware'] : [variant];
const child = await startProcess(
  './site-server.js',
  ['--variants', variants.join(','), '--upstream', upstream.url, '--page', process.env.BENCH_PAGE ?? 'shop'],
  {
    execArgv: ['--cpu-prof', '--cpu-prof-interval=50', `--cpu-prof-dir=${directory}`],
  },
);
if (variant === 'page-floor') {
  const page = await (
    await fetch(`${child.urls['page-with-middleware']}/page`, { headers: signedInHeaders })
  ).text();
  await child.ask('floorEmbed', embedElements(page)[0]);
}
const token = variant.startsWith('token');
try {
  const result = await autocannon({
    url: `${child.urls[variant]}${token ? tokenPath : '/page'}`,
    method: token ? 'POST' : 'GET',
    headers: token ? tokenRequestHeaders : signedInHeaders,
    connections: 10,
    duration: Number(seconds),
  });
  console.log(`${result.requests.total} requests; profile in ${directory}`);
} finally {
  await child.stop();
  await upstream.stop();
}
