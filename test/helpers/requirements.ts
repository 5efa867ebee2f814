import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/**
 * Programs some suites need besides Node: Chromium for the browser suites, redis-server for the scale-out suite.
 * A suite that lacks one is skipped, and its title says why (test/skip-reporter.js sums the reasons up in one
 * line); with `CI=true` it fails instead, with one test that names what is missing.
 */
export interface Requirement {
  /** What the suites need, as a reader names it: `Chromium`, `redis-server`. */
  readonly name: string;
  /** Why it is missing and how to install it, or `null` when it is there. */
  readonly missing: string | null;
}

/** The marker test/skip-reporter.js reads in a skipped suite's title: `(skipped: <reason>)`. */
export const skippedMarker = 'skipped: ';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Debian's Chromium; CHROMIUM_PATH points elsewhere. */
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const chromium: Requirement = {
  name: 'Chromium',
  missing: isExecutable(chromiumPath)
    ? null
    : `no Chromium at ${chromiumPath}: install Debian's chromium package, or set CHROMIUM_PATH`,
};

/** `redis-server` as found on PATH, or undefined. */
export const redisServerCommand = ['redis-server'].find(
  (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0,
);

export const redisServer: Requirement = {
  name: 'redis-server',
  missing:
    redisServerCommand === undefined
      ? "no redis-server on PATH: install Debian's redis-server package"
      : null,
};

/** Whether this run is CI's, where nothing may be skipped for want of a program. */
export function onCi(environment: NodeJS.ProcessEnv = process.env): boolean {
  const value = environment.CI?.toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

/**
 * `describe(name, suite)` when every requirement is met. Otherwise the suite does not run: locally it is skipped
 * under a title that says why, on CI (`CI=true`) it is replaced by one failing test that names what is missing.
 */
export function describeWith(requirements: Requirement[], name: string, suite: () => void): void {
  const unmet = requirements.filter((requirement) => requirement.missing !== null);
  if (unmet.length === 0) {
    describe(name, suite);
    return;
  }
  const reason = unmet.map((requirement) => requirement.missing).join('; ');
  if (onCi()) {
    describe(name, () => {
      it(`finds ${unmet.map((requirement) => requirement.name).join(' and ')}, as CI=true requires`, () => {
        throw new Error(`CI=true does not allow skipping this suite: ${reason}.`);
      });
    });
    return;
  }
  describe.skip(`${name} (${skippedMarker}${reason})`, suite);
}
