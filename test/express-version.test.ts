import { createRequire } from 'node:module';
import express from 'express';
import { buildSite } from './helpers/site.js';

// Set per jest project in jest.config.ts: the site suites run once against Express 5 and once against Express 4.
const expected = (globalThis as { expressMajorVersion?: number }).expressMajorVersion;
const require = createRequire(import.meta.url);

describe(`Express ${expected} under this jest project`, () => {
  it('is the major version of the express package that `express` resolves to', () => {
    const { version } = require('express/package.json') as { version: string };
    expect(expected).toBeDefined();
    expect(Number(version.split('.')[0])).toBe(expected);
    expect(require('express')).toBe(express);
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
