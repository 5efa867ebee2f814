import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import csurf from 'csurf';
import type { ErrorRequestHandler, Express, RequestHandler } from 'express';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { createCsrfSite } from './fixtures/csrf-csrf-site/site.js';
import { csurfToken } from './fixtures/passport-site/site.js';
import {
  checkNamed,
  checkNames,
  type DoctorCheck,
  failedChecks,
  runDoctor,
  runDoctorJson,
} from './helpers/doctor.js';
import { apiKey, buildSite, scriptId } from './helpers/site.js';

// The doctor against sites whose CSRF middleware guards the token route, built as a new user builds them from the
// README: it must pass every check on a correct site without one CSRF failure in the site's log, and name the
// real cause on a broken one.

interface RunningSite {
  origin: string;
  /** The site's error log. */
  log: string[];
}

const tokenChecks = [checkNames.anonymous, checkNames.crossSite, checkNames.signedIn];

describe('reteno-inbox-doctor on sites behind a CSRF middleware', () => {
  let emulator: RetenoEmulator;
  let directory: string;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [{ email: 'anna@example.com' }] });
    directory = await mkdtemp(join(tmpdir(), 'reteno-inbox-doctor-'));
  });
  afterAll(async () => {
    await Promise.all(closers.map((close) => close()));
    await emulator.close();
    await rm(directory, { recursive: true, force: true });
  });

  const reteno = () => ({
    apiKey,
    scriptId,
    baseUrl: emulator.url,
    scriptBaseUrl: `${emulator.url}/scripts/`,
  });

  async function listen(app: Express, log: string[]): Promise<RunningSite> {
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log };
  }

  async function csrfCsrfSite(options: {
    passCsrfToken?: boolean;
    skipTokenRoute?: boolean;
    csrfHeader?: string;
  }) {
    const log: string[] = [];
    const { csrfHeader, ...site } = options;
    const app = await createCsrfSite({
      reteno: { ...reteno(), ...(csrfHeader ? { csrfHeader } : {}) },
      emulatorUrl: emulator.url,
      log: (line) => log.push(line),
      ...site,
    });
    return listen(app, log);
  }

  async function generatorSite(options: { passCsrfToken?: boolean; skipTokenRoute?: boolean } = {}) {
    const log: string[] = [];
    // The site's app.js is CommonJS; here `express` is the Express this project runs (4.16.4 under express4.16).
    const { default: createApp } = (await import('./fixtures/generator-site/app.cjs')) as {
      default: (options: object) => Express;
    };
    return listen(createApp({ reteno: reteno(), log: (line: string) => log.push(line), ...options }), log);
  }

  function doctorArgs(siteUrl: string, ...extra: string[]): string[] {
    return [
      '--base-url',
      emulator.url,
      '--script-base-url',
      `${emulator.url}/scripts/`,
      '--script-id',
      scriptId,
      '--site-url',
      siteUrl,
      ...extra,
    ];
  }

  const keyEnv = { RETENO_API_KEY: apiKey };

  function expectEveryCheckPassed(run: { code: number; report: { ok: boolean; checks: DoctorCheck[] } }) {
    expect(run.report.checks.filter((check) => !check.ok || check.skipped)).toEqual([]);
    expect(run.report.checks).toHaveLength(8);
    expect(run.code).toBe(0);
  }

  describe('a strict TypeScript site with csrf-csrf on every route', () => {
    it('passes every check, sending the CSRF header and cookie the page gives its embed, and the site logs no error', async () => {
      const site = await csrfCsrfSite({});
      const cookies = await signInWithForm(site.origin);
      const run = await runDoctorJson(
        doctorArgs(`${site.origin}/account`, '--cookie', cookieHeader(cookies)),
        keyEnv,
      );
      expectEveryCheckPassed(run);
      expect(checkNamed(run.report.checks, checkNames.signedIn).detail).toBe(
        'HTTP 200 with a token, with the x-csrf-token header and cookies the page gives its embed',
      );
      expect(checkNamed(run.report.checks, checkNames.anonymous).detail).toBe(
        `HTTP 401 {"error":"unauthenticated"}, as an anonymous visitor of ${site.origin}/login with its CSRF token`,
      );
      expect(site.log).toEqual([]);
    });

    it('passes with only the session cookie, as the README says to copy it', async () => {
      const site = await csrfCsrfSite({});
      const cookies = await signInWithForm(site.origin);
      const run = await runDoctorJson(
        doctorArgs(`${site.origin}/account`, '--cookie', `connect.sid=${cookies.get('connect.sid')}`),
        keyEnv,
      );
      expectEveryCheckPassed(run);
      expect(site.log).toEqual([]);
    });

    it('without csrfToken, fails the token-route checks on the CSRF 403 and suggests csrfToken', async () => {
      const site = await csrfCsrfSite({ passCsrfToken: false });
      const cookies = await signInWithForm(site.origin);
      const { code, report } = await runDoctorJson(
        doctorArgs(`${site.origin}/account`, '--cookie', cookieHeader(cookies)),
        keyEnv,
      );
      expect(code).toBe(1);
      expect(failedChecks(report.checks)).toEqual(tokenChecks);
      for (const name of tokenChecks) {
        expect(checkNamed(report.checks, name)).toMatchObject({
          detail: 'HTTP 403 without the x-reteno-inbox header: something other than the token route answered',
          fix: expect.stringContaining('pass csrfToken'),
        });
      }
      // What a correct site is spared: each probe a CSRF failure in its log.
      expect(site.log).toEqual(Array(3).fill('POST /reteno/app-inbox/token: 403 invalid csrf token'));
    });

    it('with csrfToken in a header the middleware does not read, says so instead of suggesting csrfToken', async () => {
      const site = await csrfCsrfSite({ csrfHeader: 'x-xsrf-token' });
      const cookies = await signInWithForm(site.origin);
      const { report } = await runDoctorJson(
        doctorArgs(`${site.origin}/account`, '--cookie', cookieHeader(cookies)),
        keyEnv,
      );
      expect(failedChecks(report.checks)).toEqual(tokenChecks);
      const check = checkNamed(report.checks, checkNames.signedIn);
      expect(check.detail).toBe(
        'HTTP 403 without the x-reteno-inbox header: something other than the token route answered, with the x-xsrf-token header and cookies the page gives its embed',
      );
      expect(check.fix).toContain('does it read x-xsrf-token (else set csrfHeader to the header it reads)');
      expect(check.fix).not.toContain('pass csrfToken');
    });

    it('passes when the CSRF middleware skips the token route, and the site logs no error', async () => {
      const site = await csrfCsrfSite({ passCsrfToken: false, skipTokenRoute: true });
      const cookies = await signInWithForm(site.origin);
      const run = await runDoctorJson(
        doctorArgs(`${site.origin}/account`, '--cookie', cookieHeader(cookies)),
        keyEnv,
      );
      expectEveryCheckPassed(run);
      expect(checkNamed(run.report.checks, checkNames.signedIn).detail).toBe('HTTP 200 with a token');
      expect(site.log).toEqual([]);
    });
  });

  describe('an express-generator site with passport-local and lusca', () => {
    it('passes every check with a cookie file as curl writes it, and the site logs no error', async () => {
      const site = await generatorSite();
      const cookies = await signInWithForm(site.origin);
      const jar = join(directory, 'generator-cookies.txt');
      await writeFile(jar, curlCookieFile('127.0.0.1', cookies));
      const run = await runDoctorJson(doctorArgs(`${site.origin}/account`, '--cookie-jar', jar), keyEnv);
      expectEveryCheckPassed(run);
      expect(site.log).toEqual([]);
    });

    it("passes when lusca's blocklist leaves the token route out, and the site logs no error", async () => {
      const site = await generatorSite({ passCsrfToken: false, skipTokenRoute: true });
      const cookies = await signInWithForm(site.origin);
      const run = await runDoctorJson(
        doctorArgs(`${site.origin}/account`, '--cookie', cookieHeader(cookies)),
        keyEnv,
      );
      expectEveryCheckPassed(run);
      expect(site.log).toEqual([]);
    });

    it("without csrfToken, fails on the error handler's 500 and names the CSRF middleware", async () => {
      const site = await generatorSite({ passCsrfToken: false });
      const cookies = await signInWithForm(site.origin);
      const { code, report } = await runDoctorJson(
        doctorArgs(`${site.origin}/account`, '--cookie', cookieHeader(cookies)),
        keyEnv,
      );
      expect(code).toBe(1);
      expect(failedChecks(report.checks)).toEqual(tokenChecks);
      const check = checkNamed(report.checks, checkNames.signedIn);
      expect(check.detail).toMatch(/^HTTP 500 without the x-reteno-inbox header/);
      expect(check.fix).toMatch(
        /a CSRF middleware that refuses through the error handler \(lusca\) answers 500/,
      );
      expect(check.fix).toContain('pass csrfToken');
      expect(site.log).toEqual(Array(3).fill('POST /reteno/app-inbox/token: 500 CSRF token missing'));
    });
  });

  describe('on other sites', () => {
    /** A site on buildSite with an error handler that logs, and Anna's session cookie. */
    async function signedInSite(app: Express) {
      const log: string[] = [];
      const logErrors: ErrorRequestHandler = (error: Error, req, res, _next) => {
        log.push(`${req.method} ${req.path}: ${error.message}`);
        res.status(500).send('error');
      };
      app.use(logErrors);
      const site = await listen(app, log);
      const signIn = await fetch(`${site.origin}/sign-in`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'anna' }),
      });
      return { ...site, cookie: signIn.headers.get('set-cookie')?.split(';')[0] ?? '' };
    }

    it('sends each --header with every request to the site', async () => {
      const seen: (string | undefined)[] = [];
      const gate: RequestHandler = (req, res, next) => {
        seen.push(req.get('x-staging-key'));
        if (req.path !== '/sign-in' && req.get('x-staging-key') !== 'open-sesame')
          res.status(401).send('gate');
        else next();
      };
      const site = await signedInSite(buildSite(reteno(), { configure: (app) => app.use(gate) }).app);
      seen.length = 0;
      const args = doctorArgs(`${site.origin}/page`, '--cookie', site.cookie);
      const run = await runDoctorJson([...args, '--header', 'X-Staging-Key: open-sesame'], keyEnv);
      expectEveryCheckPassed(run);
      // The page and the three token calls.
      expect(seen).toEqual(Array(4).fill('open-sesame'));
    });

    it('reports the anonymous check as not run, and exits 0, when no page gives an anonymous visitor a CSRF token', async () => {
      // csurf guards the token route and the page passes its token; anonymous visitors get a page without a form.
      const { app } = buildSite({ ...reteno(), csrfToken: csurfToken }, { before: [csurf()] });
      const site = await signedInSite(app);
      const args = doctorArgs(`${site.origin}/page`, '--cookie', site.cookie);
      // One after the other: the route answers a contact's second call while its first waits with a 429.
      const { code, report } = await runDoctorJson(args, keyEnv);
      const plain = await runDoctor(args, keyEnv);
      expect(code).toBe(0);
      expect(report.ok).toBe(true);
      const detail = `not run: the embed sends a CSRF token, so a CSRF middleware may guard the route, and the page an anonymous visitor gets (${site.origin}/page, HTTP 200) carries no CSRF token: no hidden _csrf field, no <meta name="csrf-token">`;
      expect(checkNamed(report.checks, checkNames.anonymous)).toEqual({
        name: checkNames.anonymous,
        ok: true,
        skipped: true,
        detail,
        fix: null,
      });
      expect(plain.code).toBe(0);
      expect(plain.stdout).toContain(`\n– ${checkNames.anonymous}: ${detail}\n`);
      expect(plain.stdout.trim().split('\n').at(-1)).toBe('All 7 checks passed, 1 could not run.');
      expect(site.log).toEqual([]);
    });

    it('calls the token route the embed calls, under the path the middleware is mounted on', async () => {
      const site = await signedInSite(buildSite(reteno(), { mountPath: '/shop' }).app);
      const run = await runDoctorJson(
        doctorArgs(`${site.origin}/shop/page`, '--cookie', site.cookie),
        keyEnv,
      );
      expectEveryCheckPassed(run);
    });
  });
});

/** Signs Anna in through the site's form, as a browser does, and returns the cookies the browser then holds. */
async function signInWithForm(origin: string): Promise<Map<string, string>> {
  const cookies = new Map<string, string>();
  const keep = (response: Response) => {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0] ?? '';
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
  };
  const form = await fetch(`${origin}/login`);
  keep(form);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  expect(csrf).not.toBe('');
  const signIn = await fetch(`${origin}/login`, {
    method: 'POST',
    headers: { cookie: cookieHeader(cookies) },
    body: new URLSearchParams({ _csrf: csrf, username: 'anna', password: 'anna-passphrase' }),
    redirect: 'manual',
  });
  keep(signIn);
  expect(signIn.headers.get('location')).toBe('/account');
  return cookies;
}

function cookieHeader(cookies: Map<string, string>): string {
  return [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
}

/** A cookie file as `curl -c` writes it after the sign-in: HttpOnly cookies behind the `#HttpOnly_` prefix. */
function curlCookieFile(host: string, cookies: Map<string, string>): string {
  return [
    '# Netscape HTTP Cookie File',
    '# https://curl.se/docs/http-cookies.html',
    '# This file was generated by libcurl! Edit at your own risk.',
    '',
    ...[...cookies].map(([name, value]) => `#HttpOnly_${host}\tFALSE\t/\tFALSE\t0\t${name}\t${value}`),
    '',
  ].join('\n');
}
