import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  describeInChromium,
  expectCleanRun,
  listedMessages,
  navigateBy,
  openPanel,
  useChromium,
  waitForBellCount,
} from '../helpers/browser.js';

/**
 * Three processes, as a developer runs them: the stand-alone emulator (`reteno-emulator`), a site on it
 * (examples/express-generator with RETENO_BASE_URL), and `reteno-emulator push`, run while a signed-in tab is open.
 */

const testTimeoutMs = 60_000;
const cli = fileURLToPath(new URL('../../dist/esm/emulator/cli.js', import.meta.url));
const www = fileURLToPath(new URL('../../examples/express-generator/bin/www.cjs', import.meta.url));

/** Starts a process and resolves with the first match of `pattern` in what it prints. */
async function startPrinting(
  args: string[],
  env: NodeJS.ProcessEnv,
  pattern: RegExp,
): Promise<{ child: ChildProcess; match: string }> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let printed = '';
  const match = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}: ${printed}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      const found = pattern.exec(printed)?.[1];
      if (found !== undefined) resolve(found);
    });
  });
  return { child, match };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill();
  await once(child, 'exit');
}

describeInChromium('the stand-alone emulator, driven from another process (Chromium)', () => {
  const chromium = useChromium('emulator-push', testTimeoutMs);

  it(
    'shows a message pushed by `reteno-emulator push` in the open tab, without a reload',
    async () => {
      const emulator = await startPrinting(
        [cli, '--port', '0', '--contact', 'anna@example.com', '--poll-interval-ms', '300'],
        process.env,
        /listening on (http:\/\/127\.0\.0\.1:\d+)/,
      );
      chromium.afterTest(() => stop(emulator.child));
      const emulatorUrl = emulator.match;
      const site = await startPrinting(
        [www],
        {
          ...process.env,
          PORT: '0',
          // The command line's defaults.
          RETENO_API_KEY: 'emulator-api-key',
          RETENO_SCRIPT_ID: '00000000-0000-4000-8000-000000000000',
          RETENO_BASE_URL: emulatorUrl,
          RETENO_SCRIPT_BASE_URL: `${emulatorUrl}/scripts/`,
        },
        /Listening on (http:\/\/127\.0\.0\.1:\d+)/,
      );
      chromium.afterTest(() => stop(site.child));

      const { page, watched } = await chromium.openPage();
      await page.goto(`${site.match}/`);
      await navigateBy(page, () => page.click('button[value="anna"]'));
      await expect(page.textContent('h1')).resolves.toBe('Hello, Anna!');
      // The welcome message the command line gives each --contact.
      await waitForBellCount(page, 1);
      await page.evaluate(() => {
        (window as unknown as { loadedOnce: boolean }).loadedOnce = true;
      });
      const documentsBefore = watched.exchanges.filter((exchange) => exchange.resourceType === 'document');

      const pushed = await promisify(execFile)(process.execPath, [
        cli,
        'push',
        '--url',
        emulatorUrl,
        '--to',
        'anna@example.com',
        '--title',
        'Pushed from another process',
        '--content',
        'No reload needed',
      ]);
      expect(pushed.stdout).toMatch(/^Pushed "Pushed from another process" to anna@example\.com/);

      await waitForBellCount(page, 2);
      await openPanel(page);
      expect((await listedMessages(page)).map((message) => message.title)).toEqual([
        'Pushed from another process',
        'Welcome to the Reteno emulator',
      ]);
      // The same document: no navigation, no reload.
      await expect(
        page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce),
      ).resolves.toBe(true);
      expect(watched.exchanges.filter((exchange) => exchange.resourceType === 'document')).toEqual(
        documentsBefore,
      );
      expectCleanRun(watched);
    },
    testTimeoutMs,
  );
});
