import { readFileSync } from 'node:fs';
import ejs from 'ejs';
import { htmlSafeJson } from './html-safe.js';
import type { RetenoFlags } from './types.js';

const templatePath = new URL('../views/embed.ejs', import.meta.url);

/** What one page's embed depends on. All strings are raw; escaping happens here. */
export interface EmbedValues {
  /** A validated nonce, or `undefined` for none. */
  nonce: string | undefined;
  /** The token route's URL path for this page, or `undefined` for the tracking-only init of anonymous visitors. */
  tokenUrl: string | undefined;
  /** A normalised ISO 639-1 code. */
  language: string;
}

export type RenderEmbed = (values: EmbedValues) => string;

/**
 * Compiles the embed template once and precomputes everything static (script URL, init flags), so each page
 * only fills in its nonce, token URL and language.
 */
export function createEmbedRenderer(settings: { scriptUrl: string; flags: RetenoFlags }): RenderEmbed {
  const template = ejs.compile(readFileSync(templatePath, 'utf8'), {
    filename: templatePath.pathname,
    // Values are escaped by htmlSafeJson, not by HTML entity escaping, which would be wrong inside <script>.
    strict: true,
    _with: false,
    localsName: 'embed',
    destructuredLocals: ['nonceAttribute', 'scriptUrl', 'initFlags', 'tokenUrl', 'language'],
  });
  const scriptUrl = htmlSafeJson(settings.scriptUrl);
  const inboxFlags = htmlSafeJson({ ...settings.flags, APP_INBOX: true });
  const trackingFlags = htmlSafeJson({ ...settings.flags });

  return function renderEmbed({ nonce, tokenUrl, language }) {
    return template({
      nonceAttribute: nonce === undefined ? '' : ` nonce="${nonce}"`,
      scriptUrl,
      initFlags: tokenUrl === undefined ? trackingFlags : inboxFlags,
      tokenUrl: tokenUrl === undefined ? '' : htmlSafeJson(tokenUrl),
      language: htmlSafeJson(language),
    });
  };
}
