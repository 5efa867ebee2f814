import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { readInboxEmbed, scriptTags } from './helpers/site.js';

const scriptId = '0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b';

describe('a CommonJS Express/EJS site', () => {
  let emulator: RetenoEmulator;
  let site: ChildProcess;
  let origin: string;

  beforeAll(async () => {
    emulator = await createRetenoEmulator({
      apiKey: 'cjs-key',
      scriptId,
      contacts: [{ email: 'anna@example.com' }],
    });
    // require() of the built package, in a process of its own, as a CommonJS site runs it.
    site = spawn(
      process.execPath,
      [fileURLToPath(new URL('../examples/commonjs/server.cjs', import.meta.url))],
      {
        env: {
          ...process.env,
          PORT: '0',
          RETENO_API_KEY: 'cjs-key',
          RETENO_SCRIPT_ID: scriptId,
          RETENO_BASE_URL: emulator.url,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const [line] = (await once(site.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    origin = line.toString().trim();
  });
  afterAll(async () => {
    site.kill();
    await once(site, 'exit');
    await emulator.close();
  });

  it('serves the embed to a signed-in visitor and tokens from the route', async () => {
    const anonymous = await (await fetch(`${origin}/`)).text();
    expect(scriptTags(anonymous)).toHaveLength(0);

    const signIn = await fetch(`${origin}/sign-in`, {
      method: 'POST',
      body: new URLSearchParams({ email: 'anna@example.com' }),
      redirect: 'manual',
    });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await (await fetch(`${origin}/`, { headers: { cookie } })).text();
    expect(scriptTags(page)).toHaveLength(2);
    expect(page).toContain(`"https://statics.esputnik.com/scripts/${scriptId}.js"`);
    const client = readInboxEmbed(page)?.clientUrl ?? 'no client';
    const script = await fetch(`${origin}${client}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');

    const token = await fetch(`${origin}/reteno/app-inbox/token`, {
      method: 'POST',
      headers: { cookie, 'X-Reteno-Inbox': '1' },
    });
    expect(token.status).toBe(200);
    expect(((await token.json()) as { token: string }).token).toEqual(expect.any(String));
  });
});
