import { attributeSafeJson, htmlAttribute, htmlSafeJson, normaliseNonce } from '../src/html-safe.js';

describe('HTML-safe JSON', () => {
  it('escapes everything that could close a script, open a comment or break a line', () => {
    const hostile = '</script><!-- & \u2028\u2029 <script>';
    const json = htmlSafeJson(hostile);
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toBe(hostile);
  });

  it('keeps values intact through a round trip', () => {
    const value = { a: 'uk', b: ['x', 1, true, null], c: 'Привіт "quoted" \\ back' };
    expect(JSON.parse(htmlSafeJson(value))).toEqual(value);
  });
});

describe('attribute-safe JSON', () => {
  it('escapes what could end a single-quoted attribute or start a character reference, and parses back', () => {
    const hostile = `'</script>&amp;<!-- \u2028"`;
    const json = attributeSafeJson({ hostile });
    expect(json).not.toMatch(/['<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual({ hostile });
  });
});

describe('URL path in an attribute', () => {
  it('escapes quotes, angle brackets and ampersands as character references', () => {
    expect(htmlAttribute(`/a"b'c<d>e&f/g`)).toBe('/a&#34;b&#39;c&#60;d&#62;e&#38;f/g');
    expect(htmlAttribute('/reteno/app-inbox/token/client.0123456789ab.js')).toBe(
      '/reteno/app-inbox/token/client.0123456789ab.js',
    );
  });
});

describe('nonce', () => {
  it.each(['abc', 'rAnd0m+/Nonce==', 'base64url_-nonce', 'a'.repeat(256), `${'a'.repeat(256)}==`, 'a='])(
    'accepts %s',
    (nonce) => {
      expect(normaliseNonce(nonce)).toBe(nonce);
    },
  );

  it.each([
    '',
    '=',
    '==',
    'a=b',
    '"><script>',
    'abc def',
    'a'.repeat(257),
    `${'a'.repeat(257)}=`,
    'abc===',
    'x"',
    "x'",
    'é',
    'a\u0100',
    'a\0',
    undefined,
    42,
  ])('refuses %p', (nonce) => {
    expect(normaliseNonce(nonce)).toBeUndefined();
  });
});
