import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import type ts from 'typescript';
import {
  type CodeBlock,
  describeBlock,
  isScript,
  isTemplate,
  markdownFiles,
  readCodeBlocks,
  repoRoot,
  runBlock,
  templatesOf,
  typeCheck,
  untypedParameterCodes,
} from './helpers/docs.js';

// Every code block of README.md and docs/**/*.md; see test/helpers/docs.ts for the harnesses that complete them.
const documents = markdownFiles().map((file) => ({ file, blocks: readCodeBlocks(file) }));
const readmeTemplates = templatesOf(
  documents.find((document) => document.file === 'README.md')?.blocks ?? [],
);
const scripts = documents.flatMap(({ file, blocks }) =>
  blocks.filter(isScript).map((block) => ({ block, templates: templatesOf(blocks, readmeTemplates), file })),
);

let program: ts.Program | undefined;
function typeCheckMessages(block: CodeBlock, only?: ReadonlySet<number>): string[] {
  const checked = typeCheck(block, program, only);
  program = checked.program;
  return checked.messages;
}

/** JavaScript blocks a TypeScript site would paste as they are: ES modules (CommonJS ones use `require`). */
const isJavaScriptModule = (block: CodeBlock) => ['js', 'javascript', 'mjs'].includes(block.language);

const brokenFile = 'test/docs/broken-snippets.md';
const broken = readCodeBlocks(brokenFile, readFileSync(join(repoRoot, brokenFile), 'utf8'));

describe('docs that run', () => {
  it('finds the code blocks of README.md and docs/', () => {
    expect(documents.map(({ file }) => file)).toEqual(
      expect.arrayContaining(['README.md', 'docs/view-engines.md']),
    );
    expect(scripts.filter(({ file }) => file === 'README.md').length).toBeGreaterThanOrEqual(8);
  });

  it('renders the EJS template line README.md shows, which every document showing one agrees with', () => {
    expect(readmeTemplates.ejs).toBe("<%- locals.retenoInbox ? retenoInbox() : '' %>");
    for (const { blocks } of documents) {
      for (const block of blocks.filter(isTemplate).filter(({ language }) => language === 'ejs')) {
        expect(block.code.trim()).toBe(readmeTemplates.ejs);
      }
    }
  });

  describe.each(documents.filter(({ blocks }) => blocks.some(isScript)).map(({ file }) => file))(
    '%s',
    (file) => {
      const blocks = scripts.filter((script) => script.file === file);

      it.each(blocks.map(({ block, templates }) => [describeBlock(block), block, templates] as const))(
        '%s runs',
        async (_name, block, templates) => {
          if (block.language.startsWith('t')) expect(typeCheckMessages(block)).toEqual([]);
          if (isJavaScriptModule(block)) expect(typeCheckMessages(block, untypedParameterCodes)).toEqual([]);
          if (block.harness === 'types' && block.language.startsWith('t')) return;
          const report = await runBlock(block, { templates, express });
          expect(report.anonymousStatus).toBe(200);
          expect(report.signedInStatus).toBe(200);
          expect(report.init[0]?.[1]).toMatchObject({ APP_INBOX: true });
          expect(report.token).toMatch(/.{8,}/);
          expect(report.tokenCallHeaders).toMatchObject({ 'x-reteno-inbox': '1' });
          expect(report.consoleErrors).toEqual([]);
          if (/\bcsrfToken:/.test(block.code)) {
            expect(report.tokenCallHeaders['x-csrf-token']).toMatch(/.{8,}/);
          }
        },
      );
    },
  );

  describe('refuses broken snippets', () => {
    const [
      oldCsp,
      undefinedName,
      noHarness,
      noMiddleware,
      badTypes,
      beforePassport,
      behindCsurf,
      untypedCallback,
      unsavedCsrfSession,
    ] = broken;
    const site = { templates: readmeTemplates, express };

    it("catches the CSP example that used crypto.randomBytes without importing it: the site's pages answer 500", async () => {
      await expect(runBlock(oldCsp as CodeBlock, site)).rejects.toThrow(
        /page answered 500[\s\S]*TypeError: crypto\.randomBytes is not a function/,
      );
    });

    it('fails a block that uses a name neither it nor its harness defines', async () => {
      await expect(runBlock(undefinedName as CodeBlock, site)).rejects.toThrow('SCRIPT_ID is not defined');
    });

    it('fails a block that names no harness instead of skipping it', async () => {
      await expect(runBlock(noHarness as CodeBlock, site)).rejects.toThrow(/needs a <!-- docs-test: … -->/);
    });

    it('fails a site block that never mounts the middleware', async () => {
      await expect(runBlock(noMiddleware as CodeBlock, site)).rejects.toThrow('never calls retenoInbox()');
    });

    it('fails the Passport recipe with retenoInbox mounted before Passport: no page gets the embed', async () => {
      await expect(runBlock(beforePassport as CodeBlock, site)).rejects.toThrow(
        'the signed-in page has 0 inbox embeds',
      );
    });

    it('fails Passport behind csurf without csrfToken: csurf answers the token call 403 and the page says so', async () => {
      await expect(runBlock(behindCsurf as CodeBlock, site)).rejects.toThrow(
        /token call answered 403; console: Reteno inbox: HTTP 403 [^\n]*\[csrf-token-missing\]/,
      );
    });

    it('fails a TypeScript block that does not type-check', () => {
      expect(typeCheckMessages(badTypes as CodeBlock)).toEqual([
        expect.stringMatching(
          /^test\/docs\/broken-snippets\.md:\d+: TS2322: Type 'number' is not assignable/,
        ),
      ]);
    });

    it('fails a JavaScript block whose callback a strict TypeScript site could not type (TS7006)', () => {
      expect(typeCheckMessages(untypedCallback as CodeBlock, untypedParameterCodes)).toEqual([
        expect.stringMatching(
          /^test\/docs\/broken-snippets\.md:\d+: TS7006: Parameter 'req' implicitly has an 'any' type/,
        ),
      ]);
    });

    it('fails csrf-csrf with saveUninitialized: false and an empty session: the sign-in form gets 403 "invalid csrf token"', async () => {
      await expect(runBlock(unsavedCsrfSession as CodeBlock, site)).rejects.toThrow(
        /signing in through the form answered 403[\s\S]*invalid csrf token/,
      );
    });

    it('runs a ```cjs block with require', async () => {
      const [block] = readCodeBlocks('test/docs/commonjs-snippet.md');
      const report = await runBlock(block as CodeBlock, site);
      expect(report.token).toMatch(/.{8,}/);
    });

    it('covers every kind of block the docs may hold', () => {
      const kinds = new Set(scripts.map(({ block }) => block.language));
      for (const kind of kinds)
        expect(['js', 'javascript', 'mjs', 'cjs', 'ts', 'typescript', 'mts']).toContain(kind);
    });
  });
});
