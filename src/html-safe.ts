const unsafeInScript = /[<>&\u2028\u2029]/g;
const unsafeInAttribute = /[<>&'\u2028\u2029]/g;
const unsafeInAttributeTest = /[<>&'\u2028\u2029]/;
const escapes: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  "'": '\\u0027',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * JSON for inside an inline `<script>`: no value can close the script, open a comment or end a JS line.
 * With {@link attributeSafeJson}, the only serializers for values that enter the page.
 */
export function htmlSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(unsafeInScript, (character) => escapes[character] as string);
}

/**
 * JSON for inside a single-quoted HTML attribute (`data-x='…'`): as {@link htmlSafeJson}, and `'` escaped too, so
 * that the value neither ends the attribute nor holds a character reference. `JSON.parse` of the attribute's value
 * gives the value back.
 */
export function attributeSafeJson(value: unknown): string {
  const json = JSON.stringify(value);
  // Most values hold none of them: no replacing then (the page's values are on every signed-in page).
  return unsafeInAttributeTest.test(json)
    ? json.replace(unsafeInAttribute, (character) => escapes[character] as string)
    : json;
}

const unsafeInUrlAttribute = /["'<>&]/g;
const unsafeInUrlAttributeTest = /["'<>&]/;

/** A URL path for inside a double-quoted HTML attribute: the characters that could end it or start markup escaped. */
export function htmlAttribute(value: string): string {
  return unsafeInUrlAttributeTest.test(value)
    ? value.replace(unsafeInUrlAttribute, (character) => `&#${character.charCodeAt(0)};`)
    : value;
}

// base64 or base64url characters, at most 256, then at most two '=': nothing that could leave the attribute.
const noncePattern = /^[A-Za-z0-9+/_-]{1,256}={0,2}$/;

/** The nonce if it is base64-like (1 to 256 characters, optionally padded), else `undefined`. */
export function normaliseNonce(value: unknown): string | undefined {
  return typeof value === 'string' && noncePattern.test(value) ? value : undefined;
}
