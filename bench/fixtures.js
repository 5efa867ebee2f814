// What the bench's processes share: the package, the site's sign-in, the requests, the child processes.
import { fork } from 'node:child_process';
import { pathToFileURL } from 'node:url';

export const apiKey = 'bench-api-key-5b1f0c';
export const scriptId = '0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b';
export const tokenPath = '/reteno/app-inbox/token';

/** The built package: BENCH_PACKAGE (the path of its entry module) if set, else the ESM build in dist/. */
export function loadPackage() {
  const entry = process.env.BENCH_PACKAGE;
  return import(entry ? pathToFileURL(entry).href : new URL('../dist/esm/index.js', import.meta.url).href);
}

/** The site's own sign-in, as a session middleware sets it for every request: `sid=anna` is anna@example.com. */
export function signIn(req, _res, next) {
  const id = /\bsid=(\w+)/.exec(req.headers.cookie ?? '')?.[1];
  req.user = id ? { email: `${id}@example.com` } : null;
  next();
}

/** Page requests as a browser sends them (the embed reads Accept-Language), and a token request as the embed does. */
const browser = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7',
  'user-agent':
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
};
export const headers = {
  anonymous: browser,
  signedIn: { ...browser, cookie: 'sid=anna' },
  token: { cookie: 'sid=anna', 'x-reteno-inbox': '1' },
};

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Starts a bench server process (see serveParent); resolves to `{ url, ask(question), stop() }` once it listens. */
export async function startChild(script, args = [], execArgv = []) {
  const child = fork(new URL(script, import.meta.url), args, { execArgv });
  const pending = [];
  child.on('message', (answer) => pending.shift()?.resolve(answer));
  child.on('exit', (code, signal) => {
    for (const { reject } of pending.splice(0)) reject(new Error(`${script} exited (${code ?? signal})`));
  });
  const ask = (question) =>
    new Promise((resolve, reject) => {
      if (!child.connected) return reject(new Error(`${script} has exited`));
      pending.push({ resolve, reject });
      child.send(question);
    });
  const stop = () =>
    new Promise((resolve) => (child.connected ? child.once('exit', resolve).kill() : resolve()));
  return { url: await ask('url'), ask, stop };
}

/** The child's side: answers each question with `answers[question]()`; closes on SIGTERM or a lost parent. */
export function serveParent(answers) {
  process.on('message', async (question) => process.send?.(await answers[question]()));
  const close = async () => {
    await answers.close();
    process.exit(0);
  };
  process.on('SIGTERM', close);
  process.on('disconnect', close);
}
