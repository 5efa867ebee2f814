import type { PageConfig } from './client/page-config.js';
import { attributeSafeJson, htmlAttribute, htmlSafeJson } from './html-safe.js';
import type { RetenoFlags } from './types.js';
import { compileView, nonceAttribute, slotMarker, textsAround } from './views.js';

/** What one signed-in page's embed depends on. All strings are raw; escaping happens here. */
export interface InboxEmbedValues {
  /** A validated nonce, or `undefined` for none. */
  nonce: string | undefined;
  /** The client script's URL path on this page, mount path included. */
  clientUrl: string;
  /** The values the page hands the client, but for the flags, which the renderer adds. */
  pageConfig: Omit<PageConfig, 'flags'>;
}

export interface EmbedRenderer {
  /** A signed-in page: Reteno's loader and the client's tag (views/embed.ejs). */
  inbox(values: InboxEmbedValues): string;
  /** An anonymous page of a site with `embedAnonymous`: the loader and a tracking-only init (views/tracking-embed.ejs). */
  tracking(nonce: string | undefined): string;
}

/**
 * Compiles the embed's views once and renders them at creation with markers where the per-page values go, keeping
 * the text between them: a page then joins that text with its own nonce, client URL and values.
 */
export function createEmbedRenderer(settings: { scriptUrl: string; flags: RetenoFlags }): EmbedRenderer {
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

  // The page's values as JSON in PageConfig's order, the flags (the same on every page) serialised once. A page
  // builds a small object anew for JSON.stringify otherwise, which costs a signed-in page more than the rest.
  const flagsJson = attributeSafeJson(settings.flags);
  const pageConfigJson = ({ tokenUrl, csrf, contact, language }: Omit<PageConfig, 'flags'>) =>
    `{"tokenUrl":${attributeSafeJson(tokenUrl)},${csrf === undefined ? '' : `"csrf":${attributeSafeJson(csrf)},`}` +
    `"contact":${attributeSafeJson(contact)},"language":${attributeSafeJson(language)},"flags":${flagsJson}}`;

  return {
    inbox({ nonce, clientUrl, pageConfig }) {
      const attribute = nonceAttribute(nonce);
      return (
        beforeLoaderNonce +
        attribute +
        beforeClientNonce +
        attribute +
        beforeClientUrl +
        htmlAttribute(clientUrl) +
        beforePageConfig +
        pageConfigJson(pageConfig) +
        inboxEnd
      );
    },
    tracking(nonce) {
      return beforeTrackingNonce + nonceAttribute(nonce) + trackingEnd;
    },
  };
}
