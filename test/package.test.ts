import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { apiKey, readInboxEmbed, scriptId, scriptTags, tokenPath } from './helpers/site.js';

// What users get: the tarball `npm pack` makes, installed with npm into a project outside this repository (so
// nothing resolves from this repository's node_modules by accident), used as sites use it: CommonJS with its own
// Jest suite, ES modules, TypeScript with each module setting, on this Node and on Node 22. Every consumer serves
// a signed-in page with the embed and hands out a token from the emulator through the site's token route.
// `dist` must be built first: `npm test` does that in `pretest`.

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'test/fixtures');
const execFileAsync = promisify(execFile);
const anna = { email: 'anna@example.com' };
const slow = 300_000;

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/**
 * The environment for child npm and node processes, without what `npm test` exported for this repository
 * (npm_config_local_prefix and friends would point a child npm back at it).
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const kept = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig']);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_') || kept.has(name)),
  );
  return { ...env, NODE_OPTIONS: '', ...extra };
}

async function run(command: string, args: string[], cwd: string, env?: Record<string, string>) {
  return execFileAsync(command, args, {
    cwd,
    env: childEnv(env),
    maxBuffer: 16 * 1024 * 1024,
    timeout: 240_000,
  });
}

async function runNode(script: string, cwd: string, node = process.execPath): Promise<unknown> {
  const { stdout } = await run(node, [script], cwd);
  return JSON.parse(stdout);
}

/** `tsc -p <project>` (emitting or not, as the project says): the exit code and each error as `file(line): TSxxxx`. */
async function typecheck(cwd: string, project: string): Promise<{ exitCode: number; errors: string[] }> {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  try {
    await run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], cwd);
    return { exitCode: 0, errors: [] };
  } catch (error) {
    const { code, stdout } = error as { code: number; stdout: string };
    const errors = [...stdout.matchAll(/^(\S+)\((\d+),\d+\): error (TS\d+)/gm)].map(
      ([, file, line, tsCode]) => `${file}(${line}): ${tsCode}`,
    );
    return { exitCode: code, errors: errors.length > 0 ? errors : [stdout] };
  }
}

/** The package's declaration files in a TypeScript program, relative to the package: which build's types it got. */
async function packageDeclarations(cwd: string, project: string): Promise<string[]> {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const { stdout } = await run(process.execPath, [tsc, '-p', project, '--listFilesOnly'], cwd);
  return stdout
    .split('\n')
    .flatMap((file) => /node_modules\/express-reteno-inbox\/(.+)$/.exec(file.trim())?.slice(1) ?? [])
    .filter((file) => /\/(emulator\/)?index\.d\.c?ts$/.test(file))
    .sort();
}

/**
 * One project for every consumer, with the tarball installed by npm as `npm install express-reteno-inbox` would,
 * Jest 29 and Jest 30 side by side (under aliases) and express-session. The project is CommonJS; `esm/` in it is
 * an ES module folder sharing its node_modules.
 */
async function createProject(dir: string, tarball: string): Promise<void> {
  await mkdir(join(dir, 'esm'), { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  await writeFile(join(dir, 'esm/package.json'), JSON.stringify({ type: 'module' }));
  // The dependencies come from npm's cache when it has them (CI has just installed this repository), else
  // from the registry. npm also installs the peer dependency, express.
  await run(
    'npm',
    [
      'install',
      tarball,
      'express-session@^1.18.0',
      'jest29@npm:jest@^29.7.0',
      'jest30@npm:jest@^30.0.0',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--no-package-lock',
    ],
    dir,
  );
}

/**
 * Type packages a site would install itself, linked from this repository after npm is done (in place of any copy
 * npm installed for Jest), so one version of each is in the program.
 */
async function linkFromRepository(dir: string, names: string[]): Promise<void> {
  for (const name of names) {
    const target = join(dir, 'node_modules', name);
    await rm(target, { recursive: true, force: true });
    await mkdir(join(target, '..'), { recursive: true });
    await symlink(join(root, 'node_modules', name), target, 'dir');
  }
}

/** Node 22's binary, from the `node` package on npm (npx keeps it in npm's cache). */
async function node22(cwd: string): Promise<string> {
  const { stdout } = await run(
    'npx',
    ['--prefer-offline', '-y', '-p', 'node@22', 'node', '-p', 'process.execPath'],
    cwd,
  );
  const node = stdout.trim();
  const { stdout: version } = await run(node, ['-p', 'process.versions.node'], cwd);
  if (!version.startsWith('22.')) throw new Error(`npx gave Node ${version.trim()} for node@22`);
  return node;
}

interface RunningSite {
  url: string;
  /** Whatever else the site printed on its first line. */
  ready: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Starts a site process and waits for its first line, `{"url": …}`; fails with its stderr if it exits first. */
async function startSite(node: string, script: string, cwd: string, baseUrl: string): Promise<RunningSite> {
  const started: ChildProcess = spawn(node, [script], {
    cwd,
    env: childEnv({ RETENO_API_KEY: apiKey, RETENO_SCRIPT_ID: scriptId, RETENO_BASE_URL: baseUrl }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  started.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(started, 'exit');
  const failed = exited.then(([code]) => {
    throw new Error(`${script} exited with ${String(code)}: ${stderr}`);
  });
  const firstLine = once(createInterface({ input: started.stdout as NodeJS.ReadableStream }), 'line');
  try {
    const [line] = (await Promise.race([firstLine, failed])) as [string];
    const ready = JSON.parse(line) as { url: string } & Record<string, unknown>;
    return {
      url: ready.url,
      ready,
      stop: async () => {
        if (started.exitCode === null && started.signalCode === null) started.kill();
        await exited;
      },
    };
  } catch (error) {
    started.kill();
    throw error;
  }
}

/**
 * What a visitor of the site sees: no embed while anonymous; after signing in, the embed on the page and a token
 * from the token route (the embed's own request: POST, `x-reteno-inbox: 1`, the session cookie), which the
 * site got from Reteno for this visitor.
 */
async function expectEmbedAndToken(siteUrl: string, reteno: RetenoEmulator) {
  const anonymous = await (await fetch(`${siteUrl}/`)).text();
  expect(anonymous).toContain('<h1>Shop</h1>');
  expect(scriptTags(anonymous)).toEqual([]);

  const signIn = await fetch(`${siteUrl}/sign-in`, {
    method: 'POST',
    body: new URLSearchParams(anna),
    redirect: 'manual',
  });
  expect(signIn.status).toBe(302);
  const cookie = signIn.headers.get('set-cookie')?.split(';')[0] ?? '';
  expect(cookie).toMatch(/^connect\.sid=/);

  const page = await (await fetch(`${siteUrl}/`, { headers: { cookie } })).text();
  expect(scriptTags(page)).toHaveLength(2);
  const embed = readInboxEmbed(page);
  expect(embed?.loader).toContain(`"https://statics.esputnik.com/scripts/${scriptId}.js"`);
  expect(embed?.config).toMatchObject({ tokenUrl: tokenPath, flags: {} });
  // The client comes from the installed package's dist/client.
  const client = await fetch(`${siteUrl}${embed?.clientUrl}`);
  expect(client.status).toBe(200);
  expect(await client.text()).toContain('data-reteno-config');

  const answer = await fetch(`${siteUrl}${tokenPath}`, {
    method: 'POST',
    headers: { cookie, 'x-reteno-inbox': '1' },
  });
  expect(answer.status).toBe(200);
  const { token } = (await answer.json()) as { token: unknown };
  expect(token).toEqual(expect.any(String));
  expect(token).not.toBe('');
  const asked = reteno.requests.filter((request) => request.path === '/v1/auth/contact/token');
  expect(asked.map((request) => request.body)).toEqual([anna]);
}

/** Starts a fresh emulator and the site, checks what a visitor gets, then stops both. */
async function visitSite(node: string, script: string, cwd: string): Promise<Record<string, unknown>> {
  const emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [anna] });
  try {
    const site = await startSite(node, script, cwd, emulator.url);
    try {
      await expectEmbedAndToken(site.url, emulator);
      return site.ready;
    } finally {
      await site.stop();
    }
  } finally {
    await emulator.close();
  }
}

/**
 * A TypeScript site: strict, typed `res.locals.retenoInbox`, `instanceof RetenoInboxError` narrowing, the
 * emulator subpath imported as a value (a site's development fallback). The same source compiles to CommonJS and
 * to ES modules, so it awaits inside main() instead of at the top level.
 */
const typeScriptSite = `import express from 'express';
import session from 'express-session';
import { type Contact, RetenoInboxError, retenoInbox } from 'express-reteno-inbox';
import { createRetenoEmulator } from 'express-reteno-inbox/emulator';

declare module 'express-session' {
  interface SessionData {
    contact?: Contact;
  }
}

const scriptId = process.env.RETENO_SCRIPT_ID ?? '${scriptId}';

function optionErrorCode(): string {
  try {
    retenoInbox({ apiKey: 'k', scriptId: 'not-a-uuid', resolveContact: () => null });
    return 'none';
  } catch (error) {
    return error instanceof RetenoInboxError ? error.code : 'not a RetenoInboxError';
  }
}

async function main(): Promise<void> {
  // Without a Reteno account, development runs on the package's emulator.
  const baseUrl =
    process.env.RETENO_BASE_URL ?? (await createRetenoEmulator({ apiKey: 'development', scriptId })).url;

  const app = express();
  app.set('view engine', 'ejs');
  app.set('views', 'views');
  app.use(express.urlencoded({ extended: false }));
  app.use(session({ secret: 'typescript-site-secret', resave: false, saveUninitialized: false }));
  app.post('/sign-in', (req, res) => {
    req.session.contact = { email: String(req.body.email) };
    res.redirect('/');
  });
  app.use(
    retenoInbox({
      apiKey: process.env.RETENO_API_KEY ?? '',
      scriptId,
      baseUrl,
      resolveContact: (req) => req.session.contact ?? null,
    }),
  );
  app.get('/', (_req, res) => {
    res.render('page', { title: 'Shop' });
  });

  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    console.log(JSON.stringify({ url: \`http://127.0.0.1:\${port}\`, optionError: optionErrorCode() }));
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;

/** The TypeScript consumers: where the source sits (the folder's package.json sets its format) and its options. */
const typeScriptConsumers = [
  {
    name: 'CommonJS, module node16',
    folder: 'ts-node16',
    module: { module: 'node16', moduleResolution: 'node16' },
    build: 'cjs',
  },
  {
    name: 'CommonJS, module commonjs + moduleResolution node10',
    folder: 'ts-node10',
    module: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
    build: 'cjs',
  },
  {
    name: 'ES modules, module nodenext',
    folder: 'esm/ts-nodenext',
    module: { module: 'nodenext' },
    build: 'esm',
  },
  {
    name: 'ES modules, moduleResolution bundler',
    folder: 'esm/ts-bundler',
    module: { module: 'esnext', moduleResolution: 'bundler', esModuleInterop: true },
    build: 'esm',
  },
] as const;

describe('the published package', () => {
  let work: string;
  let tarball: string;
  let project: string;
  let esmProject: string;
  /** The Node binaries consumers run on: this one (Node 20 in CI) and Node 22. */
  const nodes: Record<'this Node' | 'Node 22', string> = { 'this Node': process.execPath, 'Node 22': '' };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'express-reteno-inbox-package-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], root);
    const [packed] = JSON.parse(stdout) as PackResult[];
    if (!packed) throw new Error('npm pack reported no tarball');
    tarball = join(work, packed.filename);

    project = join(work, 'consumer');
    esmProject = join(project, 'esm');
    await createProject(project, tarball);
    await linkFromRepository(project, [
      '@types/node',
      '@types/express',
      '@types/express-serve-static-core',
      '@types/express-session',
    ]);
    await mkdir(join(project, 'views'));
    await copyFile(join(fixtures, 'cjs-site/views/page.ejs'), join(project, 'views/page.ejs'));
    await copyFile(join(fixtures, 'cjs-site/server.cjs'), join(project, 'server.cjs'));
    await copyFile(join(fixtures, 'cjs-site/site.test.js'), join(project, 'site.test.js'));
    await copyFile(join(fixtures, 'consumers/esm-site.mjs'), join(project, 'server.mjs'));
    await copyFile(join(fixtures, 'consumers/both-formats.cjs'), join(project, 'both-formats.cjs'));
    nodes['Node 22'] = await node22(project);
  }, slow);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('tarball contents', () => {
    let files: string[];
    let manifest: { exports: Record<string, unknown>; bin: Record<string, string> };

    beforeAll(async () => {
      const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], root);
      const [packed] = JSON.parse(stdout) as PackResult[];
      files = (packed?.files ?? []).map((file) => file.path);
      manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as typeof manifest;
    }, slow);

    it('holds both builds of each entry point with their types, the page client, the views and the package documents', () => {
      expect(files).toEqual(
        expect.arrayContaining([
          'dist/esm/index.js',
          'dist/esm/index.d.ts',
          'dist/esm/emulator/index.js',
          'dist/esm/emulator/index.d.ts',
          'dist/esm/emulator/cli.js',
          'dist/esm/doctor/index.js',
          'dist/cjs/index.cjs',
          'dist/cjs/index.d.cts',
          'dist/cjs/emulator/index.cjs',
          'dist/cjs/emulator/index.d.cts',
          'dist/cjs/emulator/cli.cjs',
          'dist/cjs/doctor/index.cjs',
          'dist/client/reteno-inbox.js',
          'views/embed.ejs',
          'views/reteno-loader.ejs',
          'views/tracking-embed.ejs',
          'views/emulator-widget.js',
          'package.json',
          'README.md',
          'LICENSE',
        ]),
      );
    });

    it('holds nothing users do not need: no sources, tests, examples, benchmarks, docs or source maps', () => {
      const unwanted = files.filter(
        (path) =>
          /^(src|test|examples|bench|docs|coverage|node_modules|\.[^/]+)\//.test(path) ||
          path.endsWith('.map') ||
          path.endsWith('.tsbuildinfo') ||
          /^(tsconfig|tsup\.config|jest\.config|biome|typedoc)/.test(path),
      );
      expect(unwanted).toEqual([]);
      const documents = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']);
      expect(
        files.filter((path) => !/^(dist\/(esm|cjs|client)|views)\//.test(path) && !documents.has(path)),
      ).toEqual([]);
    });

    it('holds every file that package.json exports or runs as a bin', () => {
      const targets = (value: unknown): string[] =>
        typeof value === 'string' ? [value] : Object.values(value as object).flatMap(targets);
      const exported = targets(manifest.exports);
      expect(exported.length).toBeGreaterThanOrEqual(9);
      for (const target of [...exported, ...Object.values(manifest.bin)]) {
        expect(files).toContain(target.replace(/^\.\//, ''));
      }
    });

    it('bundles got into the CommonJS build only: got is an ES module, which require() cannot load under Jest', async () => {
      const cjs = await readFile(join(root, 'dist/cjs/index.cjs'), 'utf8');
      const esm = await readFile(join(root, 'dist/esm/index.js'), 'utf8');
      expect(cjs).not.toMatch(/require\(["']got["']\)/);
      expect(esm).toMatch(/from ["']got["']/);
    });
  });

  describe('a CommonJS site with its own Jest suite (default configuration, require of the package)', () => {
    it.each(['jest29', 'jest30'])(
      'passes under %s',
      async (jest) => {
        const cli = join(project, 'node_modules', jest, 'bin/jest.js');
        const { stdout } = await run(
          process.execPath,
          [cli, '--ci', '--json', 'site.test.js'],
          project,
        ).catch((error: { stdout: string; stderr: string }) => {
          throw new Error(`${jest} failed:\n${error.stderr}`);
        });
        const report = JSON.parse(stdout) as {
          numPassedTests: number;
          numFailedTests: number;
          testResults: { assertionResults: { title: string; status: string }[] }[];
        };
        const major = Number(jest.slice(4));
        const { version } = JSON.parse(
          await readFile(join(project, 'node_modules', jest, 'package.json'), 'utf8'),
        ) as { version: string };
        expect(Number(version.split('.')[0])).toBe(major);
        expect(report.numFailedTests).toBe(0);
        expect(
          report.testResults
            .flatMap((suite) => suite.assertionResults)
            .map(({ title, status }) => [title, status]),
        ).toEqual([
          ['a signed-in visitor gets the inbox embed and a token from Reteno', 'passed'],
          ["the emulator serves its development widget at the site's script URL", 'passed'],
        ]);
      },
      slow,
    );
  });

  describe('a plain JavaScript site serves the embed and a token', () => {
    it.each([
      ['CommonJS (require)', 'this Node', 'server.cjs'],
      ['CommonJS (require)', 'Node 22', 'server.cjs'],
      ['ES modules (import)', 'this Node', 'server.mjs'],
      ['ES modules (import)', 'Node 22', 'server.mjs'],
    ] as const)(
      '%s on %s',
      async (_format, node, script) => {
        await visitSite(nodes[node], script, project);
      },
      slow,
    );
  });

  describe('both builds in one process (require and import)', () => {
    it.each(['this Node', 'Node 22'] as const)(
      'answers instanceof RetenoInboxError for an error of either build, with either class, on %s',
      async (node) => {
        expect(await runNode('both-formats.cjs', project, nodes[node])).toEqual({
          twoClasses: true,
          codes: ['ERR_RETENO_INBOX_INVALID_OPTION', 'ERR_RETENO_INBOX_INVALID_OPTION'],
          requiredErrorIsImportedClass: true,
          importedErrorIsRequiredClass: true,
          eachIsItsOwnClass: true,
          plainErrorIsEither: false,
          subclassTakesPackageErrors: false,
          subclassErrorIsEitherClass: true,
          emulatorErrorIsEitherClass: true,
        });
      },
      slow,
    );
  });

  describe('a TypeScript site (strict), compiled and run', () => {
    it.each(typeScriptConsumers)(
      '$name',
      async ({ folder, module, build }) => {
        const dir = join(project, folder);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'server.ts'), typeScriptSite);
        await writeFile(
          join(dir, 'tsconfig.json'),
          JSON.stringify({
            compilerOptions: {
              strict: true,
              target: 'ES2022',
              types: ['node'],
              skipLibCheck: false,
              outDir: 'out',
              ...module,
            },
            files: ['server.ts'],
          }),
        );
        expect(await typecheck(dir, 'tsconfig.json')).toEqual({ exitCode: 0, errors: [] });
        const extension = build === 'cjs' ? 'd.cts' : 'd.ts';
        expect(await packageDeclarations(dir, 'tsconfig.json')).toEqual([
          `dist/${build}/emulator/index.${extension}`,
          `dist/${build}/index.${extension}`,
        ]);
        const ready = await visitSite(process.execPath, join(dir, 'out/server.js'), project);
        expect(ready.optionError).toBe('ERR_RETENO_INBOX_INVALID_OPTION');
      },
      slow,
    );
  });

  describe('from ESM', () => {
    it('imports retenoInbox and its error type from the package name', async () => {
      await writeFile(
        join(esmProject, 'main.mjs'),
        `import { retenoInbox, RetenoInboxError, errorCodes } from 'express-reteno-inbox';
const middleware = retenoInbox({ apiKey: 'k', scriptId: '${scriptId}', resolveContact: () => null });
let code;
try {
  retenoInbox({ apiKey: 'k', scriptId: 'not-a-uuid', resolveContact: () => null });
} catch (error) {
  code = error instanceof RetenoInboxError ? error.code : String(error);
}
console.log(JSON.stringify({ name: middleware.name, code, expected: errorCodes.invalidOption }));
`,
      );
      const result = (await runNode('main.mjs', esmProject)) as {
        name: string;
        code: string;
        expected: string;
      };
      expect(result.name).toBe('retenoInboxMiddleware');
      expect(result.code).toBe('ERR_RETENO_INBOX_INVALID_OPTION');
      expect(result.code).toBe(result.expected);
    });

    it('runs the emulator from the express-reteno-inbox/emulator subpath', async () => {
      await writeFile(
        join(esmProject, 'emulator.mjs'),
        `import { createRetenoEmulator } from 'express-reteno-inbox/emulator';
const emulator = await createRetenoEmulator({ apiKey: 'k', scriptId: '${scriptId}', contacts: [{ email: 'anna@example.com' }] });
const answer = await fetch(emulator.url + '/v1/auth/contact/token', {
  method: 'POST',
  headers: { authorization: 'Basic ' + btoa('site:k'), 'content-type': 'application/json' },
  body: JSON.stringify({ email: 'anna@example.com' }),
});
const body = await answer.json();
const widget = await fetch(emulator.url + '/scripts/${scriptId}.js');
const widgetStatus = widget.status;
await widget.text();
await emulator.close();
console.log(JSON.stringify({ status: answer.status, token: body.token, widgetStatus }));
`,
      );
      const result = (await runNode('emulator.mjs', esmProject)) as {
        status: number;
        token: unknown;
        widgetStatus: number;
      };
      expect(result.status).toBe(200);
      expect(result.widgetStatus).toBe(200);
      expect(typeof result.token).toBe('string');
      expect(result.token).not.toBe('');
    });

    it('installs the reteno-emulator command', async () => {
      const { stdout } = await run(join(project, 'node_modules/.bin/reteno-emulator'), ['--help'], project);
      expect(stdout).toMatch(/^Usage: reteno-emulator/);
    });

    it('installs the reteno-inbox-doctor command', async () => {
      const { stdout } = await run(
        join(project, 'node_modules/.bin/reteno-inbox-doctor'),
        ['--help'],
        project,
      );
      expect(stdout).toMatch(/^Usage: reteno-inbox-doctor/);
    });

    it('keeps the internals private: only the exported subpaths resolve', async () => {
      await writeFile(
        join(esmProject, 'deep.mjs'),
        `const outcome = await Promise.all(
  ['express-reteno-inbox/dist/esm/index.js', 'express-reteno-inbox/dist/cjs/index.cjs'].map((path) =>
    import(path).then(() => 'resolved', (error) => error.code),
  ),
);
console.log(JSON.stringify(outcome));
`,
      );
      expect(await runNode('deep.mjs', esmProject)).toEqual([
        'ERR_PACKAGE_PATH_NOT_EXPORTED',
        'ERR_PACKAGE_PATH_NOT_EXPORTED',
      ]);
    });
  });

  describe('from TypeScript (strict, module NodeNext)', () => {
    const tsconfig = (files: string[]) =>
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          types: ['node'],
        },
        files,
      });

    it(
      'type-checks a site that reads res.locals.retenoInbox through the Express.Locals augmentation',
      async () => {
        await writeFile(join(esmProject, 'tsconfig.site.json'), tsconfig(['site.ts']));
        await writeFile(
          join(esmProject, 'site.ts'),
          `import express from 'express';
import { type Contact, type RetenoInboxOptions, retenoInbox } from 'express-reteno-inbox';
import { createRetenoEmulator, type RetenoEmulator } from 'express-reteno-inbox/emulator';

const resolveContact: RetenoInboxOptions['resolveContact'] = (req): Contact | null =>
  typeof req.query.email === 'string' ? { email: req.query.email } : null;

const app = express();
app.use(retenoInbox({ apiKey: 'k', scriptId: '${scriptId}', resolveContact, languages: ['en', 'uk'] }));
app.use(retenoInbox('k', () => ({ externalCustomerId: '42' }), { scriptId: '${scriptId}' }));
app.get('/', (_req, res) => {
  const embed: string = res.locals.retenoInbox ? res.locals.retenoInbox() : '';
  const again: string | undefined = res.locals.retenoInbox?.();
  res.send(embed + (again ?? ''));
});

const emulator: RetenoEmulator = await createRetenoEmulator({ apiKey: 'k', scriptId: '${scriptId}' });
emulator.pushMessage({ email: 'anna@example.com' }, { title: 'Hello', content: 'First message' });
await emulator.close();
`,
        );
        expect(await typecheck(esmProject, 'tsconfig.site.json')).toEqual({ exitCode: 0, errors: [] });
      },
      slow,
    );

    it(
      'rejects wrong uses, each on the line that has it',
      async () => {
        // Each wrong line ends with the error TypeScript must report for it.
        const source = `import express from 'express';
import { retenoInbox } from 'express-reteno-inbox';
import { createRetenoEmulator } from 'express-reteno-inbox/emulator';

const app = express();
app.use(retenoInbox({ apiKey: 'k', scriptId: 's', resolveContact: () => null, baseURL: 'x' })); // TS2561
app.use(retenoInbox({ apiKey: 'k', scriptId: 's', resolveContact: () => ({ name: 'Anna' }) })); // TS2322
app.use(retenoInbox('k', () => null, { scriptId: 's', languages: 'en' })); // TS2322
app.get('/', (_req, res) => {
  const embed: string = res.locals.retenoInbox(); // TS2722
  res.locals.retenoInbox = () => 42; // TS2322
  res.send(embed);
});
await createRetenoEmulator({ apiKey: 'k' }); // TS2345
`;
        await writeFile(join(esmProject, 'tsconfig.misuse.json'), tsconfig(['misuse.ts']));
        await writeFile(join(esmProject, 'misuse.ts'), source);
        const expected = source.split('\n').flatMap((line, index) => {
          const code = / \/\/ (TS\d+)$/.exec(line)?.[1];
          return code ? [`misuse.ts(${index + 1}): ${code}`] : [];
        });

        const { exitCode, errors } = await typecheck(esmProject, 'tsconfig.misuse.json');
        expect(exitCode).not.toBe(0);
        expect(errors).toEqual(expected);
      },
      slow,
    );
  });

  describe('the CommonJS site fixture', () => {
    it('mounts with one app.use line and renders with one template line', async () => {
      const server = await readFile(join(fixtures, 'cjs-site/server.cjs'), 'utf8');
      const page = await readFile(join(fixtures, 'cjs-site/views/page.ejs'), 'utf8');
      expect(server.match(/retenoInbox\(/g)).toHaveLength(1);
      expect(server).toMatch(/^app\.use\(\n? *retenoInbox\(/m);
      expect(page.split('\n').filter((line) => line.includes('retenoInbox'))).toEqual([
        "<%- locals.retenoInbox ? retenoInbox() : '' %>",
      ]);
    });
  });
});
