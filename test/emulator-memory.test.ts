import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The emulator's memory bounds, measured: each scenario runs in a Node process of its own, started with
 * --expose-gc, against the build in dist/ (test/fixtures/emulator-memory/run.mjs), and reports how much its heap
 * grew between two full garbage collections. docs/RELIABILITY.md quotes the figures.
 */

const MiB = 1024 * 1024;
const runner = fileURLToPath(new URL('./fixtures/emulator-memory/run.mjs', import.meta.url));
const emulatorModule = fileURLToPath(new URL('../dist/esm/emulator/index.js', import.meta.url));
// The upserts send 270 MiB through loopback: about 12 s alone, three times that on a busy 2-core machine.
const timeoutMs = 120_000;

interface MemoryRun {
  statuses: Record<string, number>;
  logged: number;
  contacts: number;
  heapGrowthBytes: number;
}

async function measure(scenario: 'upserts' | 'log'): Promise<MemoryRun> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', runner, emulatorModule, scenario],
    { timeout: timeoutMs - 5000 },
  );
  return JSON.parse(stdout) as MemoryRun;
}

describe('emulator memory', () => {
  it(
    'grows its heap by less than 100 MiB for 300 contact API upserts of 900 KiB; past maxStoreBytes they get 507',
    async () => {
      const run = await measure('upserts');
      expect(run.heapGrowthBytes).toBeLessThan(100 * MiB);
      // 32 MiB of contacts, each 450 KiB of firstName at two bytes a character: 36 of them.
      expect(run.contacts).toBeGreaterThan(10);
      expect(run.statuses).toEqual({ 200: run.contacts, 507: 300 - run.contacts });
      expect(run.logged).toBeGreaterThan(0);
    },
    timeoutMs,
  );

  it(
    'keeps its request log within maxLoggedBytes (16 MiB) of heap, even for bodies that take twenty times their text once parsed',
    async () => {
      const run = await measure('log');
      expect(run.logged).toBeGreaterThan(0);
      expect(run.logged).toBeLessThan(40);
      expect(run.heapGrowthBytes).toBeLessThan(16 * MiB + 4 * MiB);
    },
    timeoutMs,
  );
});
