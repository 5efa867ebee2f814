// The sites under measurement, in a process of their own. The sites of one comparison share the process, so
// they share its JIT, heap and CPU; each compiles its own templates (see ownTemplates). Every site has the same
// stand-in for the site's own sign-in (a cookie looked up in a Map) and the same page, so the only difference is
// what is being measured.
import { readFileSync } from 'node:fs';
import { Agent, createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ejs from 'ejs';
import express from 'express';
import { retenoInbox } from 'express-reteno-inbox';
import got from 'got';
import { answerParent } from './child-process.js';
import {
  apiKey,
  floor,
  freshNonce,
  scriptId,
  setFloorEmbed,
  signedInContact,
  tokenPath,
} from './fixtures.js';
import { pageNamed } from './pages.js';

const { values: args } = parseArgs({
  options: {
    variants: { type: 'string' },
    page: { type: 'string', default: 'shop' },
    upstream: { type: 'string', default: 'http://127.0.0.1:9' },
    timeout: { type: 'string', default: '5000' },
    retries: { type: 'string', default: '2' },
    // Time each request's synchronous handling (see `handling` below).
    'time-handling': { type: 'boolean', default: false },
  },
});

const page = pageNamed(args.page);

let unhandledRejections = 0;
process.on('unhandledRejection', () => {
  unhandledRejections += 1;
});

/**
 * An EJS engine that compiles each view once for this site alone, as a site in a process of its own has it.
 * With EJS's own cache, the sites of a process would share one template function, and so V8's optimized code
 * for it: code specialised on one site's helper deoptimizes on every page of another, and `--trace-deopt` showed
 * some processes stuck in that loop (over 900 deoptimizations of one on-stack-replacement code), slowing one site
 * by about 11%. A leading comment makes each site's source text its own, so no compilation cache can hand two
 * sites one function.
 */
function ownTemplates(label) {
  const templates = new Map();
  return (path, options, callback) => {
    let template = templates.get(path);
    if (template === undefined) {
      template = ejs.compile(`<% /* ${label} */ %>${readFileSync(path, 'utf8')}`, { filename: path });
      templates.set(path, template);
    }
    let html;
    try {
      html = template(options);
    } catch (error) {
      callback(error);
      return;
    }
    callback(null, html);
  };
}

function createSite(variant) {
  const counts = { requests: 0, resolveContactCalls: 0, siteErrors: 0 };
  const app = express();
  app.set('views', fileURLToPath(new URL('./views', import.meta.url)));
  app.set('view engine', 'ejs');
  app.set('view cache', true);
  app.engine('ejs', ownTemplates(variant));
  app.set('etag', false);
  app.set('x-powered-by', false);

  app.use((req, _res, next) => {
    counts.requests += 1;
    req.user = signedInContact(req);
    next();
  });
  const resolveContact = (req) => {
    counts.resolveContactCalls += 1;
    return req.user;
  };
  const useInbox = () =>
    app.use(
      retenoInbox({
        apiKey,
        scriptId,
        baseUrl: args.upstream,
        resolveContact,
        timeout: Number(args.timeout),
        retries: Number(args.retries),
      }),
    );
  const useNonce = () => app.use(freshNonce);
  const servePage = () =>
    app.get('/page', (req, res) => {
      res.render(page.view, { ...page.locals, user: req.user && { name: 'Anna' } });
    });

  switch (variant) {
    case 'page-with-middleware':
      useNonce();
      useInbox();
      servePage();
      break;
    case 'page-without-middleware':
      useNonce();
      servePage();
      break;
    case 'page-floor':
      // Its embed bytes are set by the parent.
      useNonce();
      app.use(floor);
      servePage();
      break;
    case 'token-route':
      useInbox();
      break;
    case 'token-bare': {
      // What a site would write by hand: the same upstream call with got, on a keep-alive agent.
      const client = got.extend({
        agent: { http: new Agent({ keepAlive: true }) },
        headers: { authorization: `Basic ${Buffer.from(`bench:${apiKey}`).toString('base64')}` },
        responseType: 'json',
      });
      const endpoint = `${args.upstream}/v1/auth/contact/token`;
      app.post(tokenPath, async (req, res, next) => {
        try {
          const contact = resolveContact(req);
          if (!contact) {
            res.status(401).json({ error: 'unauthenticated' });
            return;
          }
          const { body } = await client.post(endpoint, { json: contact });
          res.json({ token: body.token });
        } catch (error) {
          next(error);
        }
      });
      break;
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }

  app.use((_error, _req, res, _next) => {
    counts.siteErrors += 1;
    res.status(500).json({ error: 'site_error' });
  });
  return { app, counts };
}

const sites = {};
const servers = [];
// `name#2` is a second, identical site, for a comparison of a site with itself.
for (const variant of (args.variants ?? '').split(',')) {
  const { app, counts } = createSite(variant.split('#')[0]);
  const handling = { nanoseconds: 0, requests: 0 };
  // Everything a page request does in JavaScript, from Express's first layer to res.end(), runs in this one
  // call: sign-in, the middleware, rendering and sending are synchronous here.
  const server = createServer(
    args['time-handling']
      ? (req, res) => {
          const start = process.hrtime.bigint();
          app(req, res);
          handling.nanoseconds += Number(process.hrtime.bigint() - start);
          handling.requests += 1;
        }
      : app,
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  sites[variant] = { url: `http://127.0.0.1:${server.address().port}`, counts, handling };
}

answerParent({
  ready: () => ({
    urls: Object.fromEntries(Object.entries(sites).map(([variant, site]) => [variant, site.url])),
  }),
  counts: (variant) => ({ ...sites[variant].counts, unhandledRejections, cpu: process.cpuUsage() }),
  // Each site's synchronous handling since the last call, and starts counting anew.
  handling: () => {
    const answer = {};
    for (const [variant, site] of Object.entries(sites)) {
      answer[variant] = { ...site.handling };
      site.handling.nanoseconds = 0;
      site.handling.requests = 0;
    }
    return answer;
  },
  memory: () => {
    globalThis.gc?.();
    return process.memoryUsage();
  },
  floorEmbed: setFloorEmbed,
  close: () =>
    Promise.all(
      servers.map(
        (server) =>
          new Promise((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    ),
});
