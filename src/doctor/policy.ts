import { createHash } from 'node:crypto';

/** One Content-Security-Policy: its directives by lower-case name, each with its source expressions. */
export type Policy = ReadonlyMap<string, readonly string[]>;

/** Directives that govern a `<script>` element, inline or loaded, most specific first. */
export const scriptDirectives = ['script-src-elem', 'script-src', 'default-src'];
/** Directives that govern `fetch` and XHR calls. */
export const connectDirectives = ['connect-src', 'default-src'];

/**
 * The policies of a `Content-Security-Policy` header. Several headers arrive joined by commas, and each policy is
 * enforced on its own; within a policy, the first occurrence of a directive wins.
 */
export function parsePolicies(header: string | null): Policy[] {
  if (header === null) return [];
  return header
    .split(',')
    .map((text) => {
      const policy = new Map<string, string[]>();
      for (const part of text.split(';')) {
        const [name, ...sources] = part.trim().split(/\s+/);
        if (name && !policy.has(name.toLowerCase())) policy.set(name.toLowerCase(), sources);
      }
      return policy;
    })
    .filter((policy) => policy.size > 0);
}

/** The first of `names` the policy has, with its sources; `undefined` when the policy restricts nothing here. */
export function directiveFor(
  policy: Policy,
  names: readonly string[],
): { name: string; sources: readonly string[] } | undefined {
  for (const name of names) {
    const sources = policy.get(name);
    if (sources) return { name, sources };
  }
  return undefined;
}

/** The nonces a directive allows (`'nonce-…'`). */
export function noncesOf(sources: readonly string[]): string[] {
  return sources.flatMap((source) => /^'nonce-([^']+)'$/i.exec(source)?.[1] ?? []);
}

/** Whether a directive lets an inline script with this text run: by nonce, by hash, or by 'unsafe-inline'. */
export function allowsInlineScript(
  sources: readonly string[],
  script: { nonce: string | undefined; text: string },
): boolean {
  const nonces = noncesOf(sources);
  if (script.nonce !== undefined && nonces.includes(script.nonce)) return true;
  const hashes = sources.filter((source) => /^'sha(256|384|512)-/i.test(source));
  const hashed = (algorithm: string) =>
    `'${algorithm}-${createHash(algorithm).update(script.text).digest('base64')}'`;
  if (hashes.some((hash) => hash === hashed(hash.slice(1, 7).toLowerCase()))) return true;
  // A nonce or a hash in the directive switches 'unsafe-inline' off.
  return nonces.length === 0 && hashes.length === 0 && hasKeyword(sources, "'unsafe-inline'");
}

/**
 * Whether a directive lets the embed's script run: an inline one by {@link allowsInlineScript}, the client's tag (a
 * `src`) by its nonce or, without 'strict-dynamic' (which ignores host sources), by the origin it loads from.
 */
export function allowsEmbedScript(
  sources: readonly string[],
  script: { nonce: string | undefined; text: string; src?: string },
  page: URL,
): boolean {
  if (script.src === undefined) return allowsInlineScript(sources, script);
  if (script.nonce !== undefined && noncesOf(sources).includes(script.nonce)) return true;
  if (hasKeyword(sources, "'strict-dynamic'")) return false;
  let url: URL;
  try {
    url = new URL(script.src, page);
  } catch {
    return false;
  }
  return allowsUrl(sources, url, page);
}

export function hasKeyword(sources: readonly string[], keyword: string): boolean {
  return sources.some((source) => source.toLowerCase() === keyword);
}

const hostSource =
  /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d+|\*))?(?:\/\S*)?$/i;

/**
 * Whether a directive lets the page at `self` load or call `url` (CSP Level 3 source matching, at the level of
 * origins: paths in sources are not compared, as browsers also ignore them after a redirect).
 */
export function allowsUrl(sources: readonly string[], url: URL, self: URL): boolean {
  return sources.some((source) => matchesSource(source.toLowerCase(), url, self));
}

function matchesSource(source: string, url: URL, self: URL): boolean {
  if (source === "'self'") return url.host === self.host && schemeMatches(self.protocol, url.protocol);
  if (source === '*') return ['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol);
  if (/^[a-z][a-z0-9+.-]*:$/.test(source)) return schemeMatches(source, url.protocol);
  const match = hostSource.exec(source);
  if (!match) return false;
  const [, scheme, host = '', port] = match;
  return (
    schemeMatches(scheme === undefined ? self.protocol : `${scheme}:`, url.protocol) &&
    (host === '*' ||
      (host.startsWith('*.') ? url.hostname.endsWith(host.slice(1)) : host === url.hostname)) &&
    portMatches(port, url)
  );
}

/** A source's scheme allows itself and its secure upgrade. */
function schemeMatches(expected: string, actual: string): boolean {
  return (
    expected === actual ||
    (expected === 'http:' && actual === 'https:') ||
    (expected === 'ws:' && actual === 'wss:')
  );
}

function portMatches(port: string | undefined, url: URL): boolean {
  if (port === '*') return true;
  // URL leaves a scheme's default port out.
  if (port === undefined) return url.port === '';
  const actual = url.port || (url.protocol === 'https:' || url.protocol === 'wss:' ? '443' : '80');
  return actual === port || (port === '80' && actual === '443');
}
