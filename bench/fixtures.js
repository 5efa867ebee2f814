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

/** The `<script>` elements of a page, in order. */
export function scriptElements(html) {
  return html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? [];
}
