import { htmlSafeJson } from './html-safe.js';
import { type SessionState, sessionChannel } from './session-watch.js';
import type { RetenoFlags } from './types.js';
import { compileView, nonceAttribute as nonceAttributeOf, slotMarker, textsAround } from './views.js';

/** What one page's embed depends on. All strings are raw; escaping happens here. */
export interface EmbedValues {
  /** A validated nonce, or `undefined` for none. */
  nonce: string | undefined;
  /** The token route's URL path for this page, or `undefined` for the tracking-only init of anonymous visitors. */
  tokenUrl: string | undefined;
  /** A validated CSRF token to send with every token call, or `undefined` for none. */
  csrfToken: string | undefined;
  /** A normalised ISO 639-1 code. */
  language: string;
  /** The page's contact id for the other tabs, and whether to announce it (inbox pages only). */
  session: SessionState;
}

export type RenderEmbed = (values: EmbedValues) => string;

const view = 'views/embed.ejs';
const slotNames = [
  'nonceAttribute',
  'tokenUrl',
  'tokenHeaders',
  'contactId',
  'announce',
  'language',
] as const;

/**
 * Compiles views/embed.ejs once and renders it at creation with markers where the per-page values go, keeping
 * the text between them: a page then joins that text with its own nonce, token URL, headers, contact id and
 * language.
 */
export function createEmbedRenderer(settings: {
  scriptUrl: string;
  flags: RetenoFlags;
  csrfHeader: string;
  tokenPath: string;
  languages: ReadonlySet<string>;
}): RenderEmbed {
  const template = compileView(view, [
    'nonceAttribute',
    'scriptUrl',
    'initFlags',
    'tokenUrl',
    'tokenHeaders',
    'contactId',
    'announce',
    'channel',
    'language',
  ]);
  const scriptUrl = htmlSafeJson(settings.scriptUrl);
  const channel = htmlSafeJson(sessionChannel);
  const [beforeNonce, beforeTokenUrl, beforeHeaders, beforeContactId, beforeAnnounce, beforeLanguage, end] =
    textsAround(
      view,
      template({
        nonceAttribute: slotMarker('nonceAttribute'),
        scriptUrl,
        initFlags: htmlSafeJson({ ...settings.flags, APP_INBOX: true }),
        tokenUrl: slotMarker('tokenUrl'),
        tokenHeaders: slotMarker('tokenHeaders'),
        contactId: slotMarker('contactId'),
        announce: slotMarker('announce'),
        channel,
        language: slotMarker('language'),
      }),
      slotNames,
    );
  const [trackingBeforeNonce, trackingEnd] = textsAround(
    view,
    template({
      nonceAttribute: slotMarker('nonceAttribute'),
      scriptUrl,
      initFlags: htmlSafeJson({ ...settings.flags }),
      tokenUrl: '',
      tokenHeaders: '',
      contactId: '',
      announce: '',
      channel,
      language: '',
    }),
    ['nonceAttribute'] as const,
  );
  // The header that marks the embed's token calls (the token route checks it), with the CSRF header when given.
  const marker = { 'X-Reteno-Inbox': '1' };
  const markerOnly = htmlSafeJson(marker);
  // The values most pages print, serialised once: the token URL of an unmounted middleware, and each language.
  const tokenPathJson = htmlSafeJson(settings.tokenPath);
  const languageJson = new Map([...settings.languages].map((language) => [language, htmlSafeJson(language)]));

  return function renderEmbed({ nonce, tokenUrl, csrfToken, language, session }) {
    const nonceAttribute = nonceAttributeOf(nonce);
    if (tokenUrl === undefined) return trackingBeforeNonce + nonceAttribute + trackingEnd;
    const headers =
      csrfToken === undefined ? markerOnly : htmlSafeJson({ ...marker, [settings.csrfHeader]: csrfToken });
    return (
      beforeNonce +
      nonceAttribute +
      beforeTokenUrl +
      (tokenUrl === settings.tokenPath ? tokenPathJson : htmlSafeJson(tokenUrl)) +
      beforeHeaders +
      headers +
      beforeContactId +
      session.contactIdJson +
      beforeAnnounce +
      (session.announce ? '1' : '0') +
      beforeLanguage +
      (languageJson.get(language) ?? htmlSafeJson(language)) +
      end
    );
  };
}
