/**
 * The client every signed-in page runs: the middleware serves it (built from this folder, minified by the build) at
 * `{mount path}{tokenPath}/client.<version>.js`, and the page's `<script>` tag hands it the page's values in
 * `data-reteno-config` (see page-config.ts). It makes the page's one `eS('init', …)` call with a token callback for
 * the site's token route, and watches for the visitor changing in another tab.
 */
import { troubleshootingUrl } from './diagnosis.js';
import { pageConfigAttribute, parsePageConfig, tokenRequestHeaders } from './page-config.js';
import { createTokenCallback } from './token-callback.js';
import { watchVisitor } from './visitor-watch.js';

type RetenoCommand = (command: 'init', features: object, settings: object) => void;

function startPage(script: Element | null): void {
  const config = parsePageConfig(script?.getAttribute(pageConfigAttribute));
  const eS = (window as { eS?: RetenoCommand }).eS;
  if (config === undefined || typeof eS !== 'function') {
    // The page's tag was changed by hand, or Reteno's loader did not run before it.
    console.error(
      `Reteno inbox: no inbox on this page [${config === undefined ? 'page-config' : 'no-loader'}], see ${troubleshootingUrl}`,
    );
    return;
  }
  const visitor = watchVisitor(config.contact);
  const getAuthTokenCallback = createTokenCallback({
    tokenUrl: config.tokenUrl,
    headers: tokenRequestHeaders(config),
    sendsCsrfToken: config.csrf !== undefined,
    visitorChanged: visitor.changed,
    sessionEnded: visitor.sessionEnded,
  });
  eS('init', { ...config.flags, APP_INBOX: true }, { getAuthTokenCallback, language: config.language });
}

startPage(document.currentScript);
