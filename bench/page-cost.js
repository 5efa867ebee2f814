// One process of the page comparison; index.js runs several and reads the one JSON line each prints. The sites
// differ in one layer only: a do-nothing layer (the floor), this package, helmet(), and a second do-nothing site as
// a control. The rows take turns in blocks of BENCH_BLOCK requests, in a new random order each round, so every row
// sees the same machine while a block runs warm, as a site's process (one app) does; BENCH_BLOCK=1 interleaves
// the four apps request by request, which measures each with its code cold in the CPU's caches. A request is timed
// for the layer's own work: from its call to its next(), plus the call of the embed helper where it set one.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import ejs from 'ejs';
import express from 'express';
import helmet from 'helmet';
import { apiKey, headers, loadPackage, median, scriptId, signIn } from './fixtures.js';

const requests = Number(process.env.BENCH_REQUESTS ?? 20_000);
const warmUp = Number(process.env.BENCH_WARM_UP ?? 5000);
const block = Number(process.env.BENCH_BLOCK ?? 100);
const { retenoInbox } = await loadPackage();
const views = new URL('./views/', import.meta.url);
const products = [...'ABCDEFGHIJKL'].map((letter, id) => ({ id, name: letter, price: '9.90 EUR' }));

/** As helmet-based sites do: a fresh CSP nonce per response. */
function freshNonce(_req, res, next) {
  res.locals.cspNonce = randomBytes(16).toString('base64');
  next();
}

async function startSite(name, layer) {
  // Each site compiles the page for itself, as a site alone in its process does: one template function shared by
  // the sites would be optimised for one site's helper and deoptimised by another's.
  const template = ejs.compile(`<% /* ${name} */ %>${readFileSync(new URL('page.ejs', views), 'utf8')}`);
  const app = express();
  app.engine('ejs', (_path, locals, callback) => callback(null, template(locals)));
  app.set('views', fileURLToPath(views)).set('view engine', 'ejs').set('view cache', true).set('etag', false);
  const timed = (req, res, next) => {
    const started = performance.now();
    layer(req, res, () => {
      site.own = performance.now() - started;
      const helper = res.locals.retenoInbox;
      if (helper) res.locals.retenoInbox = () => timedCall(helper);
      next();
    });
  };
  const timedCall = (helper, started = performance.now(), embed = helper()) => {
    site.own += performance.now() - started;
    return embed;
  };
  app.use(signIn, freshNonce, timed);
  app.get('/', (req, res) => res.render('page', { user: req.user, products }));

  const site = { name, own: 0, server: createServer(app) };
  await new Promise((resolve) => site.server.listen(0, '127.0.0.1', resolve));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  site.connection = { agent, host: '127.0.0.1', port: site.server.address().port };
  return site;
}

/** One GET / on the site's kept-alive connection: the page, and the µs the site spent on it. */
function load(site, pageHeaders) {
  return new Promise((resolve, reject) => {
    const answer = (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${site.name} answered ${res.statusCode}`));
        const setCookie = res.headers['set-cookie'] ?? [];
        resolve({ body: Buffer.concat(chunks).toString(), micros: site.own * 1000, setCookie });
      });
    };
    request({ ...site.connection, headers: pageHeaders }, answer)
      .on('error', reject)
      .end();
  });
}

function shuffled(values) {
  const keyed = values.map((value) => ({ value, key: Math.random() }));
  return keyed.sort((a, b) => a.key - b.key).map(({ value }) => value);
}
const doNothing = (_req, _res, next) => next();
const layers = {
  floor: doNothing,
  package: retenoInbox({ apiKey, scriptId, resolveContact: (req) => req.user }),
  helmet: helmet(),
  control: doNothing,
};
// Created in a random order, so that no site is always the first (or last) one a process creates.
const sites = {};
for (const name of shuffled(Object.keys(layers))) sites[name] = await startSite(name, layers[name]);

// The pages must be what they claim: the floor's page, plus one embed on the signed-in visitor's: Reteno's loader
// and the client's tag.
const embedPattern =
  /<script nonce="[A-Za-z0-9+/=]+">[^<]*<\/script>\s*<script nonce="[A-Za-z0-9+/=]+" src="[^"]+" data-reteno-config='[^']*' defer><\/script>/g;
const first = await load(sites.package, headers.signedIn);
const signedInPage = first.body;
// From then on the visitor's browser sends back the cookie the package set (its contact's opaque id), as browsers do.
const visitors = {
  anonymous: headers.anonymous,
  signedIn: {
    ...headers.signedIn,
    cookie: [headers.signedIn.cookie, ...first.setCookie.map((c) => c.split(';')[0])].join('; '),
  },
};
const [embed, ...others] = signedInPage.match(embedPattern) ?? [];
if (
  embed === undefined ||
  others.length > 0 ||
  signedInPage.includes(apiKey) ||
  signedInPage.replace(embed, '') !== (await load(sites.floor, headers.signedIn)).body ||
  (await load(sites.package, headers.anonymous)).body !== (await load(sites.floor, headers.anonymous)).body
) {
  throw new Error("the package's pages must be the floor's, plus one embed without the API key if signed in");
}

// Every site gets signed-in and anonymous requests alike, so that none is hotter than another.
const times = {};
for (const name of Object.keys(sites))
  for (const visitor of ['signedIn', 'anonymous']) times[`${name}.${visitor}`] = [];
for (let round = 0; round < (warmUp + requests) / block; round++) {
  // A new order every round: in a fixed order, each row would always follow the same other row.
  for (const row of shuffled(Object.keys(times))) {
    const [name, visitor] = row.split('.');
    for (let sent = 0; sent < block; sent++) {
      const { micros } = await load(sites[name], visitors[visitor]);
      if (round * block >= warmUp) times[row].push(micros);
    }
  }
}

const medians = Object.fromEntries(Object.entries(times).map(([row, values]) => [row, median(values)]));
console.log(
  JSON.stringify({
    ...medians,
    embedBytes: Buffer.byteLength(embed),
    embedGzipBytes: gzipSync(embed).length,
  }),
);
process.exit(0);
