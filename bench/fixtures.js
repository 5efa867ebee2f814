import { randomBytes } from 'node:crypto';

/** What the bench sites, the upstream and the load generators agree on. */
export const apiKey = 'bench-api-key-5b1f0c';
export const scriptId = '0f8e2a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b';
export const tokenPath = '/reteno/app-inbox/token';

/** The contacts the bench sites know, by session id (`Cookie: sid=<id>`). The upstream knows all but `unknown`. */
export const contacts = {
  known: { email: 'anna@example.com' },
  unknown: { email: 'unknown@example.com' },
  // Resolved by the site but refused by the package (422), so never sent upstream.
  invalid: { email: 'not an e-mail address' },
};

/** The bench sites' stand-in for a site's sign-in: the contact of the request's `sid` cookie, if any. */
export function signedInContact(req) {
  const sid = /(?:^|;\s*)sid=([^;]*)/.exec(req.headers.cookie ?? '')?.[1];
  return sid === undefined ? undefined : contacts[sid];
}

/** As helmet-based sites do: a fresh CSP nonce per response, set before anything renders. */
export function freshNonce(_req, res, next) {
  res.locals.cspNonce = randomBytes(16).toString('base64');
  next();
}

let floorEmbed = '';

/** The floor's embed from now on: the package's embed bytes, once they are known. */
export function setFloorEmbed(embed) {
  floorEmbed = embed;
}

/** The floor: the same embed bytes for signed-in visitors (see setFloorEmbed), with no work behind them. */
export function floor(req, res, next) {
  if (req.user) res.locals.retenoInbox = () => floorEmbed;
  next();
}

/**
 * What a browser sends with every page request besides its cookies. The embed reads Accept-Language, so a
 * page request without it would leave out part of the embed's work.
 */
export const browserHeaders = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7',
  'user-agent':
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
};

/** A page request of the signed-in contact `known`: a browser's headers and the session cookie. */
export const signedInHeaders = { ...browserHeaders, cookie: 'sid=known' };

/** A token request as the embed sends it, for the contact `known`. */
export const tokenRequestHeaders = { cookie: 'sid=known', 'x-reteno-inbox': '1' };

/** The embed's `<script>` elements in a page (those with Reteno's init call), in order. */
export function embedElements(html) {
  return (html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? []).filter((element) =>
    element.includes("eS('init'"),
  );
}

/** A page with every CSP nonce blanked, so that two responses of one page compare equal. */
export function withoutNonces(html) {
  return html.replace(/ nonce="[^"]*"/g, ' nonce=""');
}
