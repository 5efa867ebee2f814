import { readFileSync } from 'node:fs';
import ejs from 'ejs';
import { htmlSafeJson } from './html-safe.js';
import { packageFile } from './package-files.js';
import { type SessionState, sessionChannel } from './session-watch.js';
import type { RetenoFlags } from './types.js';

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

const slotNames = [
  'nonceAttribute',
  'tokenUrl',
  'tokenHeaders',
  'contactId',
  'announce',
  'language',
] as const;
type SlotName = (typeof slotNames)[number];

// NUL cannot come out of the template's text or of htmlSafeJson (JSON escapes it), so it marks slots safely.
const slotMarker = (name: SlotName) => `\0${name}\0`;

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
  const templatePath = packageFile('views/embed.ejs');
  const template = ejs.compile(readFileSync(templatePath, 'utf8'), {
    filename: templatePath,
    // Values are escaped by htmlSafeJson, not by HTML entity escaping, which would be wrong inside <script>.
    strict: true,
    _with: false,
    localsName: 'embed',
    destructuredLocals: [
      'nonceAttribute',
      'scriptUrl',
      'initFlags',
      'tokenUrl',
      'tokenHeaders',
      'contactId',
      'announce',
      'channel',
      'language',
    ],
  });
  const scriptUrl = htmlSafeJson(settings.scriptUrl);
  const channel = htmlSafeJson(sessionChannel);
  const [beforeNonce, beforeTokenUrl, beforeHeaders, beforeContactId, beforeAnnounce, beforeLanguage, end] =
    textsAround(
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
    const nonceAttribute = nonce === undefined ? '' : ` nonce="${nonce}"`;
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

/** The rendered text before, between and after the slots, which must be the expected ones in that order. */
function textsAround<Slots extends readonly SlotName[]>(
  rendered: string,
  expected: Slots,
): [string, ...{ [Index in keyof Slots]: string }] {
  const parts = rendered.split(/\0(nonceAttribute|tokenUrl|tokenHeaders|contactId|announce|language)\0/);
  const names = parts.filter((_, index) => index % 2 === 1);
  if (names.join() !== expected.join()) {
    throw new Error(`views/embed.ejs must print ${expected.join(', ')} once each, in that order`);
  }
  return parts.filter((_, index) => index % 2 === 0) as [string, ...{ [Index in keyof Slots]: string }];
}
