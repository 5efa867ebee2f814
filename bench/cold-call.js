// node bench/cold-call.js [package directory ...]: what the signed-in page's work costs per call when little of it
// is left in the CPU's caches, as in a server busy with other requests. Compares this package (or the built packages
// in the directories given, e.g. copies of dist/ with a change each) and the floor: a middleware that gives the
// page a helper returning a fixed embed, doing no work.
//
// Each variant is a site of its own (sign-in and a CSP nonce, as in bench/site-server.js), served over loopback
// and asked for pages one at a time, the variants taking turns. Inside each request, after sign-in, the site
// writes BENCH_COLD_EVICT_MB (8) MB to push what it can out of the caches, then times the middleware and the
// helper's call. Each process runs BENCH_COLD_CALLS (2,000) pages per variant, the first fifth as warm-up;
// BENCH_COLD_PROCESSES (8) processes, each with the variants in a shuffled order. Printed: per variant, its
// median µs per page, and the median over processes of its difference from the first variant.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import express from 'express';
import {
  apiKey,
  floor,
  freshNonce,
  scriptId,
  setFloorEmbed,
  signedInContact,
  signedInHeaders,
} from './fixtures.js';
import { median } from './stats.js';

const evictBytes = Number(process.env.BENCH_COLD_EVICT_MB ?? 8) * 1024 * 1024;
const calls = Number(process.env.BENCH_COLD_CALLS ?? 2000);
const processes = Number(process.env.BENCH_COLD_PROCESSES ?? 8);

/** A copy of `values` in random order (Fisher–Yates). */
function shuffled(values) {
  const copy = [...values];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other], copy[index]];
  }
  return copy;
}

if (process.send === undefined) {
  const packages = process.argv.slice(2);
  const variants = packages.length > 0 ? [...packages, 'floor'] : ['express-reteno-inbox', 'floor'];
  const differences = new Map(variants.map((variant) => [variant, []]));
  const times = new Map(variants.map((variant) => [variant, []]));
  for (let run = 0; run < processes; run++) {
    const order = shuffled(variants);
    const child = fork(fileURLToPath(import.meta.url), order, { stdio: 'inherit' });
    let medians;
    child.once('message', (message) => {
      medians = message;
    });
    const [code] = await once(child, 'exit');
    if (medians === undefined)
      throw new Error(`a measuring process ended (exit code ${code}) without figures`);
    for (const variant of variants) {
      times.get(variant).push(medians[variant]);
      differences.get(variant).push(medians[variant] - medians[variants[0]]);
    }
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  console.log(
    `${processes} processes x ${calls} pages per variant, ${evictBytes / 1024 / 1024} MB evicted per page`,
  );
  for (const variant of variants) {
    const name = variant.padEnd(40);
    const own = `${median(times.get(variant)).toFixed(2)} us/page`;
    const difference = `${median(differences.get(variant)).toFixed(2)} us`;
    const each = differences.get(variant).map((value) => value.toFixed(1));
    const versus = variant === variants[0] ? '' : `  minus ${variants[0]}: ${difference} (${each.join(' ')})`;
    console.log(`${name} ${own.padStart(14)}${versus}`);
  }
} else {
  const order = process.argv.slice(2);
  const evict = new Uint8Array(evictBytes);
  setFloorEmbed('x'.repeat(674));
  const sites = [];
  for (const variant of order) {
    let middleware;
    if (variant === 'floor') {
      middleware = floor;
    } else {
      const where = variant === 'express-reteno-inbox' ? variant : `${pathToFileURL(variant).href}/index.js`;
      const { retenoInbox } = await import(where);
      middleware = retenoInbox({ apiKey, scriptId, resolveContact: (req) => req.user });
    }
    const nanoseconds = [];
    const app = express();
    app.use((req, _res, next) => {
      req.user = signedInContact(req);
      next();
    }, freshNonce);
    app.get('/page', (req, res) => {
      for (let index = 0; index < evict.length; index += 64) evict[index] += 1;
      const start = process.hrtime.bigint();
      middleware(req, res, () => {});
      const embed = res.locals.retenoInbox();
      nanoseconds.push(Number(process.hrtime.bigint() - start));
      res.end(embed);
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    sites.push({ variant, server, nanoseconds });
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = (server) =>
    new Promise((resolve, reject) => {
      const call = request(
        { agent, host: '127.0.0.1', port: server.address().port, path: '/page', headers: signedInHeaders },
        (response) => {
          response.resume();
          response.on('end', resolve);
        },
      );
      call.on('error', reject);
      call.end();
    });
  for (let call = 0; call < calls; call++) {
    for (const site of sites) await get(site.server);
  }
  const medians = {};
  for (const site of sites) {
    medians[site.variant] = median(site.nanoseconds.slice(calls / 5)) / 1000;
    site.server.close();
  }
  agent.destroy();
  process.send(medians);
}
