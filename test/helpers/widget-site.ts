import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrowserContextOptions, Page } from 'playwright-core';
import type { Contact } from '../../src/contact-type.js';
import type { RetenoEmulator } from '../../src/emulator/index.js';
import { htmlSafeJson } from '../../src/html-safe.js';
import { type ChromiumSession, type Exchange, serveOnLoopback, type WatchedContext } from './browser.js';

/** Reteno's contact token route, which the site's token routes call on the emulator. */
export const retenoTokenPath = '/v1/auth/contact/token';

/** What the site's token routes authenticate with, and the script id its pages load. */
export interface SiteCredentials {
  apiKey: string;
  scriptId: string;
}

/** One page of the test site, and what its token route does. Changing it changes the next token request. */
export interface PageSpec {
  emulator: RetenoEmulator;
  /** Whom the token route asks Reteno for: a contact the emulator knows, or one it does not. */
  contact: Contact;
  /** `proxy` asks the emulator and passes its answer on; `fail` answers 500. */
  tokenRoute: 'proxy' | 'fail';
  /** The page's `<html lang>` and init's `language`; absent from both when undefined. */
  language: string | undefined;
  /** Languages of the page's `eS('init', …)` calls, in order; `[language]` by default. */
  initLanguages?: (string | undefined)[];
  /** Whether the header has `<div id="bell-slot">`. */
  bellSlot: boolean;
}

/** A page opened in a fresh browser context. */
export interface OpenedPage {
  page: Page;
  watched: WatchedContext;
  spec: PageSpec;
  url: string;
  tokenUrl: string;
  /** The page's requests to its token route. */
  tokenRequests(): Exchange[];
}

export interface WidgetSite {
  url: string;
  /** Registers a page; its token route is `<page path>/token`. */
  addPage(spec: PageSpec): { url: string; tokenUrl: string };
  /**
   * Registers a page (a token route that proxies, language `en`, a bell slot, unless `options` say otherwise) and
   * opens it in a fresh browser context of `chromium` (`context` options such as the viewport); waits for its
   * load event.
   */
  openPage(
    chromium: ChromiumSession,
    options: Partial<PageSpec> & { emulator: RetenoEmulator; contact: Contact },
    context?: BrowserContextOptions,
  ): Promise<OpenedPage>;
  /** A contact that only the running test uses, known to `emulator`. */
  newReader(emulator: RetenoEmulator): Contact;
  /** A contact no emulator knows: Reteno answers its token request with an empty token. */
  stranger(): Contact;
  close(): Promise<void>;
}

/**
 * A site for the emulator's widget: plain pages with Reteno's loader and an init whose getAuthTokenCallback posts to the page's token
 * route, under a strict Content-Security-Policy: nonce scripts, no inline styles, and Trusted Types with a default
 * policy that lets through Reteno's script URL and nothing else.
 */
export async function startWidgetSite({ apiKey, scriptId }: SiteCredentials): Promise<WidgetSite> {
  const pages = new Map<string, PageSpec>();
  let contactCount = 0;

  const sendPage = (spec: PageSpec, tokenPath: string, response: ServerResponse) => {
    const nonce = randomBytes(16).toString('base64');
    const emulatorOrigin = new URL(spec.emulator.url).origin;
    const scriptUrl = `${spec.emulator.url}/scripts/${scriptId}.js`;
    const inits = (spec.initLanguages ?? [spec.language]).map((language) => {
      const settings = [
        `getAuthTokenCallback: function () {
      return fetch(${htmlSafeJson(tokenPath)}, {method: 'POST'}).then(function (answer) {
        if (!answer.ok) throw new Error('token route: HTTP ' + answer.status);
        return answer.json();
      }).then(function (body) { return body.token; });
    }`,
        ...(language === undefined ? [] : [`language: ${htmlSafeJson(language)}`]),
      ];
      return `eS('init', {APP_INBOX: true}, {\n    ${settings.join(',\n    ')}\n  });`;
    });
    const html = `<!doctype html>
<html${spec.language === undefined ? '' : ` lang="${spec.language}"`}>
<head><meta charset="utf-8"><title>Shop</title>
<script nonce="${nonce}">
  // Trusted Types: the one script URL the page loads is Reteno's; no HTML or script strings at all.
  trustedTypes.createPolicy('default', {
    createScriptURL: function (url) { return url === ${htmlSafeJson(scriptUrl)} ? url : null; }
  });
</script>
</head>
<body>
<header><a href="/">Shop</a>${spec.bellSlot ? '<div id="bell-slot"></div>' : ''}</header>
<main><h1>Catalogue</h1><p>Something to read while the inbox loads.</p></main>
<script nonce="${nonce}">!function(t,e,c,n){var s=e.createElement(c);s.async=1,s.src=n;var r=e.scripts[0];r.parentNode.insertBefore(s,r);var f=function(){f.c(arguments)};f.q=[];f.c=function(){f.q.push(arguments)};t.eS=t.eS||f}(window,document,'script',${htmlSafeJson(scriptUrl)});</script>
<script nonce="${nonce}">
  eS('sendEvent', 'PageView', {});
  ${inits.join('\n  ')}
</script>
</body>
</html>`;
    response
      .writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': [
          "default-src 'none'",
          `script-src 'nonce-${nonce}' ${emulatorOrigin}`,
          `connect-src 'self' ${emulatorOrigin}`,
          "style-src 'self'",
          "img-src 'self'",
          "base-uri 'none'",
          "form-action 'none'",
          "require-trusted-types-for 'script'",
          'trusted-types default',
        ].join('; '),
      })
      .end(html);
  };

  const sendToken = async (spec: PageSpec, response: ServerResponse) => {
    if (spec.tokenRoute === 'fail') {
      response.writeHead(500, { 'content-type': 'text/plain' }).end('no token today');
      return;
    }
    const answer = await fetch(`${spec.emulator.url}${retenoTokenPath}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`site:${apiKey}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(spec.contact),
    });
    response
      .writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' })
      .end(await answer.text());
  };

  const server = await serveOnLoopback((request: IncomingMessage, response: ServerResponse) => {
    if (request.url === '/favicon.ico') {
      response.writeHead(204).end();
      return;
    }
    const match = /^\/pages\/(\d+)(\/token)?$/.exec(request.url ?? '');
    const spec = match ? pages.get(match[1] ?? '') : undefined;
    if (!match || !spec) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    const pagePath = `/pages/${match[1]}`;
    if (match[2] === undefined && request.method === 'GET') {
      sendPage(spec, `${pagePath}/token`, response);
    } else if (match[2] !== undefined && request.method === 'POST') {
      sendToken(spec, response).catch(() => {
        if (!response.headersSent) response.writeHead(502);
        response.end();
      });
    } else {
      response.writeHead(405).end();
    }
  });
  const site: WidgetSite = {
    url: server.url,
    addPage(spec) {
      const id = String(pages.size + 1);
      pages.set(id, spec);
      return { url: `${server.url}/pages/${id}`, tokenUrl: `${server.url}/pages/${id}/token` };
    },
    async openPage(chromium, options, context) {
      const spec: PageSpec = { tokenRoute: 'proxy', language: 'en', bellSlot: true, ...options };
      const { url, tokenUrl } = site.addPage(spec);
      const { page, watched } = await chromium.openPage(context);
      await page.goto(url);
      return {
        page,
        watched,
        spec,
        url,
        tokenUrl,
        tokenRequests: () =>
          watched.exchanges.filter((exchange) => exchange.method === 'POST' && exchange.url === tokenUrl),
      };
    },
    newReader(emulator) {
      contactCount += 1;
      const reader = { email: `reader-${contactCount}@example.com` };
      emulator.addContact(reader);
      return reader;
    },
    stranger() {
      contactCount += 1;
      return { email: `stranger-${contactCount}@example.com` };
    },
    close: () => server.close(),
  };
  return site;
}
