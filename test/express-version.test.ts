import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import express from 'express';
import { buildSite } from './helpers/site.js';

// Set per jest project in jest.config.ts: the site suites run against Express 5, the latest Express 4 (the npm
// alias `express4`) and Express 4.16.4 (`express416`), the oldest release the peer range claims.
const { expressMajorVersion: expected, expressPackage } = globalThis as {
  expressMajorVersion?: number;
  expressPackage?: string;
};
const require = createRequire(import.meta.url);

/** The version of a package as installed in node_modules, read from disk past Jest's module mapping. */
function installedVersion(name: string): string {
  const manifest = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

describe(`Express ${expected} (${expressPackage}) under this jest project`, () => {
  it('is the package this project names, and `express` resolves to it', () => {
    const { version } = require('express/package.json') as { version: string };
    expect(expected).toBeDefined();
    expect(expressPackage).toBeDefined();
    expect(version).toBe(installedVersion(expressPackage ?? ''));
    expect(Number(version.split('.')[0])).toBe(expected);
    expect(require('express')).toBe(express);
    if (expressPackage === 'express416') expect(version).toBe('4.16.4');
  });

  it('is the Express the site helper builds its app with', () => {
    const { app } = buildSite();
    // Express 4 kept `app.router` only as a getter that throws a migration hint; Express 5 exposes the router.
    if (expected === 4) {
      expect(() => app.router).toThrow(/deprecated/);
    } else {
      expect(typeof app.router).toBe('function');
    }
  });
});
