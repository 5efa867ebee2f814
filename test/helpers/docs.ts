/**
 * Runs the code blocks of README.md and docs/**\/*.md.
 *
 * Every ```js / ```mjs / ```cjs / ```ts block is preceded by an HTML comment naming the harness that completes it,
 * e.g. `<!-- docs-test: site -->` (invisible on GitHub and npm). The harness supplies the names a fragment assumes
 * (`app`, `session`, `apiKey`, `scriptId`, `resolveContact`, `emulator`, `retenoInbox`, `passport`) unless the
 * block declares or imports them itself, runs the block as an ES module (or CommonJS for ```cjs) in a fresh Express
 * site on 127.0.0.1 with the Reteno emulator as Reteno, signs a user in through a form that carries the CSRF token
 * the site gives its forms, and checks the signed-in page's embed and the token its callback fetches. TypeScript
 * blocks are also type-checked against the package's source under `strict`; JavaScript modules are type-checked
 * as TypeScript too, for callback parameters left without a type (what a TypeScript user pasting them meets).
 *
 * | harness             | what the harness does around the block                                                   |
 * | ------------------- | ---------------------------------------------------------------------------------------- |
 * | `site`              | a body parser before it: the block mounts the session (Passport, CSRF…) and retenoInbox  |
 * | `site after session` | mounts express-session and Passport's session first; the block mounts retenoInbox      |
 * | `site before inbox` | the block runs first (CSP, a view engine…); then the harness mounts session and inbox   |
 * | `types`             | type-checks a ```ts block only                                                            |
 *
 * The page the harness renders is the template line the same document shows (```ejs, ```pug, ```handlebars),
 * or README.md's EJS line.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { readdirSync, readFileSync } from 'node:fs';
import type { ErrorRequestHandler, Request } from 'express';
import ts from 'typescript';
import { describeProblem, diagnose } from '../../src/client/diagnosis.js';
import {
  type PageConfig,
  pageConfigAttribute,
  routeMarkerHeader,
  tokenRequestHeaders,
} from '../../src/client/page-config.js';
import { readInboxEmbed } from './site.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export const harnessNames = ['site', 'site after session', 'site before inbox', 'types'] as const;
export type HarnessName = (typeof harnessNames)[number];

/** How a code block is run, by the language its fence names. */
const scriptKinds: Record<string, 'module' | 'commonjs' | 'typescript'> = {
  js: 'module',
  javascript: 'module',
  mjs: 'module',
  jsx: 'module',
  cjs: 'commonjs',
  ts: 'typescript',
  typescript: 'typescript',
  mts: 'typescript',
  tsx: 'typescript',
};
const templateKinds: Record<string, 'ejs' | 'pug' | 'hbs'> = {
  ejs: 'ejs',
  pug: 'pug',
  handlebars: 'hbs',
  hbs: 'hbs',
};

export interface CodeBlock {
  /** Relative to the repository, e.g. `README.md`. */
  file: string;
  /** 1-based line of the block's first code line. */
  line: number;
  language: string;
  code: string;
  /** What the `<!-- docs-test: … -->` comment before the fence names, if there is one. */
  harness: string | undefined;
}

/** README.md and every Markdown file under docs/, relative to the repository. */
export function markdownFiles(): string[] {
  const docs = readdirSync(join(repoRoot, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.md'))
    .map((path) => join('docs', path));
  return ['README.md', ...docs.sort()];
}

/** The fenced code blocks of one Markdown text. */
export function readCodeBlocks(file: string, text = readFileSync(join(repoRoot, file), 'utf8')): CodeBlock[] {
  const lines = text.split('\n');
  const blocks: CodeBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = /^( *)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[index] ?? '');
    if (!open) continue;
    const [, indent = '', fence = '```', language = ''] = open;
    const previous = lines.slice(0, index).findLast((line) => line.trim() !== '') ?? '';
    const harness = /^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$/.exec(previous)?.[1];
    const code: string[] = [];
    let end = index + 1;
    for (; end < lines.length; end++) {
      const line = lines[end] ?? '';
      if (line.trim().startsWith(fence[0]?.repeat(fence.length) ?? fence) && /^\s*(`+|~+)\s*$/.test(line))
        break;
      code.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    blocks.push({ file, line: index + 2, language: language.toLowerCase(), code: code.join('\n'), harness });
    index = end;
  }
  return blocks;
}

export function isScript(block: CodeBlock): boolean {
  return block.language in scriptKinds;
}

export function isTemplate(block: CodeBlock): boolean {
  return block.language in templateKinds && block.code.includes('retenoInbox');
}

export function describeBlock(block: CodeBlock): string {
  return `${block.file}:${block.line} \`\`\`${block.language} (${block.harness ?? 'no harness'})`;
}

/** The page template each view engine renders, from the template lines a document shows. */
export type PageTemplates = Partial<Record<'ejs' | 'pug' | 'hbs', string>>;

export function templatesOf(blocks: readonly CodeBlock[], fallback: PageTemplates = {}): PageTemplates {
  const templates: PageTemplates = { ...fallback };
  const seen = new Set<string>();
  for (const block of blocks.filter(isTemplate)) {
    const kind = templateKinds[block.language];
    if (kind === undefined) continue;
    const line = block.code.trim();
    if (seen.has(kind) && templates[kind] !== line) {
      throw new Error(`${describeBlock(block)}: the document shows two different ${kind} template lines`);
    }
    seen.add(kind);
    templates[kind] = line;
  }
  return templates;
}

function pageTemplate(kind: 'ejs' | 'pug' | 'hbs', line: string): string {
  if (kind === 'pug') return `doctype html\nhtml\n  head\n    title Docs\n    ${line}\n  body\n    h1 Docs\n`;
  return `<!doctype html>\n<html>\n<head>\n<title>Docs</title>\n${line}\n</head>\n<body><h1>Docs</h1></body>\n</html>\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Names the block declares, so the harness supplies only the others.

function bindingNames(name: ts.BindingName, into: Set<string>): void {
  if (ts.isIdentifier(name)) {
    into.add(name.text);
    return;
  }
  for (const element of name.elements) {
    if (!ts.isOmittedExpression(element)) bindingNames(element.name, into);
  }
}

export function declaredNames(code: string): Set<string> {
  const source = ts.createSourceFile('block.ts', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const names = new Set<string>();
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && statement.importClause) {
      const clause = statement.importClause;
      if (clause.name) names.add(clause.name.text);
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
      if (bindings && ts.isNamedImports(bindings))
        for (const element of bindings.elements) names.add(element.name.text);
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) bindingNames(declaration.name, names);
    } else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) {
      names.add(statement.name.text);
    }
  }
  return names;
}

/** The modules a CommonJS block requires with a string literal. */
function requiredModules(code: string): string[] {
  return [...code.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)].map((match) => match[1] ?? '');
}

// ---------------------------------------------------------------------------------------------------------------
// Type-checking TypeScript blocks against the package's source.

const harnessGlobals = `
declare const app: import('express').Express;
declare const session: typeof import('express-session').default;
declare const apiKey: string;
declare const scriptId: string;
declare const resolveContact: import('express-reteno-inbox').RetenoInboxOptions['resolveContact'];
declare const emulator: import('express-reteno-inbox/emulator').RetenoEmulator;
declare const retenoInbox: typeof import('express-reteno-inbox').retenoInbox;
declare const passport: import('passport').PassportStatic;
`;

const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  baseUrl: repoRoot,
  paths: {
    'express-reteno-inbox': [join(repoRoot, 'src/index.ts')],
    'express-reteno-inbox/emulator': [join(repoRoot, 'src/emulator/index.ts')],
  },
};

/**
 * What a TypeScript user meets on pasting a JavaScript block into a strict project, whatever their own types:
 * a callback parameter that nothing gives a type (TS7006, TS7031), as when a helper loses helmet's `(req, res)`.
 * Errors about the site's own objects (`req.session.user`, `process.env.X` being `string | undefined`) are theirs.
 */
export const untypedParameterCodes: ReadonlySet<number> = new Set([7006, 7031]);

/**
 * Type-checks a block as a TypeScript module of a strict NodeNext project in which `express-reteno-inbox` is the
 * package's source. Returns tsc's messages (only those with a code in `only`, when given), with lines counted from
 * the block's first line in its document.
 */
export function typeCheck(
  block: CodeBlock,
  previous?: ts.Program,
  only?: ReadonlySet<number>,
): { messages: string[]; program: ts.Program } {
  const virtualDir = join(repoRoot, 'test/docs');
  const blockFile = join(virtualDir, `block-${block.file.replace(/\W/g, '-')}-${block.line}.ts`);
  const globalsFile = join(virtualDir, 'harness-globals.d.ts');
  const virtualFiles = new Map([
    [blockFile, `${block.code}\nexport {};\n`],
    [globalsFile, harnessGlobals],
  ]);
  const host = ts.createCompilerHost(compilerOptions);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => virtualFiles.has(name) || fileExists.call(host, name);
  host.readFile = (name) => virtualFiles.get(name) ?? readFile.call(host, name);
  host.getSourceFile = (name, languageVersion, ...rest) => {
    const text = virtualFiles.get(name);
    if (text !== undefined) return ts.createSourceFile(name, text, languageVersion, true);
    return getSourceFile.call(host, name, languageVersion, ...rest);
  };
  const program = ts.createProgram([blockFile, globalsFile], compilerOptions, host, previous);
  const source = program.getSourceFile(blockFile);
  const diagnostics = (
    source ? [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)] : []
  ).filter((diagnostic) => only === undefined || only.has(diagnostic.code));
  const messages = diagnostics.map((diagnostic) => {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    if (diagnostic.file === undefined || diagnostic.start === undefined) return text;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    return `${block.file}:${block.line + line}: TS${diagnostic.code}: ${text}`;
  });
  return { messages, program };
}

// ---------------------------------------------------------------------------------------------------------------
// Running a block in a site.

export const apiKey = 'docs-api-key-5c3b9e1f7a';
export const scriptId = '6a1f0c3e-2b4d-4c5e-9f70-8192a3b4c5d6';
export const signedInEmail = 'anna@example.com';

/** What a run saw, for the test to assert on. */
export interface SiteReport {
  anonymousStatus: number;
  signedInStatus: number;
  /** The embed's tags on the signed-in page. */
  embed: string;
  /** The init call the page's client makes, as its config says (the token callback left out). */
  init: unknown[][];
  /** What the page's token call got. */
  token: string;
  /** Headers of the page's token call. */
  tokenCallHeaders: Record<string, string>;
  /** Messages the page's client would write with console.error. */
  consoleErrors: string[];
  /** Lines the middleware logged. */
  logs: { warnings: string[]; errors: string[] };
}

type RetenoInbox = typeof import('../../src/index.js').retenoInbox;

/** State of one run, shared by the harness's stand-ins. */
interface Run {
  emulator: import('../../src/emulator/index.js').RetenoEmulator;
  emulators: { close(): Promise<void> }[];
  /** The options each retenoInbox() call of the run ended up with. */
  instances: { apiKey: unknown; baseUrl: string }[];
  logs: { warnings: string[]; errors: string[]; warn(message: string): void; error(message: string): void };
  errors: unknown[];
}

/** A cookie jar that keeps every cookie's name and value, as a browser on 127.0.0.1 would for this site. */
function createBrowser(origin: string) {
  const cookies = new Map<string, string>();
  return async function browse(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (cookies.size > 0) {
      headers.set('cookie', [...cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    }
    const response = await fetch(new URL(url, origin), { redirect: 'manual', ...init, headers });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const split = pair.indexOf('=');
      cookies.set(pair.slice(0, split).trim(), pair.slice(split + 1).trim());
    }
    return response;
  };
}

async function loadModule(specifier: string, run: Run, supplied: Record<string, unknown>): Promise<object> {
  if (specifier === 'express-reteno-inbox') {
    const index = await import('../../src/index.js');
    return { ...index, retenoInbox: supplied.retenoInbox };
  }
  if (specifier === 'express-reteno-inbox/emulator') {
    const emulatorModule = await import('../../src/emulator/index.js');
    const createRetenoEmulator: typeof emulatorModule.createRetenoEmulator = async (options) => {
      const created = await emulatorModule.createRetenoEmulator(options);
      run.emulators.push(created);
      return created;
    };
    return { ...emulatorModule, createRetenoEmulator };
  }
  const loaded = (await import(specifier)) as Record<string, unknown>;
  // Passport's default export is one Authenticator per process; each run gets its own, already configured.
  if (specifier === 'passport') return { ...loaded, default: supplied.passport };
  return loaded;
}

function syntheticModule(exports: object, identifier: string): vm.Module {
  const entries = Object.entries(exports);
  return new vm.SyntheticModule(
    entries.map(([name]) => name),
    function setExports() {
      for (const [name, value] of entries) this.setExport(name, value);
    },
    { identifier },
  );
}

/** Runs the block's code, with `supplied` standing in for the names it does not declare. */
async function evaluateBlock(block: CodeBlock, run: Run, supplied: Record<string, unknown>): Promise<void> {
  const kind = scriptKinds[block.language];
  const code =
    kind === 'typescript'
      ? ts.transpileModule(block.code, {
          compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
        }).outputText
      : block.code;
  const declared = declaredNames(code);
  const names = Object.keys(supplied).filter((name) => !declared.has(name));
  // Stack traces name the document and its own line numbers.
  const identifier = block.file;
  const lineOffset = block.line - 1;
  if (kind === 'commonjs') {
    const modules = new Map<string, unknown>();
    for (const specifier of requiredModules(code)) {
      const loaded = (await loadModule(specifier, run, supplied)) as { default?: unknown };
      modules.set(
        specifier,
        specifier.startsWith('express-reteno-inbox') ? loaded : (loaded.default ?? loaded),
      );
    }
    const require = (specifier: string) => {
      if (!modules.has(specifier)) throw new Error(`${identifier}: require('${specifier}') was not found`);
      return modules.get(specifier);
    };
    const wrapper = new vm.Script(`(async (require, ${names.join(', ')}) => {\n${code}\n})`, {
      filename: identifier,
      lineOffset: lineOffset - 1,
    });
    const body = wrapper.runInThisContext() as (...args: unknown[]) => Promise<void>;
    await body(require, ...names.map((name) => supplied[name]));
    return;
  }
  // The harness's names are imported on the last line, so the block's own lines keep their numbers in stack traces.
  const source = `${code}\n;import { ${names.join(', ')} } from 'docs-test:harness';\n`;
  const module = new vm.SourceTextModule(source, { identifier, lineOffset });
  const picked = Object.fromEntries(names.map((name) => [name, supplied[name]]));
  await module.link(async (specifier) =>
    specifier === 'docs-test:harness'
      ? syntheticModule(picked, 'docs-test:harness')
      : syntheticModule(await loadModule(specifier, run, supplied), specifier),
  );
  await module.evaluate();
}

/**
 * Makes the token call the page's client makes (src/client/token-callback.ts): a POST to the page's token URL with
 * the headers its config gives, the browser's cookies, redirects followed. What the client would write on the
 * console for an answer that is not the route's comes from the client's own diagnosis.
 */
async function callTokenRoute(config: PageConfig, browse: ReturnType<typeof createBrowser>) {
  const headers = tokenRequestHeaders(config);
  const answer = await browse(config.tokenUrl, { method: 'POST', headers, redirect: 'follow' });
  const consoleErrors =
    answer.headers.get(routeMarkerHeader) === '1'
      ? []
      : [describeProblem(answer.status, diagnose(answer, config.csrf !== undefined))];
  const body = (await answer.json().catch(() => null)) as { token?: unknown } | null;
  return { status: answer.status, token: body?.token, headers, consoleErrors };
}

/** The sources a CSP directive allows, from `script-src` or else `default-src`. */
function cspSources(header: string, directive: string): string[] | undefined {
  const directives = new Map(
    header
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name = '', ...sources]) => [name.toLowerCase(), sources] as const),
  );
  return directives.get(directive) ?? directives.get('default-src');
}

function allowsUrl(sources: readonly string[], url: URL): boolean {
  return sources.some((source) => {
    if (source === '*' || source === url.protocol) return true;
    const match = /^(?:(https?):\/\/)?(\*\.)?([^/:]+)/.exec(source);
    if (!match || source.startsWith("'")) return false;
    const [, scheme, wildcard, host = ''] = match;
    if (scheme && `${scheme}:` !== url.protocol) return false;
    return wildcard ? url.hostname.endsWith(`.${host}`) : url.hostname === host;
  });
}

function signInForm(csrfToken: string): string {
  const value = csrfToken.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!doctype html><form method="post" action="/docs-test/sign-in"><input type="hidden" name="_csrf" value="${value}"><button>Sign in</button></form>`;
}

/** The hidden fields of a page's form, by name. */
function formFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [, name = '', value = ''] of html.matchAll(
    /<input type="hidden" name="([^"]+)" value="([^"]*)">/g,
  )) {
    fields[name] = value
      .replace(/&lt;/g, '<')
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&');
  }
  return fields;
}

function fail(block: CodeBlock, message: string, run?: Run): never {
  const errors = (run?.errors ?? []).map((error) =>
    error instanceof Error ? (error.stack ?? String(error)).split('\n').slice(0, 2).join(' ') : String(error),
  );
  throw new Error(`${describeBlock(block)}: ${message}${errors.length ? `\n  ${errors.join('\n  ')}` : ''}`);
}

/**
 * Runs a block in the site its harness builds and checks what a visitor sees: the anonymous page answers 200; a
 * signed-in page answers 200 with one embed, whose nonce the CSP (if any) allows; the embed's token callback
 * resolves to a token Reteno's inbox API accepts; nothing is logged as an error; the API key appears nowhere.
 */
export async function runBlock(
  block: CodeBlock,
  { templates, express }: { templates: PageTemplates; express: typeof import('express') },
): Promise<SiteReport> {
  const harness = block.harness as HarnessName | undefined;
  if (!isScript(block)) fail(block, 'is not a JavaScript or TypeScript block');
  if (harness === undefined || !harnessNames.includes(harness)) {
    fail(
      block,
      `needs a <!-- docs-test: … --> comment before it naming a harness: ${harnessNames.join(', ')}`,
    );
  }
  if (harness === 'types') {
    if (scriptKinds[block.language] !== 'typescript')
      fail(block, 'only TypeScript blocks can be type-checked only');
    throw new Error('runBlock() runs sites; type-only blocks are checked by typeCheck()');
  }

  const [{ default: expressSession }, { Passport }, { retenoInbox }, emulatorModule] = await Promise.all([
    import('express-session'),
    import('passport'),
    import('../../src/index.js'),
    import('../../src/emulator/index.js'),
  ]);
  const run: Run = {
    emulator: await emulatorModule.createRetenoEmulator({
      apiKey,
      scriptId,
      contacts: [{ email: signedInEmail }],
    }),
    emulators: [],
    instances: [],
    logs: {
      warnings: [],
      errors: [],
      warn: (message) => run.logs.warnings.push(message),
      error: (message) => run.logs.errors.push(message),
    },
    errors: [],
  };
  const views = await mkdtemp(join(tmpdir(), 'docs-views-'));
  const environment = {
    RETENO_API_KEY: apiKey,
    RETENO_SCRIPT_ID: scriptId,
    SESSION_SECRET: 'docs-session-secret',
    CSRF_SECRET: 'docs-csrf-secret-0123456789abcdef',
  };
  // Blocks run outside Jest's sandbox, where `process` is Node's own.
  const nodeProcess = vm.runInThisContext('process') as NodeJS.Process;
  const saved = Object.keys(environment).map((name) => [name, nodeProcess.env[name]] as const);
  let server: Server | undefined;
  try {
    for (const [kind, line] of Object.entries(templates)) {
      await writeFile(join(views, `page.${kind}`), pageTemplate(kind as 'ejs' | 'pug' | 'hbs', line));
    }
    Object.assign(nodeProcess.env, environment);

    const app = express();
    app.set('views', views);
    app.set('view engine', 'ejs');
    // The site's own Passport set-up, which the recipes assume.
    const passport = new Passport();
    passport.serializeUser<string>((user, done) => done(null, (user as { email: string }).email));
    passport.deserializeUser<string>((email, done) => done(null, { email }));
    const session = (options: Partial<import('express-session').SessionOptions> = {}) =>
      expressSession({ secret: 'docs-session-secret', resave: false, saveUninitialized: false, ...options });
    // The real retenoInbox, with Reteno's API at the emulator and the log recorded unless the block says otherwise.
    const realRetenoInbox = retenoInbox as (...args: unknown[]) => ReturnType<RetenoInbox>;
    const wrappedRetenoInbox = ((first: unknown, resolve?: unknown, rest?: object) => {
      const defaults = { baseUrl: run.emulator.url, logger: run.logs };
      if (typeof first === 'object' && first !== null && resolve === undefined && rest === undefined) {
        const options = { ...defaults, ...first };
        run.instances.push(options as unknown as Run['instances'][number]);
        return realRetenoInbox(options);
      }
      const options = { ...defaults, ...rest };
      run.instances.push({ ...options, apiKey: first });
      return realRetenoInbox(first, resolve, options);
    }) as RetenoInbox;
    const resolveContact = (req: Request) => {
      const user = (req.user ?? (req.session as { user?: { email: string } } | undefined)?.user) as
        { email: string } | undefined;
      return user && { email: user.email };
    };
    const supplied: Record<string, unknown> = {
      app,
      session,
      apiKey,
      scriptId,
      resolveContact,
      emulator: run.emulator,
      retenoInbox: wrappedRetenoInbox,
      passport,
    };

    // Every site parses its forms' bodies before its CSRF middleware reads their `_csrf` field.
    app.use(express.urlencoded({ extended: false }));
    if (harness === 'site after session') {
      app.use(session());
      app.use(passport.authenticate('session'));
    }
    await evaluateBlock(block, run, supplied);
    if (harness === 'site before inbox') {
      app.use(session());
      app.use(passport.authenticate('session'));
      app.use(wrappedRetenoInbox({ apiKey, scriptId, resolveContact }));
    }
    if (run.instances.length === 0) fail(block, 'never calls retenoInbox(), so no harness can check it');

    // The sign-in form an anonymous visitor gets, carrying the CSRF token the site gives its forms: the recipes'
    // res.locals.csrfToken, lusca's res.locals._csrf, csurf's req.csrfToken().
    app.get('/docs-test/sign-in', (req, res) => {
      const issue = (req as { csrfToken?: () => string }).csrfToken;
      const token = (res.locals.csrfToken ?? res.locals._csrf ?? issue?.call(req) ?? '') as string;
      res.type('html').send(signInForm(token));
    });
    app.post('/docs-test/sign-in', (req, res, next) => {
      const user = { email: signedInEmail };
      const remember = () => {
        (req.session as unknown as { user: typeof user }).user = user;
        res.redirect('/docs-test/page');
      };
      if (typeof req.login === 'function') req.login(user, (error) => (error ? next(error) : remember()));
      else remember();
    });
    app.get('/docs-test/page', (_req, res) => res.render('page'));
    const recordErrors: ErrorRequestHandler = (error, _req, res, _next) => {
      run.errors.push(error);
      // Answered as Express's own final handler would: the error's status (csurf's 403), else 500.
      const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
      const code = [status, statusCode].find(
        (value) => typeof value === 'number' && value >= 400 && value < 600,
      );
      res
        .status((code as number | undefined) ?? 500)
        .type('text')
        .send('error');
    };
    app.use(recordErrors);

    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve, reject) => server?.once('listening', resolve).once('error', reject));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const browse = createBrowser(origin);

    const anonymous = await browse('/docs-test/page');
    if (anonymous.status !== 200) fail(block, `the anonymous page answered ${anonymous.status}`, run);
    const form = await browse('/docs-test/sign-in');
    if (form.status !== 200) fail(block, `the sign-in form answered ${form.status}`, run);
    // Posted as a browser posts a form: the hidden fields, urlencoded, with the site's cookies.
    const signIn = await browse('/docs-test/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(formFields(await form.text())).toString(),
    });
    if (signIn.status !== 302) fail(block, `signing in through the form answered ${signIn.status}`, run);
    const page = await browse('/docs-test/page');
    const html = await page.text();
    if (page.status !== 200) fail(block, `the signed-in page answered ${page.status}`, run);
    const clientTags = html.match(new RegExp(`<script\\b[^>]*\\s${pageConfigAttribute}=`, 'g')) ?? [];
    const embed = readInboxEmbed(html);
    if (clientTags.length !== 1 || embed === undefined) {
      fail(block, `the signed-in page has ${clientTags.length} inbox embeds, not 1`, run);
    }
    for (const instance of run.instances) {
      if (typeof instance.apiKey === 'string' && html.includes(instance.apiKey)) {
        fail(block, 'the page holds the API key');
      }
    }

    const policy = page.headers.get('content-security-policy');
    if (policy !== null) {
      const sources = cspSources(policy, 'script-src') ?? [];
      for (const nonce of embed.nonces) {
        if (nonce === undefined || !sources.includes(`'nonce-${nonce}'`)) {
          fail(
            block,
            `the CSP's script-src (${sources.join(' ')}) does not allow the embed's nonce (${nonce})`,
          );
        }
      }
      const loader = /'script',("[^"]*")\)/.exec(embed.loader)?.[1];
      const loaderUrl = new URL(JSON.parse(loader ?? '""') as string);
      if (!allowsUrl(sources, loaderUrl))
        fail(block, `the CSP's script-src does not allow ${loaderUrl.href}`);
    }

    const client = await browse(embed.clientUrl);
    if (client.status !== 200) fail(block, `the client script answered ${client.status}`, run);
    const { config } = embed;
    const init = [['init', { ...config.flags, APP_INBOX: true }, { language: config.language }]];
    const answer = await callTokenRoute(config, browse);
    const { consoleErrors } = answer;
    if (typeof answer.token !== 'string' || answer.token === '') {
      fail(block, `the token call answered ${answer.status}; console: ${consoleErrors.join(' | ')}`, run);
    }
    const token = answer.token;
    const reteno = run.instances.at(-1)?.baseUrl ?? run.emulator.url;
    const inbox = await fetch(`${reteno}/appinbox/v1/messages/count`, { headers: { 'ES-TOKEN': token } });
    if (inbox.status !== 200) fail(block, `Reteno's inbox API answered ${inbox.status} to the page's token`);

    const logged = [...run.logs.warnings, ...run.logs.errors];
    if (run.logs.errors.length > 0)
      fail(block, `the middleware logged errors: ${run.logs.errors.join(' | ')}`);
    if (logged.some((line) => line.includes(apiKey))) fail(block, 'a log line holds the API key');
    return {
      anonymousStatus: anonymous.status,
      signedInStatus: page.status,
      embed: /<script[\s\S]*<\/script>/.exec(html)?.[0] ?? '',
      init,
      token,
      tokenCallHeaders: answer.headers,
      consoleErrors,
      logs: { warnings: run.logs.warnings, errors: run.logs.errors },
    };
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete nodeProcess.env[name];
      else nodeProcess.env[name] = value;
    }
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
    await Promise.all([run.emulator, ...run.emulators].map((emulator) => emulator.close()));
    await rm(views, { recursive: true, force: true });
  }
}
