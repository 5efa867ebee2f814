// @ts-check
import { relative, sep } from 'node:path';

/**
 * @typedef {import('@jest/reporters').AggregatedResult} AggregatedResult
 * @typedef {import('@jest/reporters').TestResult} TestResult
 */

// The marker test/helpers/requirements.ts puts in the title of a suite it skipped: `name (skipped: reason)`.
const skippedTitle = /\(skipped: (.+)\)$/;

/**
 * Names every suite that skipped tests, and why, in one line after jest's summary:
 * `skipped: test/browser/* (no Chromium at /usr/bin/chromium: …); test/scale-out.test.ts (no redis-server …)`.
 * With `CI=true` a skipped or todo test also fails the run, whatever skipped it.
 */
export default class SkipReporter {
  /** @type {Error | undefined} */
  #error;
  /** @type {string} */
  #rootDir;

  /** @param {{ rootDir: string }} globalConfig */
  constructor(globalConfig) {
    this.#rootDir = globalConfig.rootDir;
  }

  /** @param {unknown} _contexts @param {AggregatedResult} results */
  onRunComplete(_contexts, results) {
    /** @type {Map<string, Set<string>>} reason → files */
    const skipped = new Map();
    /** @type {Map<string, number>} directory → files run in it (each project counts once) */
    const filesIn = new Map();
    for (const file of new Set(results.testResults.map((result) => this.#path(result)))) {
      const directory = file.slice(0, file.lastIndexOf('/') + 1);
      filesIn.set(directory, (filesIn.get(directory) ?? 0) + 1);
    }
    for (const result of results.testResults) {
      for (const reason of reasons(result)) {
        const files = skipped.get(reason) ?? new Set();
        files.add(this.#path(result));
        skipped.set(reason, files);
      }
    }
    if (skipped.size === 0) return;

    const parts = [...skipped].map(
      ([reason, files]) => `${shorten([...files], filesIn).join(', ')} (${reason})`,
    );
    const line = `skipped: ${parts.join('; ')}`;
    process.stderr.write(`${line}\n`);
    const ci = process.env.CI?.toLowerCase();
    if (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') {
      this.#error = new Error(`CI=true does not allow skipped tests; ${line}`);
    }
  }

  getLastError() {
    return this.#error;
  }

  /** @param {TestResult} result */
  #path(result) {
    return relative(this.#rootDir, result.testFilePath).split(sep).join('/');
  }
}

/**
 * Why a suite's tests did not run: the reason in a skipped suite's title, or how they were marked.
 * @param {TestResult} result
 * @returns {Set<string>}
 */
function reasons(result) {
  const found = new Set();
  for (const test of result.testResults) {
    if (test.status !== 'pending' && test.status !== 'todo' && test.status !== 'skipped') continue;
    const marked = test.ancestorTitles.map((title) => skippedTitle.exec(title)?.[1]).find(Boolean);
    found.add(marked ?? (test.status === 'todo' ? 'marked todo' : 'marked skip'));
  }
  return found;
}

/**
 * `dir/*` for a directory all of whose files in the run are listed, the files themselves otherwise.
 * @param {string[]} files @param {Map<string, number>} filesIn
 */
function shorten(files, filesIn) {
  /** @type {Map<string, string[]>} */
  const byDirectory = new Map();
  for (const file of files.sort()) {
    const directory = file.slice(0, file.lastIndexOf('/') + 1);
    byDirectory.set(directory, [...(byDirectory.get(directory) ?? []), file]);
  }
  return [...byDirectory].flatMap(([directory, listed]) =>
    listed.length > 1 && listed.length === filesIn.get(directory) ? [`${directory}*`] : listed,
  );
}
