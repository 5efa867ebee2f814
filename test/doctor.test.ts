import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import csurf from 'csurf';
import type { Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
// The demo is plain JavaScript that imports the built package, as a site would.
import { createDemo } from '../examples/demo/server.js';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { type RetenoInboxOptions, retenoInboxCsp } from '../src/index.js';
import { basicCredentials } from '../src/credentials.js';
import { checkNamed, checkNames, failedChecks, runDoctor, runDoctorJson } from './helpers/doctor.js';
import { apiKey, buildSite, type SiteOptions, scriptId } from './helpers/site.js';

/** A nonce per request in `res.locals[local]` and helmet's CSP with these directives. */
function csp(directives: Record<string, unknown>, local = 'cspNonce'): RequestHandler[] {
  return [
    (_req, res, next) => {
      res.locals[local] = randomBytes(16).toString('base64');
      next();
    },
    helmet({ contentSecurityPolicy: { directives: directives as never } }) as RequestHandler,
  ];
}

const nonceSource = (_req: Request, res: Response) => `'nonce-${String(res.locals.cspNonce)}'`;

interface RunningSite {
  url: string;
  /** The session cookie of Anna, signed in. */
  cookie: string;
  close(): Promise<void>;
}

describe('reteno-inbox-doctor', () => {
  let emulator: RetenoEmulator;
  const sites: RunningSite[] = [];

  beforeAll(async () => {
    emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [{ email: 'anna@example.com' }] });
  });
  afterAll(async () => {
    await Promise.all(sites.map((site) => site.close()));
    await emulator.close();
  });

  /** A site built with the package on the emulator, listening on 127.0.0.1, and Anna's signed-in cookie. */
  async function startSite(options: Partial<RetenoInboxOptions> = {}, site: SiteOptions = {}) {
    const { app } = buildSite(
      { baseUrl: emulator.url, scriptBaseUrl: `${emulator.url}/scripts/`, ...options },
      site,
    );
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const signIn = await fetch(`${url}/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'anna' }),
    });
    expect(signIn.status).toBe(204);
    const running: RunningSite = {
      url,
      cookie: signIn.headers.get('set-cookie')?.split(';')[0] ?? '',
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
    sites.push(running);
    return running;
  }

  /** The command line for the emulator and a site's /page, as a signed-in Anna; the key comes from the environment. */
  function argsFor(site: RunningSite, extra: string[] = []): string[] {
    return [
      '--base-url',
      emulator.url,
      '--script-base-url',
      `${emulator.url}/scripts/`,
      '--script-id',
      scriptId,
      '--site-url',
      `${site.url}/page`,
      '--cookie',
      site.cookie,
      ...extra,
    ];
  }

  const keyEnv = { RETENO_API_KEY: apiKey };

  /** A site with a nonce per request and retenoInboxCsp's directives for the emulator: what the README sets up. */
  const correctSite = () =>
    startSite(
      {},
      { before: csp(retenoInboxCsp({ scriptSrc: ["'self'", nonceSource] }, { emulatorUrl: emulator.url })) },
    );

  describe('on a correct set-up', () => {
    it('passes every check and exits 0', async () => {
      const site = await correctSite();
      const run = await runDoctor(argsFor(site), keyEnv);
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines.slice(0, 8).map((line) => line.slice(0, 2))).toEqual(Array(8).fill('✓ '));
      expect(lines.at(-1)).toBe('All 8 checks passed.');
      expect(run.stdout).toContain(`✓ ${checkNames.signedIn}: HTTP 200 with a token`);
      expect(run.stderr).toBe('');
    });

    it('prints { ok, checks } with --json, each check with its name, detail and no fix', async () => {
      const site = await correctSite();
      const { code, report } = await runDoctorJson(argsFor(site), keyEnv);
      expect(code).toBe(0);
      expect(report.ok).toBe(true);
      expect(report.checks.map((check) => check.name)).toEqual(Object.values(checkNames));
      for (const check of report.checks) {
        expect(check).toEqual({ name: expect.any(String), ok: true, detail: expect.any(String), fix: null });
      }
    });

    it('passes a contact Reteno does not know: the route answers 404, which is its contract', async () => {
      const site = await startSite(
        {},
        { resolveContact: (req) => (req.session.contact ? { email: 'nobody@example.com' } : undefined) },
      );
      const { code, report } = await runDoctorJson(argsFor(site), keyEnv);
      expect(code).toBe(0);
      expect(checkNamed(report.checks, checkNames.signedIn).detail).toMatch(/^HTTP 404 .*contact_not_found/);
    });

    it('checks Reteno only without --site-url, and says how to check the site', async () => {
      const run = await runDoctor(argsFor(await correctSite()).slice(0, 6), keyEnv);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`✓ ${checkNames.apiKey}`);
      expect(run.stdout).toContain(`✓ ${checkNames.script}`);
      expect(run.stdout).toContain('All 2 checks passed.');
      expect(run.stdout).toContain('Add --site-url and --cookie');
    });
  });

  describe('the demo', () => {
    it('prints the doctor command that checks it, and that command passes', async () => {
      const lines: string[] = [];
      const demo = await createDemo({ port: 0, env: {}, log: (line: string) => lines.push(line) });
      try {
        const command = lines.find((line) => line.startsWith('Check it: ')) ?? '';
        expect(command).toContain(' npx reteno-inbox-doctor ');
        expect(command).toContain(`--site-url ${demo.url}/ `);
        expect(command).toContain(`curl -si -d user=anna ${demo.url}/sign-in`);
        // Run what it prints: the key from RETENO_API_KEY=…, each --flag value, the cookie of a sign-in.
        const env = { RETENO_API_KEY: /RETENO_API_KEY=(\S+) /.exec(command)?.[1] ?? '' };
        const flags = [...command.matchAll(/(--(?!cookie)[a-z-]+) ([^\s"]+)/g)].flatMap(([, flag, value]) => [
          flag as string,
          value as string,
        ]);
        expect(flags).toEqual([
          '--base-url',
          demo.emulator?.url,
          '--script-base-url',
          `${demo.emulator?.url}/scripts/`,
          '--script-id',
          expect.any(String),
          '--site-url',
          `${demo.url}/`,
        ]);
        const signIn = await fetch(`${demo.url}/sign-in`, {
          method: 'POST',
          body: new URLSearchParams({ user: 'anna' }),
          redirect: 'manual',
        });
        const cookie = /demo\.sid=[^;]*/.exec(signIn.headers.get('set-cookie') ?? '')?.[0] ?? '';
        const run = await runDoctor([...flags, '--cookie', cookie], env);
        expect(run.stdout).toContain('All 8 checks passed.');
        expect(run.code).toBe(0);
      } finally {
        await demo.close();
      }
    });

    it('names a real API key by its variable only', async () => {
      const reteno = await createRetenoEmulator({ apiKey: 'real-key-123', scriptId });
      const lines: string[] = [];
      const demo = await createDemo({
        port: 0,
        env: { RETENO_API_KEY: 'real-key-123', RETENO_SCRIPT_ID: scriptId, RETENO_BASE_URL: reteno.url },
        log: (line: string) => lines.push(line),
      });
      try {
        const command = lines.find((line) => line.startsWith('Check it: ')) ?? '';
        expect(command).toContain(
          `RETENO_API_KEY="$RETENO_API_KEY" npx reteno-inbox-doctor --base-url ${reteno.url} --script-id ${scriptId} `,
        );
        expect(lines.join('\n')).not.toContain('real-key-123');
      } finally {
        await demo.close();
        await reteno.close();
      }
    });
  });

  describe('on a broken set-up', () => {
    it('catches a wrong API key, and says why Reteno refuses keys', async () => {
      const site = await correctSite();
      const { code, report } = await runDoctorJson(argsFor(site), { RETENO_API_KEY: 'wrong-key-5e1f' });
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      expect(failedChecks(report.checks)).toEqual([checkNames.apiKey]);
      const check = checkNamed(report.checks, checkNames.apiKey);
      expect(check.detail).toContain('HTTP 401');
      expect(check.detail).toContain('refused, disabled (unused 90 days) or lacking rights');
      expect(check.fix).toContain('Settings > API keys');
    });

    it('catches a wrong script id: the emulator answers 404 for it', async () => {
      const site = await correctSite();
      const otherId = '11111111-2222-4333-8444-555555555555';
      const args = argsFor(site);
      args.splice(args.indexOf('--script-id') + 1, 1, otherId);
      const { code, report } = await runDoctorJson(args, keyEnv);
      expect(code).toBe(1);
      const check = checkNamed(report.checks, checkNames.script);
      expect(check).toMatchObject({ ok: false, detail: expect.stringMatching(/^HTTP 404, /) });
      expect(check.fix).toMatch(/^Wrong script id\?/);
      // The site loads its own script id, not the one the doctor was given.
      expect(checkNamed(report.checks, checkNames.embed).detail).toBe(
        `the loader does not load ${emulator.url}/scripts/${otherId}.js`,
      );
    });

    it('catches a CSP without the script host', async () => {
      const site = await startSite(
        {},
        { before: csp({ scriptSrc: ["'self'", nonceSource], connectSrc: ["'self'", emulator.url] }) },
      );
      const { code, report } = await runDoctorJson(argsFor(site), keyEnv);
      expect(code).toBe(1);
      expect(failedChecks(report.checks)).toEqual([checkNames.hosts]);
      const check = checkNamed(report.checks, checkNames.hosts);
      expect(check.detail).toBe(`script-src lacks ${emulator.url}`);
      expect(check.fix).toContain('retenoInboxCsp(directives, { emulatorUrl })');
      expect(check.fix).toContain('#content-security-policy');
    });

    it("catches a CSP that keeps Reteno's script from calling Reteno", async () => {
      const site = await startSite({}, { before: csp({ scriptSrc: ["'self'", nonceSource, emulator.url] }) });
      const { report } = await runDoctorJson(argsFor(site), keyEnv);
      // helmet's default-src 'self' governs connect-src.
      expect(checkNamed(report.checks, checkNames.hosts).detail).toBe(`default-src lacks ${emulator.url}`);
    });

    it('catches a missing nonce: the CSP has one, the embed is printed without it', async () => {
      // The site keeps its nonce in res.locals.nonce; the package reads res.locals.cspNonce.
      const site = await startSite(
        {},
        {
          before: csp(
            retenoInboxCsp(
              {
                scriptSrc: [
                  "'self'",
                  (_req: Request, res: Response) => `'nonce-${String(res.locals.nonce)}'`,
                ],
              },
              { emulatorUrl: emulator.url },
            ),
            'nonce',
          ),
        },
      );
      const { code, report } = await runDoctorJson(argsFor(site), keyEnv);
      expect(code).toBe(1);
      expect(failedChecks(report.checks)).toEqual([checkNames.nonce]);
      const check = checkNamed(report.checks, checkNames.nonce);
      expect(check.detail).toMatch(
        /^the CSP's script-src allows 'nonce-[^']+'; the embed's <script> has no nonce$/,
      );
      expect(check.fix).toContain('res.locals.cspNonce');
    });

    it('catches the token route behind a CSRF middleware, and points to the mount order', async () => {
      const site = await startSite({}, { before: [csurf()] });
      const run = await runDoctor(argsFor(site), keyEnv);
      expect(run.code).toBe(1);
      const { report } = await runDoctorJson(argsFor(site), keyEnv);
      expect(failedChecks(report.checks)).toEqual([
        checkNames.anonymous,
        checkNames.crossSite,
        checkNames.signedIn,
      ]);
      for (const name of failedChecks(report.checks)) {
        const check = checkNamed(report.checks, name);
        expect(check.detail).toBe(
          'HTTP 403 without the x-reteno-inbox header: something other than the token route answered',
        );
        expect(check.fix).toBe(
          'The token route sits behind a CSRF middleware: mount retenoInbox before it or pass csrfToken (https://github.com/express-reteno-inbox/express-reteno-inbox#mount-order).',
        );
      }
      expect(run.stdout).toContain(`✗ ${checkNames.signedIn}: HTTP 403 without the x-reteno-inbox header`);
      expect(run.stdout).toContain('    fix: The token route sits behind a CSRF middleware');
      expect(run.stdout.trim().split('\n').at(-1)).toBe('3 of 8 checks failed.');
    });

    it('catches the token route behind a login guard: a redirect is not the route', async () => {
      const loginGuard: RequestHandler = (req, res, next) => {
        if (req.session.contact) next();
        else res.redirect('/login');
      };
      const site = await startSite({}, { before: [loginGuard] });
      const { report } = await runDoctorJson(argsFor(site), keyEnv);
      expect(failedChecks(report.checks)).toEqual([checkNames.anonymous]);
      expect(checkNamed(report.checks, checkNames.anonymous)).toMatchObject({
        detail: 'HTTP 302 without the x-reteno-inbox header: something other than the token route answered',
        fix: expect.stringMatching(
          /^A redirect \(to a sign-in page\?\): mount retenoInbox\(\) before the login guard/,
        ),
      });
    });

    it('catches a cookie that is not signed in', async () => {
      const site = await correctSite();
      const { report } = await runDoctorJson(argsFor({ ...site, cookie: 'connect.sid=nobody' }), keyEnv);
      expect(failedChecks(report.checks)).toEqual([checkNames.embed, checkNames.signedIn]);
      expect(checkNamed(report.checks, checkNames.signedIn).fix).toMatch(/^resolveContact found nobody/);
    });

    it('fails a check whose answer does not come within --timeout', async () => {
      emulator.fail({ kind: 'timeout', route: 'token', times: 1 });
      const args = ['--base-url', emulator.url, '--script-base-url', `${emulator.url}/scripts/`];
      const { code, report } = await runDoctorJson(
        [...args, '--script-id', scriptId, '--timeout', '300'],
        keyEnv,
      );
      expect(code).toBe(1);
      expect(report.checks[0]).toEqual({
        name: checkNames.apiKey,
        ok: false,
        detail: `no answer from ${emulator.url}/v1/auth/contact/token within 300 ms`,
        fix: 'Check --base-url (the baseUrl option) and that this machine reaches Reteno.',
      });
    });
  });

  describe('the API key', () => {
    const secretForms = [
      apiKey,
      basicCredentials(apiKey),
      'wrong-key-5e1f',
      basicCredentials('wrong-key-5e1f'),
    ];

    it.each([
      ['plain', [] as string[]],
      ['--json', ['--json']],
    ])('appears nowhere in the output (%s), whether Reteno takes it or not', async (_format, format) => {
      const site = await correctSite();
      // One after the other: the route answers a contact's second call while its first waits with a 429.
      const runs = [
        await runDoctor([...argsFor(site), ...format], keyEnv),
        await runDoctor([...argsFor(site), '--api-key', apiKey, ...format]),
        await runDoctor([...argsFor(site), '--api-key=wrong-key-5e1f', ...format]),
      ];
      expect(runs.map((run) => run.code)).toEqual([0, 0, 1]);
      for (const run of runs) {
        for (const secret of secretForms) {
          expect(run.stdout).not.toContain(secret);
          expect(run.stderr).not.toContain(secret);
        }
      }
    });

    it('appears nowhere in a usage error, even given without its flag', async () => {
      const runs = await Promise.all([
        runDoctor([apiKey, '--script-id', scriptId], keyEnv),
        runDoctor(['--api-key', apiKey, '--script-id', scriptId, '--timeout', apiKey]),
      ]);
      for (const run of runs) {
        expect(run.code).toBe(2);
        expect(run.stderr).not.toContain(apiKey);
      }
    });
  });

  describe('usage', () => {
    it.each([
      ['no script id', []],
      ['an unknown flag', ['--script-id', scriptId, '--site', 'http://127.0.0.1:1/']],
      ['a site without a cookie', ['--script-id', scriptId, '--site-url', 'http://127.0.0.1:1/']],
      ['a timeout that is not a number', ['--script-id', scriptId, '--timeout', 'soon']],
      ['a base URL that is not http(s)', ['--script-id', scriptId, '--base-url', 'ftp://reteno.com']],
    ])('exits 2 with the usage for %s', async (_case, args) => {
      const run = await runDoctor(args as string[], keyEnv);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^reteno-inbox-doctor: .+\n\nUsage: reteno-inbox-doctor /);
    });

    it('exits 2 without an API key, naming the variable', async () => {
      const run = await runDoctor(['--script-id', scriptId]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('--api-key or the RETENO_API_KEY variable');
    });

    it('prints the usage with --help and exits 0', async () => {
      const run = await runDoctor(['--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: reteno-inbox-doctor /);
    });
  });
});
