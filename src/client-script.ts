import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Request, Response } from 'express';
import { clientScriptPath, isClientScriptPath } from './client/page-config.js';
import { packageFile } from './package-files.js';

/** Where the build puts the client (src/client/), minified for browsers. */
const builtClient = 'dist/client/reteno-inbox.js';

export interface ClientScript {
  /** The current version's path, relative to the mount path: `{tokenPath}/client.<version>.js`. */
  path: string;
  /** Whether a request path (relative to the mount path) is the client script, of this or another version. */
  serves(path: string): boolean;
  /** Answers a request for the client script. */
  middleware(req: Request, res: Response): void;
}

/**
 * The client script that signed-in pages load, read once when the middleware is created and served from memory
 * under a version taken from its content. The current version is cached for a year as immutable: a new release
 * gives pages a new URL. Another version (a page rendered by another release during a rolling deploy) gets this
 * release's script, which no cache keeps.
 */
export function createClientScript(tokenPath: string): ClientScript {
  const source = readFileSync(packageFile(builtClient));
  const version = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const path = clientScriptPath(tokenPath, version);
  const etag = `"${version}"`;
  const headers = {
    'Content-Type': 'text/javascript; charset=utf-8',
    'Content-Length': String(source.length),
    'X-Content-Type-Options': 'nosniff',
    ETag: etag,
  };

  return {
    path,
    serves: (requestPath) => isClientScriptPath(tokenPath, requestPath),
    middleware: function retenoInboxClientScript(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        res.status(405).json({ error: 'method_not_allowed' });
        return;
      }
      const current = req.path === path;
      res.setHeader('Cache-Control', current ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (req.headers['if-none-match'] === etag) {
        res.setHeader('ETag', etag);
        res.status(304).end();
        return;
      }
      res
        .set(headers)
        .status(200)
        .end(req.method === 'HEAD' ? undefined : source);
    },
  };
}
