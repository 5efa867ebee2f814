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
 * Renders the embed template once per kind of page at start-up, with markers where the per-page values go,
 * and keeps the text between them. Each page then only joins that text with its nonce, token URL and
 * language: no template runs per request.
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
  const [beforeNonce = '', beforeTokenUrl = '', beforeLanguage = '', end = ''] = textsAround(
    template({
      nonceAttribute: slot.nonceAttribute,
      scriptUrl,
      initFlags: htmlSafeJson({ ...settings.flags, APP_INBOX: true }),
      tokenUrl: slot.tokenUrl,
      language: slot.language,
    }),
    ['nonceAttribute', 'tokenUrl', 'language'],
  );
  const [trackingBeforeNonce = '', trackingEnd = ''] = textsAround(
    template({
      nonceAttribute: slot.nonceAttribute,
      scriptUrl,
      initFlags: htmlSafeJson({ ...settings.flags }),
      tokenUrl: '',
      language: '',
    }),
    ['nonceAttribute'],
  );
  // Pages repeat the same few values: serialise each once. Languages are normalised ISO 639-1 codes (at most
  // 184 entries); token URLs come from the site's own mount paths, so only the last one is kept. The text after
  // the nonce is kept for the last token URL and language, so that most pages join three strings.
  const languageJson = new Map<string, string>();
  let lastTokenUrl: string | undefined;
  let lastTokenUrlJson = '';
  let lastLanguage: string | undefined;
  let afterNonce = '';

  return function renderEmbed({ nonce, tokenUrl, language }) {
    const nonceAttribute = nonce === undefined ? '' : ` nonce="${nonce}"`;
    if (tokenUrl === undefined) return trackingBeforeNonce + nonceAttribute + trackingEnd;
    if (tokenUrl === lastTokenUrl && language === lastLanguage)
      return beforeNonce + nonceAttribute + afterNonce;
    let languageValue = languageJson.get(language);
    if (languageValue === undefined) {
      languageValue = htmlSafeJson(language);
      if (languageJson.size < 256) languageJson.set(language, languageValue);
    }
    if (tokenUrl !== lastTokenUrl) {
      lastTokenUrl = tokenUrl;
      lastTokenUrlJson = htmlSafeJson(tokenUrl);
    }
    lastLanguage = language;
    afterNonce = beforeTokenUrl + lastTokenUrlJson + beforeLanguage + languageValue + end;
    return beforeNonce + nonceAttribute + afterNonce;
  };
}

type SlotName = 'nonceAttribute' | 'tokenUrl' | 'language';

// NUL cannot come out of the template's text or of htmlSafeJson (JSON escapes it), so it marks slots safely.
const slot: Record<SlotName, string> = {
  nonceAttribute: '\0nonceAttribute\0',
  tokenUrl: '\0tokenUrl\0',
  language: '\0language\0',
};

/** The rendered text before, between and after the slots, which must be the expected ones in that order. */
function textsAround(rendered: string, expected: SlotName[]): string[] {
  const parts = rendered.split(/\0(nonceAttribute|tokenUrl|language)\0/);
  const names = parts.filter((_, index) => index % 2 === 1);
  if (names.join() !== expected.join()) {
    throw new Error(`views/embed.ejs must print ${expected.join(', ')} once each, in that order`);
  }
  return parts.filter((_, index) => index % 2 === 0);
}
