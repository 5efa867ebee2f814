import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { defaults, isLoopback } from '../options.js';
import {
  type Cookie,
  CookieSyntaxError,
  cookiesFromHeader,
  cookiesFromJar,
  hasCookieFor,
} from './cookies.js';

/** Everything the doctor checks, read from the command line and the environment. */
export interface DoctorSettings {
  apiKey: string;
  scriptId: string;
  /** Reteno's API, without a trailing slash. */
  baseUrl: string;
  /** Reteno's script for this site: `{scriptBaseUrl}{scriptId}.js`. */
  scriptUrl: string;
  /** The signed-in page to check and the token route beside it, when `--site-url` is given. */
  site: SiteSettings | null;
  /** Milliseconds each request may take. */
  timeout: number;
  json: boolean;
}

/** The site, as `--site-url`, `--cookie`, `--cookie-jar`, `--header` and `--token-path` give it. */
export interface SiteSettings {
  pageUrl: URL;
  /** The signed-in user's cookies, from `--cookie-jar` and `--cookie` (which wins). */
  cookies: readonly Cookie[];
  /** `--header` lines, sent with every request to the site. */
  headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** `--token-path` on the page's origin; without it, the token URL of the page's embed is used. */
  tokenUrl: URL | undefined;
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
  --allow-http              allow http: for a --base-url or --script-base-url that is not loopback

The site (optional):
  --site-url <url>          a page that shows the inbox to a signed-in user
  --cookie <cookies>        that user's cookies, as a Cookie header: 'connect.sid=…'
  --cookie-jar <file>       or a cookie file (Netscape format, as curl -c writes it)
  --header <'name: value'>  a header to send with every request to the site (repeatable)
  --token-path <path>       the token route's path (default: the one the page's embed calls)

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

  const allowHttp = values['allow-http'] ?? false;
  let scriptBaseUrl = retenoUrl(
    '--script-base-url',
    values['script-base-url'] ?? defaults.scriptBaseUrl,
    allowHttp,
  );
  if (!scriptBaseUrl.endsWith('/')) scriptBaseUrl += '/';
  return {
    kind: 'check',
    settings: {
      apiKey,
      scriptId,
      baseUrl: retenoUrl('--base-url', values['base-url'] ?? defaults.baseUrl, allowHttp).replace(/\/+$/, ''),
      scriptUrl: `${scriptBaseUrl}${scriptId}.js`,
      site: siteSettings(values),
      timeout: timeoutOf(values.timeout),
      json: values.json ?? false,
    },
  };
}

function siteSettings(values: ReturnType<typeof readFlags>): SiteSettings | null {
  const siteUrl = values['site-url'];
  const { cookie } = values;
  const jarPath = values['cookie-jar'];
  const headers = values.header ?? [];
  if (siteUrl === undefined) {
    if (
      cookie !== undefined ||
      jarPath !== undefined ||
      headers.length > 0 ||
      values['token-path'] !== undefined
    ) {
      throw new UsageError('--cookie, --cookie-jar, --header and --token-path need --site-url.');
    }
    return null;
  }
  if (cookie === undefined && jarPath === undefined) {
    throw new UsageError(
      '--site-url needs --cookie or --cookie-jar: the page and the token route are checked as a signed-in user.',
    );
  }
  const pageUrl = httpUrl('--site-url', siteUrl);
  const now = Date.now();
  const given = cookie === undefined ? [] : readCookies('--cookie', () => cookiesFromHeader(cookie, pageUrl));
  // --cookie wins over a cookie of the same name in the file.
  const fromJar = jarPath === undefined ? [] : jarCookies(jarPath);
  const cookies = [...fromJar.filter(({ name }) => !given.some((kept) => kept.name === name)), ...given];
  if (!hasCookieFor(cookies, pageUrl, now)) {
    throw new UsageError(`--cookie and --cookie-jar hold no cookie for ${pageUrl.href}.`);
  }
  return {
    pageUrl,
    cookies,
    headers: headers.map(headerLine),
    tokenUrl: values['token-path'] === undefined ? undefined : tokenUrlOf(values['token-path'], pageUrl),
  };
}

function jarCookies(path: string): Cookie[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--cookie-jar: cannot read the file (${(error as { code?: string }).code ?? 'error'}).`,
    );
  }
  return readCookies('--cookie-jar', () => cookiesFromJar(text));
}

function readCookies(flag: string, read: () => Cookie[]): Cookie[] {
  try {
    return read();
  } catch (error) {
    if (error instanceof CookieSyntaxError) throw new UsageError(`${flag}: ${error.message}.`);
    throw error;
  }
}

/** Headers the doctor sets itself on each probe, or that --cookie and --cookie-jar give. */
const reservedHeaders = new Set([
  'cookie',
  'host',
  'origin',
  'sec-fetch-site',
  'x-reteno-inbox',
  'content-length',
  'transfer-encoding',
  'connection',
]);

function headerLine(line: string): [string, string] {
  const colon = line.indexOf(':');
  const name = line.slice(0, colon).trim();
  const value = line.slice(colon + 1).trim();
  // The value is never echoed: it may be a secret.
  if (colon === -1 || !/^[!#$%&'*+.^_`|~\w-]{1,256}$/.test(name) || !/^[\t\x20-\x7e]*$/.test(value)) {
    throw new UsageError("--header must be 'name: value', in visible ASCII characters.");
  }
  if (reservedHeaders.has(name.toLowerCase())) {
    throw new UsageError(
      name.toLowerCase() === 'cookie'
        ? 'give cookies with --cookie or --cookie-jar, not --header.'
        : `--header cannot set ${name}: the doctor sets it on each request.`,
    );
  }
  return [name, value];
}

/** The token route on the page's origin: a path that another host could be read from (`//…`, `\`) is refused. */
function tokenUrlOf(tokenPath: string, pageUrl: URL): URL {
  const fix = `--token-path must be a path starting with one '/', like ${defaults.tokenPath}.`;
  if (!tokenPath.startsWith('/') || tokenPath.startsWith('//') || /[\\\s\p{Cc}]/u.test(tokenPath)) {
    throw new UsageError(fix);
  }
  const url = new URL(tokenPath, pageUrl.origin);
  if (url.origin !== pageUrl.origin) throw new UsageError(fix);
  return url;
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
        'cookie-jar': { type: 'string' },
        header: { type: 'string', multiple: true },
        'token-path': { type: 'string' },
        'allow-http': { type: 'boolean' },
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

/**
 * Reteno's API or script host: the doctor sends the API key to `--base-url`, so, as the package's `allowHttp`,
 * `http:` only to a loopback host unless `--allow-http` says the network is trusted.
 */
function retenoUrl(flag: string, text: string, allowHttp: boolean): string {
  const url = httpUrl(flag, text);
  if (url.protocol === 'http:' && !allowHttp && !isLoopback(url.hostname)) {
    throw new UsageError(
      `${flag} uses http: for a host that is not loopback, so the API key would cross the network in clear text. Use https:, or pass --allow-http for a trusted network.`,
    );
  }
  return url.href;
}

function timeoutOf(text: string | undefined): number {
  if (text === undefined) return defaults.timeout;
  const timeout = Number(text);
  if (!/^\d+$/.test(text) || timeout < 1 || timeout > maxTimeout) {
    throw new UsageError(`--timeout must be a whole number of milliseconds from 1 to ${maxTimeout}.`);
  }
  return timeout;
}
