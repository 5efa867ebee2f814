/**
 * The contract between a signed-in page and the client script the middleware serves: where the script lives, the
 * attribute that hands it the page's values, their shape, and the cookie and event it watches. Read by the client
 * (src/client/), by the server that renders pages (src/embed.ts) and by reteno-inbox-doctor. Neither DOM nor Node
 * here: every side imports it as it is.
 *
 * A signed-in page carries Reteno's loader and, after it, one tag for the client:
 *
 *     <script nonce="…">!function(t,e,c,n){…}(window,document,'script',"https://statics.esputnik.com/scripts/<id>.js");</script>
 *     <script nonce="…" src="/reteno/app-inbox/token/client.<version>.js" data-reteno-config='{"tokenUrl":…}' defer></script>
 */

/** The attribute of the client's `<script>` whose value is the page's {@link PageConfig} as JSON. */
export const pageConfigAttribute = 'data-reteno-config';

/** The header every token call sends, and every answer of the token route carries (src/token-route.ts). */
export const routeMarkerHeader = 'x-reteno-inbox';

/**
 * The cookie that the middleware keeps in step with the visitor on every response: the opaque id of the contact
 * (see {@link PageConfig.contact}), absent for nobody. Readable by page script, which watches it.
 */
export const visitorCookie = 'reteno_inbox_contact';

/**
 * The event the client fires on `window` when the visitor changed in another tab (signed out, or signed in as
 * someone else): the tab then reloads, or, while the visitor types in it, refuses tokens until it can.
 */
export const visitorChangeEvent = 'reteno-inbox:visitor-change';

/** The client script's file name under the token route: `client.<version>.js`, the version 12 hex digits. */
const clientScriptName = /^client\.[0-9a-f]{12}\.js$/;

/** Where the middleware serves the client script of `version`, relative to its mount path. */
export function clientScriptPath(tokenPath: string, version: string): string {
  return `${tokenPath}/client.${version}.js`;
}

/** Whether `path` (relative to the mount path) names a version of the client script. */
export function isClientScriptPath(tokenPath: string, path: string): boolean {
  return path.startsWith(`${tokenPath}/`) && clientScriptName.test(path.slice(tokenPath.length + 1));
}

/** What a signed-in page hands the client. */
export interface PageConfig {
  /** The token route's URL path on this page, mount path included. */
  tokenUrl: string;
  /** The page's CSRF token and the header it goes in, for a site whose CSRF middleware guards the token route. */
  csrf?: { header: string; token: string };
  /** The opaque id of the page's contact, as the {@link visitorCookie} holds it: 22 base64url characters. */
  contact: string;
  /** The page language, ISO 639-1. */
  language: string;
  /** Reteno's feature switches besides `APP_INBOX`, which the client adds. */
  flags: { RECOMS?: boolean; TRACKING?: boolean };
}

/** The opaque contact id's form: what the cookie and the page carry. */
export const contactIdPattern = /^[A-Za-z0-9_-]{22}$/;

/** The headers of every token call the page makes: the route's marker, and the CSRF token when the page has one. */
export function tokenRequestHeaders(config: PageConfig): Record<string, string> {
  const headers: Record<string, string> = { [routeMarkerHeader]: '1' };
  if (config.csrf !== undefined) headers[config.csrf.header] = config.csrf.token;
  return headers;
}

/** The page's values from the attribute's text, or `undefined` when it is not a {@link PageConfig}. */
export function parsePageConfig(text: string | null | undefined): PageConfig | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  const { tokenUrl, csrf, contact, language, flags } = value;
  if (
    typeof tokenUrl !== 'string' ||
    !tokenUrl.startsWith('/') ||
    typeof contact !== 'string' ||
    !contactIdPattern.test(contact) ||
    typeof language !== 'string' ||
    !isRecord(flags) ||
    !Object.values(flags).every((flag) => typeof flag === 'boolean') ||
    (csrf !== undefined &&
      !(isRecord(csrf) && typeof csrf.header === 'string' && typeof csrf.token === 'string'))
  ) {
    return undefined;
  }
  const config: PageConfig = { tokenUrl, contact, language, flags: { ...flags } };
  if (isRecord(csrf)) config.csrf = { header: csrf.header as string, token: csrf.token as string };
  return config;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
