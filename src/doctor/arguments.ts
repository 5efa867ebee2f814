import { parseArgs } from 'node:util';
import { defaults } from '../options.js';

/** Everything the doctor checks, read from the command line and the environment. */
export interface DoctorSettings {
  apiKey: string;
  scriptId: string;
  /** Reteno's API, without a trailing slash. */
  baseUrl: string;
  /** Reteno's script for this site: `{scriptBaseUrl}{scriptId}.js`. */
  scriptUrl: string;
  /** The signed-in page to check and the token route beside it, when `--site-url` is given. */
  site: { pageUrl: URL; cookie: string; tokenUrl: URL } | null;
  /** Milliseconds each request may take. */
  timeout: number;
  json: boolean;
}

export type DoctorCommand = { kind: 'help' } | { kind: 'check'; settings: DoctorSettings };

/** A command line the doctor cannot run; its message names the flag and never holds a secret. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const maxTimeout = 120_000;

export const doctorUsage = `Usage: reteno-inbox-doctor --script-id <uuid> [options]

Checks a live Reteno App Inbox set-up and prints what to fix. Exit code 0 when every check passes, 1 otherwise.

Reteno:
  --api-key <key>           the site's Reteno API key (better: the RETENO_API_KEY environment variable)
  --script-id <uuid>        the site's script id, from Reteno's Settings > Web Tracking
  --base-url <url>          Reteno's API (default ${defaults.baseUrl})
  --script-base-url <url>   where Reteno's script is (default ${defaults.scriptBaseUrl})

The site (optional):
  --site-url <url>          a page that shows the inbox to a signed-in user
  --cookie <cookies>        that user's cookies, as a Cookie header: 'connect.sid=…'
  --token-path <path>       the token route's path (default ${defaults.tokenPath})

Output:
  --timeout <ms>            how long each request may take (default ${defaults.timeout})
  --json                    print { ok, checks: [{ name, ok, detail, fix }] }
  -h, --help                show this help`;

/** Reads the command line and the environment; throws a {@link UsageError} that names the bad flag. */
export function parseDoctorArguments(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): DoctorCommand {
  const values = readFlags(args);
  if (values.help) return { kind: 'help' };

  const apiKey = values['api-key'] ?? env.RETENO_API_KEY ?? '';
  if (apiKey === '') throw new UsageError('give the API key: --api-key or the RETENO_API_KEY variable.');
  // The value itself is never echoed: it is a secret.
  if (/[\s\p{Cc}]/u.test(apiKey)) throw new UsageError('the API key holds spaces or control characters.');
  const scriptId = values['script-id'];
  if (scriptId === undefined || scriptId === '') throw new UsageError('give --script-id.');

  const siteUrl = values['site-url'];
  const cookie = values.cookie;
  if ((siteUrl === undefined) !== (cookie === undefined)) {
    throw new UsageError(
      '--site-url and --cookie go together: the page and the token route are checked as a signed-in user.',
    );
  }
  if (cookie !== undefined && /[\r\n\0]/.test(cookie)) throw new UsageError('--cookie holds a line break.');
  const tokenPath = values['token-path'] ?? defaults.tokenPath;
  if (!tokenPath.startsWith('/') || tokenPath.startsWith('//')) {
    throw new UsageError(`--token-path must be a path starting with one '/', like ${defaults.tokenPath}.`);
  }

  let scriptBaseUrl = httpUrl('--script-base-url', values['script-base-url'] ?? defaults.scriptBaseUrl).href;
  if (!scriptBaseUrl.endsWith('/')) scriptBaseUrl += '/';
  const pageUrl = siteUrl === undefined ? undefined : httpUrl('--site-url', siteUrl);
  return {
    kind: 'check',
    settings: {
      apiKey,
      scriptId,
      baseUrl: httpUrl('--base-url', values['base-url'] ?? defaults.baseUrl).href.replace(/\/+$/, ''),
      scriptUrl: `${scriptBaseUrl}${scriptId}.js`,
      site:
        pageUrl && cookie !== undefined
          ? { pageUrl, cookie, tokenUrl: new URL(tokenPath, pageUrl.origin) }
          : null,
      timeout: timeoutOf(values.timeout),
      json: values.json ?? false,
    },
  };
}

/**
 * The secrets a command line may hold, to be blanked out of everything printed: the API key from the environment
 * and from `--api-key`, found even when the rest of the command line is wrong.
 */
export function secretsIn(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const secrets = env.RETENO_API_KEY ? [env.RETENO_API_KEY] : [];
  args.forEach((arg, index) => {
    // parseArgs, too, takes a value after a space only when it does not start with '-'.
    const next = args[index + 1];
    const value = arg === '--api-key' && !next?.startsWith('-') ? next : /^--api-key=(.*)$/s.exec(arg)?.[1];
    if (value) secrets.push(value);
  });
  return secrets;
}

function readFlags(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        'api-key': { type: 'string' },
        'script-id': { type: 'string' },
        'base-url': { type: 'string' },
        'script-base-url': { type: 'string' },
        'site-url': { type: 'string' },
        cookie: { type: 'string' },
        'token-path': { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    // Node's message quotes a stray argument, which may be a secret given without its flag.
    const code = (error as { code?: string }).code;
    throw new UsageError(
      code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL'
        ? 'an argument without a flag: every value follows its --flag.'
        : (error as Error).message,
    );
  }
}

function httpUrl(flag: string, text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new UsageError(`${flag} must be an absolute http(s) URL.`);
  }
  return url;
}

function timeoutOf(text: string | undefined): number {
  if (text === undefined) return defaults.timeout;
  const timeout = Number(text);
  if (!/^\d+$/.test(text) || timeout < 1 || timeout > maxTimeout) {
    throw new UsageError(`--timeout must be a whole number of milliseconds from 1 to ${maxTimeout}.`);
  }
  return timeout;
}
