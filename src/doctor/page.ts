import { pageConfigAttribute } from '../client/page-config.js';

/** An inline `<script>` of a page that holds Reteno's loader or an `eS('init'` call. */
export interface EmbedScript {
  nonce: string | undefined;
  text: string;
}

/** What of Reteno a page carries, counted as views/embed.ejs renders it. */
export interface PageEmbed {
  /** Loaders: each defines the `eS` queue, `t.eS=t.eS||f` (or Reteno's own snippet, `t['eS'] = t['eS'] || f`). */
  loaders: number;
  /** `eS('init', …)` calls. */
  inits: number;
  scripts: EmbedScript[];
}

const scriptElement = /<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi;
const nonceAttribute = /\bnonce\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i;
const eS = String.raw`\w+(?:\.eS|\[\s*['"]eS['"]\s*\])`;
const loaderPattern = new RegExp(String.raw`${eS}\s*=\s*${eS}\s*\|\|`, 'g');
const initPattern = /\beS\(\s*['"]init['"]/g;
// The package's client tag (src/client/page-config.ts): the client it loads makes the page's one init call.
const clientTagPattern = new RegExp(String.raw`\s${pageConfigAttribute}\s*=`, 'i');

/** The loaders, init calls and the inline scripts that hold them, in a page's HTML. */
export function readEmbed(html: string): PageEmbed {
  const embed: PageEmbed = { loaders: 0, inits: 0, scripts: [] };
  for (const [, attributes = '', text = ''] of html.matchAll(scriptElement)) {
    const loaders = text.match(loaderPattern)?.length ?? 0;
    const inits = (text.match(initPattern)?.length ?? 0) + (clientTagPattern.test(attributes) ? 1 : 0);
    if (loaders + inits === 0) continue;
    embed.loaders += loaders;
    embed.inits += inits;
    const nonce = nonceAttribute.exec(attributes);
    embed.scripts.push({ nonce: nonce ? (nonce[1] ?? nonce[2] ?? nonce[3]) : undefined, text });
  }
  return embed;
}
