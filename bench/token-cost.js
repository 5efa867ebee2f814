// One process of the tracing comparison; index.js runs several and reads the one JSON line each prints. One site,
// one stand-in for Reteno and the client in this process; token calls one at a time on kept-alive connections,
// in blocks of BENCH_BLOCK that take turns, in a random order, between nobody subscribing to the token channel and
// a subscriber that does nothing. A call is timed from the client's request to the end of the answer.
import { tracingChannel } from 'node:diagnostics_channel';
import { Agent, createServer, request } from 'node:http';
import express from 'express';
import { apiKey, headers, loadPackage, median, scriptId, signIn, tokenPath } from './fixtures.js';

// A quarter of the page rows' counts: a token call takes about a hundred times as long as a page layer.
const requests = Number(process.env.BENCH_REQUESTS ?? 20_000) / 4;
const warmUp = Number(process.env.BENCH_WARM_UP ?? 5000) / 4;
const block = Number(process.env.BENCH_BLOCK ?? 100);
const { retenoInbox, channelNames } = await loadPackage();

async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${server.address().port}`;
}
const reteno = await listen((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"bench-token"}');
});
const app = express().set('etag', false).use(signIn);
// No token budget: one contact asks thousands of times.
const options = { apiKey, scriptId, baseUrl: reteno, tokenBudget: false };
app.use(retenoInbox({ ...options, resolveContact: (req) => req.user }));
const site = new URL(await listen(app));
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function call() {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const options = { agent, host: site.hostname, port: site.port, path: tokenPath, method: 'POST' };
    request({ ...options, headers: headers.token }, (res) => {
      res.resume().on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`the token route answered ${res.statusCode}`));
        resolve((performance.now() - started) * 1000);
      });
    })
      .on('error', reject)
      .end();
  });
}

const channel = tracingChannel(channelNames.token);
const nothing = () => {};
const subscriber = { start: nothing, end: nothing, asyncStart: nothing, asyncEnd: nothing, error: nothing };
const times = { unsubscribed: [], subscribed: [] };
for (let round = 0; round < (warmUp + requests) / block; round++) {
  for (const row of Math.random() < 0.5 ? ['unsubscribed', 'subscribed'] : ['subscribed', 'unsubscribed']) {
    if (row === 'subscribed') channel.subscribe(subscriber);
    for (let sent = 0; sent < block; sent++) {
      const micros = await call();
      if (round * block >= warmUp) times[row].push(micros);
    }
    if (row === 'subscribed') channel.unsubscribe(subscriber);
  }
}
console.log(
  JSON.stringify({ unsubscribed: median(times.unsubscribed), subscribed: median(times.subscribed) }),
);
process.exit(0);
