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
  return JSON.stringify(value).replace(unsafeInScript, (character) => escapes[character] as string);
}

// base64 or base64url characters, at most 256, then at most two '=': nothing that could leave the attribute.
const noncePattern = /^[A-Za-z0-9+/_-]{1,256}={0,2}$/;

/** The nonce if it is base64-like (1 to 256 characters, optionally padded), else `undefined`. */
export function normaliseNonce(value: unknown): string | undefined {
  return typeof value === 'string' && noncePattern.test(value) ? value : undefined;
}
