import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { apiKey, embedScript, scriptId, scriptTags, tokenPath } from './helpers/site.js';

// What users get: the tarball `npm pack` makes, installed with npm into projects outside this repository (so
// nothing resolves from this repository's node_modules by accident), used from ESM, CommonJS and TypeScript.
// `dist` must be built first: `npm test` does that in `pretest`.

const root = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);
const anna = { email: 'anna@example.com' };
const slow = 180_000;

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
  return execFileAsync(command, args, { cwd, env: childEnv(env), maxBuffer: 16 * 1024 * 1024 });
}

async function runNode(script: string, cwd: string): Promise<unknown> {
  const { stdout } = await run(process.execPath, [script], cwd);
  return JSON.parse(stdout);
}

/** `tsc --noEmit -p <project>`: the exit code and each error as `file(line): TSxxxx`. */
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
    return { exitCode: code, errors };
  }
}

/** A fresh project with the tarball installed by npm, as `npm install express-reteno-inbox` would. */
async function createProject(dir: string, type: 'module' | 'commonjs', tarball: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: `consumer-${type}`, private: true, type }),
  );
  // The dependencies come from npm's cache when it has them (CI has just installed this repository), else
  // from the registry. npm also installs the peer dependency, express.
  await run(
    'npm',
    ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock'],
    dir,
  );
}

/** Development-only packages a site would install itself, linked from this repository after npm is done. */
async function linkFromRepository(dir: string, names: string[]): Promise<void> {
  for (const name of names) {
    const target = join(dir, 'node_modules', name);
    await mkdir(join(target, '..'), { recursive: true });
    await symlink(join(root, 'node_modules', name), target, 'dir');
  }
}

describe('the published package', () => {
  let work: string;
  let tarball: string;
  let esmProject: string;
  let cjsProject: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'express-reteno-inbox-package-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], root);
    const [packed] = JSON.parse(stdout) as PackResult[];
    if (!packed) throw new Error('npm pack reported no tarball');
    tarball = join(work, packed.filename);

    esmProject = join(work, 'esm');
    cjsProject = join(work, 'cjs-site');
    await createProject(esmProject, 'module', tarball);
    await createProject(cjsProject, 'commonjs', tarball);
    await linkFromRepository(esmProject, ['@types/node', '@types/express']);
    await linkFromRepository(cjsProject, ['express-session']);
  }, slow);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('tarball contents', () => {
    let files: string[];
    let manifest: { exports: Record<string, string | Record<string, string>>; bin: Record<string, string> };

    beforeAll(async () => {
      const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], root);
      const [packed] = JSON.parse(stdout) as PackResult[];
      files = (packed?.files ?? []).map((file) => file.path);
      manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as typeof manifest;
    }, slow);

    it('holds the built code, its types, the embed template and the package documents', () => {
      expect(files).toEqual(
        expect.arrayContaining([
          'dist/index.js',
          'dist/index.d.ts',
          'dist/emulator/index.js',
          'dist/emulator/index.d.ts',
          'views/embed.ejs',
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
          /^(tsconfig|jest\.config|biome|typedoc)/.test(path),
      );
      expect(unwanted).toEqual([]);
      const documents = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']);
      expect(files.filter((path) => !/^(dist|views)\//.test(path) && !documents.has(path))).toEqual([]);
    });

    it('holds every file that package.json exports or runs as a bin', () => {
      const targets = Object.values(manifest.exports).flatMap((target) =>
        typeof target === 'string' ? [target] : Object.values(target),
      );
      for (const target of [...targets, ...Object.values(manifest.bin)]) {
        expect(files).toContain(target.replace(/^\.\//, ''));
      }
    });
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
await emulator.close();
console.log(JSON.stringify({ status: answer.status, token: body.token }));
`,
      );
      const result = (await runNode('emulator.mjs', esmProject)) as { status: number; token: unknown };
      expect(result.status).toBe(200);
      expect(typeof result.token).toBe('string');
      expect(result.token).not.toBe('');
    });

    it('installs the reteno-emulator command', async () => {
      const { stdout } = await run(
        join(esmProject, 'node_modules/.bin/reteno-emulator'),
        ['--help'],
        esmProject,
      );
      expect(stdout).toMatch(/^Usage: reteno-emulator/);
    });

    it('keeps the internals private: only the exported subpaths resolve', async () => {
      await writeFile(
        join(esmProject, 'deep.mjs'),
        `const outcome = await import('express-reteno-inbox/dist/options.js').then(() => 'resolved', (error) => error.code);
console.log(JSON.stringify(outcome));
`,
      );
      expect(await runNode('deep.mjs', esmProject)).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
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

  describe('from a CommonJS Express + EJS site (require of the ES module)', () => {
    let emulator: RetenoEmulator;
    let site: ChildProcess | undefined;
    let siteUrl: string;

    beforeAll(async () => {
      emulator = await createRetenoEmulator({ apiKey, scriptId, contacts: [anna] });
      const fixture = join(root, 'test/fixtures/cjs-site');
      await mkdir(join(cjsProject, 'views'), { recursive: true });
      await copyFile(join(fixture, 'server.cjs'), join(cjsProject, 'server.cjs'));
      await copyFile(join(fixture, 'views/page.ejs'), join(cjsProject, 'views/page.ejs'));

      const started = spawn(process.execPath, ['server.cjs'], {
        cwd: cjsProject,
        env: childEnv({ RETENO_API_KEY: apiKey, RETENO_SCRIPT_ID: scriptId, RETENO_BASE_URL: emulator.url }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      site = started;
      let stderr = '';
      started.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = once(started, 'exit').then(([code]) => {
        throw new Error(`The CommonJS site exited with ${String(code)}: ${stderr}`);
      });
      const firstLine = once(createInterface({ input: started.stdout as NodeJS.ReadableStream }), 'line');
      const [line] = (await Promise.race([firstLine, exited])) as [string];
      siteUrl = (JSON.parse(line) as { url: string }).url;
    }, slow);

    afterAll(async () => {
      if (site && site.exitCode === null) {
        const exited = once(site, 'exit');
        site.kill();
        await exited;
      }
      await emulator?.close();
    });

    it('mounts with one app.use line and renders with one template line', async () => {
      const server = await readFile(join(root, 'test/fixtures/cjs-site/server.cjs'), 'utf8');
      const page = await readFile(join(root, 'test/fixtures/cjs-site/views/page.ejs'), 'utf8');
      expect(server.match(/retenoInbox\(/g)).toHaveLength(1);
      expect(server).toMatch(/^app\.use\(\n? *retenoInbox\(/m);
      expect(page.split('\n').filter((line) => line.includes('retenoInbox'))).toEqual([
        "<%- locals.retenoInbox ? retenoInbox() : '' %>",
      ]);
    });

    it('renders no embed for an anonymous visitor', async () => {
      const page = await (await fetch(`${siteUrl}/`)).text();
      expect(page).toContain('<h1>Shop</h1>');
      expect(scriptTags(page)).toEqual([]);
    });

    it("renders the embed for a signed-in visitor and hands out that visitor's token", async () => {
      const signIn = await fetch(`${siteUrl}/sign-in`, {
        method: 'POST',
        body: new URLSearchParams(anna),
        redirect: 'manual',
      });
      expect(signIn.status).toBe(302);
      const cookie = signIn.headers.get('set-cookie')?.split(';')[0] ?? '';
      expect(cookie).toMatch(/^connect\.sid=/);

      const page = await (await fetch(`${siteUrl}/`, { headers: { cookie } })).text();
      expect(scriptTags(page)).toHaveLength(1);
      const script = embedScript(page) ?? '';
      expect(script).toContain(`"https://statics.esputnik.com/scripts/${scriptId}.js"`);
      expect(script).toContain(`eS('init',{"APP_INBOX":true}`);
      expect(script).toContain(`fetch("${tokenPath}"`);

      const answer = await fetch(`${siteUrl}${tokenPath}`, {
        method: 'POST',
        headers: { cookie, 'x-reteno-inbox': '1' },
      });
      expect(answer.status).toBe(200);
      const { token } = (await answer.json()) as { token: string };
      expect(token).not.toBe('');
      const asked = emulator.requests.filter((request) => request.path === '/v1/auth/contact/token');
      expect(asked.map((request) => request.body)).toEqual([anna]);
    });
  });
});
