import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Config } from 'jest';
import ts from 'typescript';

type ProjectConfig = NonNullable<Config['projects']>[number] & object;

// Loaded as CommonJS by ts-node on Node 20 (where __dirname exists), as ESM by Node's own TypeScript support later.
const rootDir = typeof __dirname === 'string' ? __dirname : process.cwd();
const testDir = join(rootDir, 'test');

/**
 * The suites that build Express sites also run against Express 4 (the latest and 4.16.4): those that import `buildSite` from
 * test/helpers/site.ts or import `express` for more than its types. Found by parsing the test files (so text
 * inside template strings does not count), so a new suite joins on its own.
 */
function buildsSites(file: string): boolean {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  return source.statements.some((statement) => {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) return false;
    const clause = statement.importClause;
    if (clause === undefined || clause.isTypeOnly) return false;
    const bindings = clause.namedBindings;
    const namedValues =
      bindings && ts.isNamedImports(bindings)
        ? bindings.elements.filter((element) => !element.isTypeOnly).map((element) => element.name.text)
        : [];
    const specifier = statement.moduleSpecifier.text;
    if (specifier === 'express') {
      const namespace = bindings !== undefined && ts.isNamespaceImport(bindings);
      return clause.name !== undefined || namespace || namedValues.length > 0;
    }
    return /(^|\/)helpers\/site\.js$/.test(specifier) && namedValues.includes('buildSite');
  });
}

const siteSuites = readdirSync(testDir, { recursive: true, encoding: 'utf8' })
  .filter((path) => path.endsWith('.test.ts') && buildsSites(join(testDir, path)))
  .map((path) => `<rootDir>/test/${path.split(sep).join('/')}`);

const shared = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
} satisfies ProjectConfig;

const relativeJsImports = { '^(\\.{1,2}/.*)\\.js$': '$1' };

const config: Config = {
  // Jest reads the timeout from the top level only, not from a project.
  testTimeout: 20_000,
  // Names the suites skipped for a missing Chromium or redis-server in one line; under CI=true, fails the run.
  reporters: ['default', '<rootDir>/test/skip-reporter.js'],
  projects: [
    {
      ...shared,
      displayName: 'express5',
      moduleNameMapper: relativeJsImports,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      globals: { expressMajorVersion: 5, expressPackage: 'express' },
    },
    expressProject('express4', 'express4', 4),
    expressProject('express4.16', 'express416', 4),
  ],
};

/**
 * The site suites against an older Express, installed under an npm alias (`express4` is the latest 4.x,
 * `express416` is 4.16.4, the oldest the peer range claims): every import of `express` gets the alias instead.
 */
function expressProject(displayName: string, alias: string, majorVersion: number): ProjectConfig {
  return {
    ...shared,
    displayName,
    moduleNameMapper: {
      ...relativeJsImports,
      '^express$': alias,
      '^express/(.*)$': `${alias}/$1`,
    },
    testMatch: siteSuites,
    globals: { expressMajorVersion: majorVersion, expressPackage: alias },
  };
}

export default config;
