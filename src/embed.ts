import type { PageConfig } from './client/page-config.js';
import { attributeSafeJson, htmlAttribute, htmlSafeJson } from './html-safe.js';
import type { RetenoFlags } from './types.js';
import { compileView, nonceAttribute, slotMarker, textsAround } from './views.js';

/** What one signed-in page's embed depends on. All strings are raw; escaping happens here. */
export interface InboxEmbedValues {
  /** A validated nonce, or `undefined` for none. */
  nonce: string | undefined;
  /** Where the middleware is mounted on this page's route (`req.baseUrl`): '' at the root. */
  mountPath: string;
  /** The page's contact id, as session-watch.ts makes it: 22 base64url characters. */
  contact: string;
  /** A normalised ISO 639-1 code. */
  language: string;
  /** A validated CSRF token and its header, or `undefined` for none. */
  csrf: PageConfig['csrf'];
}

export interface EmbedRenderer {
  /** A signed-in page: Reteno's loader and the client's tag (views/embed.ejs). */
  inbox(values: InboxEmbedValues): string;
  /** An anonymous page of a site with `embedAnonymous`: the loader and a tracking-only init (views/tracking-embed.ejs). */
  tracking(nonce: string | undefined): string;
}

/**
 * Compiles the embed's views once and renders them at creation with markers where the per-page values go, keeping
 * the text between them: a page then joins that text with its own nonce, URLs and values.
 */
export function createEmbedRenderer(settings: {
  scriptUrl: string;
  flags: RetenoFlags;
  tokenPath: string;
  /** The client script's path, relative to the mount path. */
  clientPath: string;
  languages: ReadonlySet<string>;
}): EmbedRenderer {
  const scriptUrl = htmlSafeJson(settings.scriptUrl);
  const inboxView = 'views/embed.ejs';
  const [beforeLoaderNonce, beforeClientNonce, beforeClientUrl, beforePageConfig, inboxEnd] = textsAround(
    inboxView,
    compileView(inboxView, ['nonceAttribute', 'scriptUrl', 'clientUrl', 'pageConfig'])({
      nonceAttribute: slotMarker('nonceAttribute'),
      scriptUrl,
      clientUrl: slotMarker('clientUrl'),
      pageConfig: slotMarker('pageConfig'),
    }),
    ['nonceAttribute', 'nonceAttribute', 'clientUrl', 'pageConfig'] as const,
  );
  const trackingView = 'views/tracking-embed.ejs';
  const [beforeTrackingNonce, trackingEnd] = textsAround(
    trackingView,
    compileView(trackingView, ['nonceAttribute', 'scriptUrl', 'initFlags'])({
      nonceAttribute: slotMarker('nonceAttribute'),
      scriptUrl,
      initFlags: htmlSafeJson(settings.flags),
    }),
    ['nonceAttribute'] as const,
  );

  // What most pages print is serialised once, here: the flags, the URLs of a middleware mounted at the root, and each
  // allowed language (browsers bring a few). Serialising them anew costs a signed-in page more than the rest of its
  // work (npm run bench). Contact ids are base64url, which JSON and the attribute take as they are.
  const flagsJson = attributeSafeJson(settings.flags);
  const rootTokenUrlJson = attributeSafeJson(settings.tokenPath);
  const rootClientUrl = htmlAttribute(settings.clientPath);
  const languageJson = new Map(
    [...settings.languages].map((language) => [language, attributeSafeJson(language)]),
  );
  /** The page's values as JSON, in PageConfig's order (the client reads it with parsePageConfig). */
  const pageConfigJson = ({ mountPath, contact, language, csrf }: InboxEmbedValues) =>
    `{"tokenUrl":${mountPath === '' ? rootTokenUrlJson : attributeSafeJson(mountPath + settings.tokenPath)},` +
    `${csrf === undefined ? '' : `"csrf":${attributeSafeJson(csrf)},`}` +
    `"contact":"${contact}",` +
    `"language":${languageJson.get(language) ?? attributeSafeJson(language)},"flags":${flagsJson}}`;

  return {
    inbox(values) {
      const attribute = nonceAttribute(values.nonce);
      const { mountPath } = values;
      return (
        beforeLoaderNonce +
        attribute +
        beforeClientNonce +
        attribute +
        beforeClientUrl +
        (mountPath === '' ? rootClientUrl : htmlAttribute(mountPath + settings.clientPath)) +
        beforePageConfig +
        pageConfigJson(values) +
        inboxEnd
      );
    },
    tracking(nonce) {
      return beforeTrackingNonce + nonceAttribute(nonce) + trackingEnd;
    },
  };
}
