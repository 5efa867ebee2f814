import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseDoctorArguments, UsageError } from '../src/doctor/arguments.js';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { checkNamed, checkNames, runDoctor, runDoctorJson, runDoctorMeasured } from './helpers/doctor.js';

// The doctor pointed at pages and settings made to abuse it: real servers on 127.0.0.1 serve the pages, the
// emulator plays Reteno. It must keep the API key and the session cookie where they belong, print nothing a page
// could use to forge a line of its report, and read any page in little time and memory.

const apiKey = 'hostile-doctor-api-key-3f9a1c';
const scriptId = '0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b';
const keyEnv = { RETENO_API_KEY: apiKey };
const MiB = 1024 * 1024;

interface Recorded {
  method: string | undefined;
  url: string | undefined;
  cookie: string | undefined;
}

interface Running {
  origin: string;
  /** Every request the server got. */
  requests: Recorded[];
}

// Characters that move the cursor, clear lines, start a new line or reorder text on a terminal.
const unprintable = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const forgery = '\u001b[1A\u001b[2K\r\n✓ All checks passed.\u009b2K\u202e';

describe('reteno-inbox-doctor against hostile pages and settings', () => {
  let emulator: RetenoEmulator;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    emulator = await createRetenoEmulator({ apiKey, scriptId });
  });
  afterAll(async () => {
    await Promise.all(closers.map((close) => close()));
    await emulator.close();
  });

  async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Running> {
    const requests: Recorded[] = [];
    const server = createServer((req, res) => {
      requests.push({ method: req.method, url: req.url, cookie: req.headers.cookie });
      handle(req, res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
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
      '--cookie',
      'connect.sid=s%3Asecret-session',
      ...extra,
    ];
  }

  /** A page with an embed that loads the emulator's script, calls `tokenUrl` and carries `nonce`. */
  function embedPage(tokenUrl: string, nonce: string): string {
    return `<!doctype html><head><script nonce="${nonce}">!function(t,e,c,n){t.eS=t.eS||f}(window,document,'script',${JSON.stringify(`${emulator.url}/scripts/${scriptId}.js`)});eS('init',{APP_INBOX:true},{getAuthTokenCallback:()=>fetch(${JSON.stringify(tokenUrl)},{method:'POST',headers:{"X-Reteno-Inbox":"1"}})})</script></head>`;
  }

  describe('settings', () => {
    it.each([
      ['--base-url', 'http://reteno.example'],
      ['--script-base-url', 'http://statics.example/scripts/'],
    ])('refuses http: for a %s that is not loopback without --allow-http', async (flag, url) => {
      const run = await runDoctor(['--script-id', scriptId, flag, url], keyEnv);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(
        `reteno-inbox-doctor: ${flag} uses http: for a host that is not loopback, so the API key would cross the network in clear text. Use https:, or pass --allow-http for a trusted network.`,
      );
    });

    it('takes http: for such a host with --allow-http, and for loopback hosts without it', () => {
      const settings = (args: string[]) => {
        const command = parseDoctorArguments(['--script-id', scriptId, ...args], keyEnv);
        if (command.kind !== 'check') throw new Error('not a check');
        return command.settings;
      };
      expect(settings(['--allow-http', '--base-url', 'http://reteno.example']).baseUrl).toBe(
        'http://reteno.example',
      );
      expect(settings(['--base-url', 'http://localhost:4010']).baseUrl).toBe('http://localhost:4010');
    });

    it.each([
      ['a backslash', '/\\{host}/steal'],
      ['two backslashes', '\\\\{host}/steal'],
      ['two slashes', '//{host}/steal'],
      ['a line break', '/token\n'],
    ])('refuses a --token-path with %s, and sends nothing to another host', async (_case, path) => {
      const elsewhere = await serve((_req, res) => res.end());
      const site = await serve((_req, res) => res.end(embedPage('/reteno/app-inbox/token', 'n')));
      const tokenPath = path.replace('{host}', new URL(elsewhere.origin).host);
      const run = await runDoctor(doctorArgs(`${site.origin}/`, '--token-path', tokenPath), keyEnv);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("--token-path must be a path starting with one '/'");
      expect(elsewhere.requests).toEqual([]);
      expect(site.requests).toEqual([]);
    });
  });

  describe('pages', () => {
    it("calls the token route on the page's origin only, whatever URL the page's embed names", async () => {
      const elsewhere = await serve((_req, res) => res.end());
      const stolenUrl = `\\\\${new URL(elsewhere.origin).host}/steal`;
      const site = await serve((req, res) => {
        if (req.method === 'GET') res.end(embedPage(stolenUrl, 'n'));
        else res.writeHead(404).end();
      });
      const { report } = await runDoctorJson(doctorArgs(`${site.origin}/account`), keyEnv);
      expect(elsewhere.requests).toEqual([]);
      expect(checkNamed(report.checks, checkNames.embed)).toMatchObject({
        ok: false,
        detail: `the embed calls its token route off the page's origin: "${stolenUrl}"`,
      });
      // The probes go to the default path on the page's own origin.
      expect(site.requests.filter(({ method }) => method === 'POST').map(({ url }) => url)).toEqual(
        Array(3).fill('/reteno/app-inbox/token'),
      );
    });

    it('prints no control character that the page or the site sends, so none can forge a line', async () => {
      const site = await serve((req, res) => {
        if (req.method === 'GET') {
          res.setHeader('content-security-policy', "script-src 'nonce-abc'");
          res.end(embedPage('/reteno/app-inbox/token', forgery.replace('"', '')));
          return;
        }
        res.writeHead(403, { 'content-type': 'application/json', 'x-reteno-inbox': '1' });
        res.end(JSON.stringify({ error: forgery }));
      });
      const [plain, json] = await Promise.all([
        runDoctor(doctorArgs(`${site.origin}/account`), keyEnv),
        runDoctorJson(doctorArgs(`${site.origin}/account`), keyEnv),
      ]);
      expect(plain.code).toBe(1);
      const lines = plain.stdout.trimEnd().split('\n');
      expect(lines.filter((line) => unprintable.test(line))).toEqual([]);
      // Every line is a check, a fix, the blank line or the summary: none came from the page.
      expect(lines.filter((line) => !/^(✓ |✗ |– | {4}fix: |$)/.test(line))).toEqual([
        '4 of 8 checks failed.',
      ]);
      expect(checkNamed(json.report.checks, checkNames.nonce).detail).toContain(
        'has nonce "\\x1B[1A\\x1B[2K\\x0A✓ All checks passed.\\x9B2K\\u202E"',
      );
      expect(checkNamed(json.report.checks, checkNames.signedIn).detail).toBe(
        'HTTP 403 {"error":"\\x1B[1A\\x1B[2K\\x0D\\x0A✓ All checks passed.\\x9B2K\\u202E"}',
      );
      for (const check of json.report.checks) expect(unprintable.test(check.detail)).toBe(false);
    });

    it('reads at most 2 MiB of a 200 MiB page, in little memory, and says so', async () => {
      const chunk = Buffer.from('<p>A very long page.</p>\n'.repeat(2600));
      let sent = 0;
      const site = await serve((req, res) => {
        if (req.method !== 'GET') {
          res.writeHead(404).end();
          return;
        }
        res.setHeader('content-type', 'text/html');
        let closed = false;
        res.on('close', () => {
          closed = true;
        });
        const write = () => {
          while (!closed && sent < 200 * MiB) {
            sent += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', write);
              return;
            }
          }
          res.end();
        };
        write();
      });
      const run = await runDoctorMeasured([...doctorArgs(`${site.origin}/account`), '--json'], keyEnv);
      const { checks } = JSON.parse(run.stdout) as { checks: { name: string; detail: string }[] };
      expect(checkNamed(checks as never, checkNames.embed).detail).toBe(
        `no Reteno loader and no eS('init' on ${site.origin}/account (in its first 2 MiB)`,
      );
      // 740 MiB before the page was cut; a Node process itself takes 50 to 100 MiB.
      expect(run.usage.maxRssMiB).toBeLessThan(200);
      // The doctor hung up: the server could not send the whole page (socket buffers hold a few MiB).
      expect(sent).toBeLessThan(64 * MiB);
    });

    it('checks a page of 80,000 unclosed <script> tags in a fraction of the CPU time it took', async () => {
      const site = await serve((req, res) => {
        if (req.method === 'GET') res.end('<script>'.repeat(80_000));
        else res.writeHead(404).end();
      });
      const run = await runDoctorMeasured(doctorArgs(`${site.origin}/account`), keyEnv);
      expect(run.code).toBe(1);
      // 9 s of CPU before; now Node's start-up and the requests, a few hundred ms, for the whole run.
      expect(run.usage.cpuMs).toBeLessThan(3000);
    });
  });

  it('names the flag of a bad --header and --cookie-jar, and never echoes their values', () => {
    const parse = (args: string[]) => () =>
      parseDoctorArguments(
        ['--script-id', scriptId, '--site-url', 'http://127.0.0.1:1/', '--cookie', 'a=b', ...args],
        keyEnv,
      );
    expect(parse(['--header', 'x-secret secret-value'])).toThrow(
      new UsageError("--header must be 'name: value', in visible ASCII characters."),
    );
    expect(parse(['--header', 'Cookie: secret-value'])).toThrow(
      new UsageError('give cookies with --cookie or --cookie-jar, not --header.'),
    );
    expect(parse(['--header', 'Origin: https://evil.example'])).toThrow(
      new UsageError('--header cannot set Origin: the doctor sets it on each request.'),
    );
    expect(parse(['--cookie-jar', '/nonexistent/cookies.txt'])).toThrow(
      new UsageError('--cookie-jar: cannot read the file (ENOENT).'),
    );
  });
});
