const unsafeInScript = /[<>&\u2028\u2029]/g;
const escapes: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * JSON for inside an inline `<script>`: no value can close the script, open a comment or end a JS line.
 * The only serializer for values that enter the page.
 */
export function htmlSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(unsafeInScript, (character) => escapes[character] ?? character);
}

// base64 or base64url characters, then at most two '=': nothing that could leave the attribute.
const nonceCharacters = new Uint8Array(128);
for (const character of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-') {
  nonceCharacters[character.charCodeAt(0)] = 1;
}
const maxNonceLength = 256;

/** The nonce if it is base64-like (1 to 256 characters, optionally padded), else `undefined`. */
export function normaliseNonce(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  // A table rather than a regular expression: this runs on every page with an embed.
  let end = value.length;
  if (value.charCodeAt(end - 1) === 61) end -= value.charCodeAt(end - 2) === 61 ? 2 : 1;
  if (end < 1 || end > maxNonceLength) return undefined;
  for (let index = 0; index < end; index++) {
    if (nonceCharacters[value.charCodeAt(index)] !== 1) return undefined;
  }
  return value;
}
