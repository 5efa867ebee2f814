import { pageConfigAttribute, parsePageConfig, tokenRequestHeaders } from '../client/page-config.js';
import { htmlElements } from './html.js';

// Everything the doctor reads from the embed a page carries, in one place: the rest of the doctor sees only what
// readEmbed returns. Written against views/embed.ejs (Reteno's loader inline, then the package's client tag whose
// data-reteno-config holds the token URL and headers, src/client/page-config.ts), and against a hand-written embed
// (one inline script: the loader, then eS('init', …) whose token callback calls
// fetch(tokenUrl, {method:'POST',headers:{…}})).

/** A `<script>` of the page that holds Reteno's loader or an `eS('init'` call, or loads the package's client. */
export interface EmbedScript {
  nonce: string | undefined;
  /** Its text, for a CSP hash ('' for the client's tag). */
  text: string;
  /** The package's client tag: the script it loads, as the page writes it. */
  src?: string;
}

/** What of Reteno a page carries. */
export interface PageEmbed {
  /** Loaders: each defines the `eS` queue, `t.eS=t.eS||f` (or Reteno's own snippet, `t['eS'] = t['eS'] || f`). */
  loaders: number;
  /** `eS('init', …)` calls. */
  inits: number;
  /** The script the first loader loads, when it names an absolute URL. */
  scriptUrl: string | undefined;
  /** The token route the embed calls, as the page writes it (usually a path). */
  tokenUrl: string | undefined;
  /** The headers the embed sends with every token call (the marker header, a CSRF header), as a browser sends them. */
  headers: Readonly<Record<string, string>>;
  scripts: EmbedScript[];
}

const eS = String.raw`\w+(?:\.eS|\[\s*['"]eS['"]\s*\])`;
// `\b` keeps each attempt to the start of a word: without it, a long word costs a scan per character.
const loaderSource = String.raw`\b${eS}\s*=\s*${eS}\s*\|\|`;
const initSource = String.raw`\beS\(\s*['"]init['"]`;
/** The loader's call: `}(window,document,'script',<script URL>)`. */
const loaderCallSource = String.raw`\}\s*\(\s*window\s*,\s*document\s*,\s*(['"])script\1\s*,\s*`;
/** What follows the token URL in the embed's `fetch(…)`. */
const fetchOptionsSource = String.raw`\s*,\s*\{\s*method\s*:\s*(['"])POST\1\s*,\s*headers\s*:\s*`;
const scriptElements: ReadonlySet<string> = new Set(['script']);
/** Longer literals are not the embed's. */
const maxLiteralLength = 16_384;

/** What of Reteno a page's HTML carries: the package's embed (views/embed.ejs) or a hand-written one. */
export function readEmbed(html: string): PageEmbed {
  const embed: PageEmbed = {
    loaders: 0,
    inits: 0,
    scriptUrl: undefined,
    tokenUrl: undefined,
    headers: {},
    scripts: [],
  };
  const loaderPattern = new RegExp(loaderSource, 'g');
  const initPattern = new RegExp(initSource, 'g');
  for (const element of htmlElements(html, scriptElements)) {
    const src = element.attributes.get('src');
    // A script with a src runs what it loads, not its text: only the package's client tag counts, as the page's init.
    if (src !== undefined) {
      const pageConfig = element.attributes.get(pageConfigAttribute);
      if (pageConfig === undefined) continue;
      const config = parsePageConfig(pageConfig);
      if (embed.tokenUrl === undefined && config !== undefined) {
        embed.tokenUrl = config.tokenUrl;
        embed.headers = browserHeaders(tokenRequestHeaders(config));
      }
      embed.inits += 1;
      embed.scripts.push({ nonce: element.attributes.get('nonce'), text: '', src });
      continue;
    }
    const { text } = element;
    const loaders = text.match(loaderPattern)?.length ?? 0;
    const inits = text.match(initPattern)?.length ?? 0;
    if (loaders + inits === 0) continue;
    if (embed.loaders === 0 && loaders > 0) embed.scriptUrl = loadedUrl(text);
    if (embed.tokenUrl === undefined && inits > 0) {
      const call = tokenCall(text);
      if (call) {
        embed.tokenUrl = call.url;
        embed.headers = call.headers;
      }
    }
    embed.loaders += loaders;
    embed.inits += inits;
    embed.scripts.push({ nonce: element.attributes.get('nonce'), text });
  }
  return embed;
}

/** The loader's last argument, when it is an absolute http(s) URL (Reteno's own snippet passes the script id). */
function loadedUrl(text: string): string | undefined {
  const call = new RegExp(loaderCallSource, 'g');
  if (call.exec(text) === null) return undefined;
  const url = stringLiteralAt(text, call.lastIndex)?.value;
  return url !== undefined && /^https?:\/\//i.test(url) ? url : undefined;
}

/** The URL and headers of the first `fetch(url,{method:'POST',headers:{…}})` in the script. */
function tokenCall(text: string): { url: string; headers: Record<string, string> } | undefined {
  const fetchCall = /\bfetch\(\s*/g;
  if (fetchCall.exec(text) === null) return undefined;
  const url = stringLiteralAt(text, fetchCall.lastIndex);
  if (url === undefined) return undefined;
  const options = new RegExp(fetchOptionsSource, 'y');
  options.lastIndex = url.end;
  if (options.exec(text) === null) return undefined;
  const headers = jsonObjectAt(text, options.lastIndex);
  return headers === undefined ? undefined : { url: url.value, headers: browserHeaders(headers) };
}

/** A JSON string literal (or a single-quoted one without escapes) starting at `start`, and where it ends. */
function stringLiteralAt(text: string, start: number): { value: string; end: number } | undefined {
  const quote = text[start];
  if (quote !== '"' && quote !== "'") return undefined;
  const end = literalEnd(text, start);
  if (end === undefined) return undefined;
  const literal = text.slice(start, end);
  if (quote === "'") return literal.includes('\\') ? undefined : { value: literal.slice(1, -1), end };
  const value = parseJson(literal);
  return typeof value === 'string' ? { value, end } : undefined;
}

/** A JSON object of string values starting at `start`. */
function jsonObjectAt(text: string, start: number): Record<string, unknown> | undefined {
  if (text[start] !== '{') return undefined;
  let index = start + 1;
  const limit = Math.min(text.length, start + maxLiteralLength);
  while (index < limit) {
    const character = text[index];
    if (character === '}') {
      const value = parseJson(text.slice(start, index + 1));
      return typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
    }
    if (character === '"') {
      const end = literalEnd(text, index);
      if (end === undefined) return undefined;
      index = end;
    } else {
      // Only flat objects: a nested one is not the embed's.
      if (character === '{' || character === '[') return undefined;
      index++;
    }
  }
  return undefined;
}

/** Where the quoted literal starting at `start` ends (after its closing quote), within the length limit. */
function literalEnd(text: string, start: number): number | undefined {
  const quote = text[start];
  const limit = Math.min(text.length, start + maxLiteralLength);
  for (let index = start + 1; index < limit; index++) {
    const character = text[index];
    if (character === '\\') index++;
    else if (character === quote) return index + 1;
    else if (character === '\n') return undefined;
  }
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const headerName = /^[!#$%&'*+.^_`|~\w-]{1,256}$/;
// Visible ASCII, spaces and tabs: what a header value can carry.
const headerValue = /^[\t\x20-\x7e]{0,4096}$/;
/** Headers a page's script cannot set (the Fetch standard's forbidden request headers), which a browser drops. */
const forbiddenHeader =
  /^(?:accept-charset|accept-encoding|access-control-request-\w+|connection|content-length|cookie2?|date|dnt|expect|host|keep-alive|origin|referer|set-cookie|te|trailer|transfer-encoding|upgrade|via|proxy-.*|sec-.*)$/i;

/** The string-valued headers a browser would send, dropping forbidden names and values no header can carry. */
function browserHeaders(object: Record<string, unknown>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(object)) {
    if (typeof value !== 'string' || !headerName.test(name) || forbiddenHeader.test(name)) continue;
    if (headerValue.test(value)) headers[name] = value;
  }
  return headers;
}
