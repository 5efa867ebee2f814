import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Config } from 'jest';
import ts from 'typescript';

type ProjectConfig = NonNullable<Config['projects']>[number] & object;

// Loaded as CommonJS by ts-node on Node 20 (where __dirname exists), as ESM by Node's own TypeScript support later.
const rootDir = typeof __dirname === 'string' ? __dirname : process.cwd();
const testDir = join(rootDir, 'test');

/**
 * The suites that build Express sites also run against Express 4: those that import `buildSite` from
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
  testTimeout: 20_000,
} satisfies ProjectConfig;

const relativeJsImports = { '^(\\.{1,2}/.*)\\.js$': '$1' };

const config: Config = {
  projects: [
    {
      ...shared,
      displayName: 'express5',
      moduleNameMapper: relativeJsImports,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      globals: { expressMajorVersion: 5 },
    },
    {
      ...shared,
      displayName: 'express4',
      moduleNameMapper: {
        ...relativeJsImports,
        // `express4` is express@4 installed under an npm alias; every import of `express` gets it instead.
        '^express$': 'express4',
        '^express/(.*)$': 'express4/$1',
      },
      testMatch: siteSuites,
      globals: { expressMajorVersion: 4 },
    },
  ],
};

export default config;
