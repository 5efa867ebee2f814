import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The built command, run as a user runs it: a child process talking to the emulator and real sites on 127.0.0.1.
export const doctorPath = fileURLToPath(new URL('../../dist/esm/doctor/index.js', import.meta.url));

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix: string | null;
  skipped?: true;
}

export interface DoctorRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** What the doctor's process used, read by the process itself as it exits. */
export interface DoctorUsage {
  /** User and system CPU time. */
  cpuMs: number;
  /** Peak resident memory. */
  maxRssMiB: number;
}

// Loaded before the doctor with --import: writes the process's CPU time and peak memory on stderr as it exits.
const usageReporter = `import { writeSync } from 'node:fs';
process.on('exit', () => {
  const { userCPUTime, systemCPUTime, maxRSS } = process.resourceUsage();
  writeSync(2, '\\nusage ' + JSON.stringify({ cpuMs: (userCPUTime + systemCPUTime) / 1000, maxRssMiB: maxRSS / 1024 }) + '\\n');
});`;

export function runDoctor(args: string[], env: Record<string, string> = {}): Promise<DoctorRun> {
  return run([doctorPath, ...args], env);
}

/** `--json` output, parsed. */
export async function runDoctorJson(args: string[], env: Record<string, string> = {}) {
  const result = await runDoctor([...args, '--json'], env);
  return { ...result, report: JSON.parse(result.stdout) as { ok: boolean; checks: DoctorCheck[] } };
}

/** A run of the doctor that also reports the CPU time and peak memory its process used. */
export async function runDoctorMeasured(args: string[], env: Record<string, string> = {}) {
  const result = await run(
    ['--import', `data:text/javascript,${encodeURIComponent(usageReporter)}`, doctorPath, ...args],
    env,
  );
  const usage = /\nusage (\{.*\})\n$/.exec(result.stderr)?.[1];
  if (usage === undefined) throw new Error(`the doctor reported no usage: ${result.stderr}`);
  return {
    ...result,
    stderr: result.stderr.slice(0, -usage.length - 8),
    usage: JSON.parse(usage) as DoctorUsage,
  };
}

function run(args: string[], env: Record<string, string>): Promise<DoctorRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (error as { code?: unknown }).code : 0;
        resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr });
      },
    );
  });
}

export const checkNames = {
  apiKey: 'Reteno accepts the API key',
  script: "Reteno's script is served",
  embed: 'The page carries one embed',
  nonce: "The embed's nonce matches the CSP",
  hosts: "The CSP allows Reteno's hosts",
  anonymous: 'The token route refuses anonymous calls',
  crossSite: 'The token route refuses cross-site calls',
  signedIn: 'The token route answers the signed-in user',
};

export function failedChecks(checks: DoctorCheck[]): string[] {
  return checks.filter((check) => !check.ok).map((check) => check.name);
}

export function checkNamed(checks: DoctorCheck[], name: string): DoctorCheck {
  const check = checks.find((candidate) => candidate.name === name);
  if (!check) throw new Error(`no check named ${name}: ${JSON.stringify(checks)}`);
  return check;
}
