import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The absolute path of a file shipped with the package (e.g. 'views/embed.ejs'), found by walking up from this
 * module: it runs from src/ in tests and from dist/esm or dist/cjs when installed. In the CommonJS build
 * `import.meta.url` is tsup's shim, made from `__filename`.
 */
export function packageFile(relativePath: string): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let folder = start; ; folder = dirname(folder)) {
    const candidate = join(folder, relativePath);
    if (existsSync(candidate)) return candidate;
    if (dirname(folder) === folder)
      throw new Error(`express-reteno-inbox: ${relativePath} is missing from the package`);
  }
}
