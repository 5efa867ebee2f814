import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readInboxEmbed, scriptTags } from './helpers/site.js';

/**
 * examples/express-generator: a synchronous app.js (CommonJS, required by bin/www) that starts the emulator in its
 * own process without awaiting it, and the `reteno-emulator` commands that drive that emulator from another one.
 * The site runs as its own process, from the build in dist/, as `node ./bin/www` runs it.
 */

const www = fileURLToPath(new URL('../examples/express-generator/bin/www.cjs', import.meta.url));
const cli = fileURLToPath(new URL('../dist/esm/emulator/cli.js', import.meta.url));

/** The environment of a development machine: no Reteno settings, no NODE_ENV. */
function developmentEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const {
    RETENO_API_KEY: _key,
    RETENO_SCRIPT_ID: _script,
    RETENO_BASE_URL: _base,
    NODE_ENV: _env,
    ...rest
  } = process.env;
  return { ...rest, PORT: '0', ...extra };
}

/** A port that was free a moment ago (the site's emulator needs one it is told in advance). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Starts bin/www; resolves with the site's origin once it listens. */
async function startSite(env: NodeJS.ProcessEnv): Promise<{ site: ChildProcess; origin: string }> {
  const site = spawn(process.execPath, [www], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const [line] = (await once(site.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  const origin = /Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line.toString())?.[1];
  if (!origin) throw new Error(`bin/www printed ${line.toString()}`);
  return { site, origin };
}

async function stop(site: ChildProcess): Promise<void> {
  if (site.exitCode !== null) return;
  site.kill();
  await once(site, 'exit');
}

/** Runs bin/www to its end; resolves with its exit code and what it printed on stderr. */
async function runToExit(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const site = spawn(process.execPath, [www], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  site.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(site, 'exit')) as [number | null];
  return { code, stderr };
}

describe('examples/express-generator: a synchronous app.js with the emulator', () => {
  let site: ChildProcess;
  let origin: string;
  let emulatorUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    emulatorUrl = `http://127.0.0.1:${port}`;
    ({ site, origin } = await startSite(developmentEnv({ RETENO_EMULATOR_PORT: String(port) })));
  });
  afterAll(() => stop(site));

  it('serves the embed to a signed-in visitor and a token from its emulator, and the CLI pushes to it', async () => {
    expect(scriptTags(await (await fetch(`${origin}/`)).text())).toHaveLength(0);

    const signIn = await fetch(`${origin}/sign-in`, {
      method: 'POST',
      body: new URLSearchParams({ user: 'anna' }),
      redirect: 'manual',
    });
    expect(signIn.status).toBe(303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await (await fetch(`${origin}/`, { headers: { cookie } })).text();
    const embed = readInboxEmbed(page);
    expect(embed?.loader).toContain(`"${emulatorUrl}/scripts/00000000-0000-4000-8000-000000000000.js"`);
    expect(embed?.config).toMatchObject({ tokenUrl: '/reteno/app-inbox/token', language: 'en' });
    const client = await fetch(`${origin}${embed?.clientUrl}`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/javascript/);

    const token = await fetch(`${origin}/reteno/app-inbox/token`, {
      method: 'POST',
      headers: { cookie, 'X-Reteno-Inbox': '1' },
    });
    expect(token.status).toBe(200);
    expect(((await token.json()) as { token: string }).token).toMatch(/.{32,}/);

    const run = promisify(execFile);
    const pushed = await run(process.execPath, [
      cli,
      'push',
      '--url',
      emulatorUrl,
      '--to',
      'anna@example.com',
      '--title',
      'From the shell',
    ]);
    expect(pushed.stdout).toMatch(/^Pushed "From the shell" to anna@example\.com/);
    const listed = await run(process.execPath, [
      cli,
      'messages',
      '--url',
      emulatorUrl,
      '--contact',
      'anna@example.com',
      '--json',
    ]);
    expect((JSON.parse(listed.stdout) as { title: string }[]).map((message) => message.title)).toEqual([
      'From the shell',
      'Welcome',
    ]);
  });

  it("exits with a message naming RETENO_EMULATOR_PORT when the emulator's port is taken", async () => {
    const taken: Server = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const { port } = taken.address() as AddressInfo;
      const result = await runToExit(developmentEnv({ RETENO_EMULATOR_PORT: String(port) }));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^Reteno emulator: .*EADDRINUSE.*set RETENO_EMULATOR_PORT/m);
    } finally {
      taken.close();
    }
  });

  it('refuses to start in production without RETENO_API_KEY instead of running the emulator', async () => {
    const result = await runToExit(developmentEnv({ NODE_ENV: 'production' }));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Set RETENO_API_KEY and RETENO_SCRIPT_ID');
  });
});
