import type { Request, Response } from 'express';
import fc from 'fast-check';
import { iso6391Codes } from '../src/iso-639-1.js';
import { createLanguagePicker, negotiateLanguage, normaliseLanguage, pickLanguage } from '../src/language.js';

const all = new Set(iso6391Codes);
const some = new Set(['en', 'uk', 'de']);

function request(headers: Record<string, string> = {}, extra: object = {}): Request {
  return { headers, ...extra } as unknown as Request;
}
function response(locals: object = {}): Response {
  return { locals } as unknown as Response;
}

describe('language', () => {
  it('normalises tags to a lowercase ISO 639-1 code', () => {
    expect(normaliseLanguage('uk-UA', all)).toBe('uk');
    expect(normaliseLanguage('de-DE', all)).toBe('de');
    expect(normaliseLanguage('pt_BR', all)).toBe('pt');
    expect(normaliseLanguage('EN', all)).toBe('en');
    expect(normaliseLanguage('zh-Hant-TW', all)).toBe('zh');
  });

  it('refuses what is not an allowed ISO 639-1 language', () => {
    expect(normaliseLanguage('xx', all)).toBeUndefined();
    expect(normaliseLanguage('fr', some)).toBeUndefined();
    expect(normaliseLanguage('ukr', all)).toBeUndefined();
    expect(normaliseLanguage('</script>', all)).toBeUndefined();
    expect(normaliseLanguage(`en-${'x'.repeat(100)}`, all)).toBeUndefined();
    expect(normaliseLanguage(42, all)).toBeUndefined();
    expect(normaliseLanguage('en\u2028', all)).toBeUndefined();
  });

  it('negotiates Accept-Language by quality against the allowed languages', () => {
    expect(negotiateLanguage('fr-FR,fr;q=0.9,de;q=0.8,uk;q=0.85', some)).toBe('uk');
    expect(negotiateLanguage('de;q=0.5, en;q=0.5', some)).toBe('de');
    expect(negotiateLanguage('uk-UA', some)).toBe('uk');
    expect(negotiateLanguage('*', some)).toBeUndefined();
    expect(negotiateLanguage('en;q=0', some)).toBeUndefined();
    expect(negotiateLanguage('fr, es', some)).toBeUndefined();
    expect(negotiateLanguage(`en,${'x'.repeat(5000)}`, some)).toBeUndefined();
    expect(negotiateLanguage('', some)).toBeUndefined();
  });

  it("keeps each middleware's remembered answers apart: the same header, other languages, another answer", () => {
    const frenchFirst = createLanguagePicker({
      language: undefined,
      languages: new Set(['fr', 'de']),
      defaultLanguage: 'fr',
    });
    const germanOnly = createLanguagePicker({
      language: undefined,
      languages: new Set(['de']),
      defaultLanguage: 'de',
    });
    const req = request({ 'accept-language': 'fr,de;q=0.9' });
    for (let page = 0; page < 3; page++) {
      expect(frenchFirst(req, response())).toBe('fr');
      expect(germanOnly(req, response())).toBe('de');
    }
    expect(germanOnly(request({ 'accept-language': 'es' }), response())).toBe('de');
  });

  const config = { language: undefined, languages: some, defaultLanguage: 'en' };

  it('prefers the language option over everything', () => {
    const req = request({ 'accept-language': 'de' }, { language: 'uk' });
    expect(pickLanguage({ ...config, language: () => 'de-AT' }, req, response())).toBe('de');
    expect(pickLanguage({ ...config, language: () => 'klingon' }, req, response())).toBe('en');
  });

  it('reads the locale common i18n middleware sets, before Accept-Language', () => {
    const header = { 'accept-language': 'de' };
    expect(pickLanguage(config, request(header, { language: 'uk-UA' }), response())).toBe('uk');
    expect(pickLanguage(config, request(header, { locale: 'uk' }), response())).toBe('uk');
    expect(pickLanguage(config, request(header, { getLocale: () => 'uk' }), response())).toBe('uk');
    expect(pickLanguage(config, request(header), response({ locale: 'uk' }))).toBe('uk');
    expect(pickLanguage(config, request(header), response())).toBe('de');
  });

  it('reads a locale the request inherits from its prototype, as from a getter on app.request', () => {
    const header = { 'accept-language': 'de' };
    const withGetter = {
      get locale() {
        return 'uk';
      },
    };
    const inherits = (prototype: object) =>
      Object.assign(Object.create(prototype) as object, { headers: header }) as unknown as Request;
    expect(pickLanguage(config, inherits(withGetter), response())).toBe('uk');
    expect(pickLanguage(config, inherits({ getLocale: () => 'uk' }), response())).toBe('uk');
    expect(pickLanguage(config, inherits({}), response())).toBe('de');
    expect(pickLanguage(config, inherits(Object.create(withGetter) as object), response())).toBe('uk');
  });

  it('reads Accept-Language through a headers getter on the prototype, as Node defines it, or from the request itself', () => {
    const store = new WeakMap<object, Record<string, string>>();
    const nodeLike = {
      get headers() {
        return store.get(this) ?? {};
      },
      set headers(value: Record<string, string>) {
        store.set(this, value);
      },
    };
    const first = Object.create(nodeLike) as Request;
    first.headers = { 'accept-language': 'uk' };
    const second = Object.create(nodeLike) as Request;
    second.headers = { 'accept-language': 'de-DE' };
    expect(pickLanguage(config, first, response())).toBe('uk');
    expect(pickLanguage(config, second, response())).toBe('de');
    // A middleware replacing the headers goes through the setter and is seen.
    second.headers = { 'accept-language': 'uk' };
    expect(pickLanguage(config, second, response())).toBe('uk');
    // Own headers on a request with that prototype win over the getter.
    const own = Object.create(nodeLike) as Request;
    Object.defineProperty(own, 'headers', { value: { 'accept-language': 'de' } });
    expect(pickLanguage(config, own, response())).toBe('de');
  });

  it('falls back to defaultLanguage for an invalid locale instead of guessing', () => {
    expect(pickLanguage(config, request({ 'accept-language': 'de' }, { language: 'fr' }), response())).toBe(
      'en',
    );
    expect(pickLanguage(config, request({}), response())).toBe('en');
  });

  it("answers as pickLanguage does with a middleware's remembered Accept-Language answers, over more headers than it keeps", () => {
    const config = { language: undefined, languages: some, defaultLanguage: 'en' };
    const pick = createLanguagePicker(config);
    const header = fc.oneof(
      fc.constantFrom('uk-UA,uk;q=0.9,en;q=0.8', 'de', 'fr;q=0.1, de;q=0.9', '', `${'x'.repeat(300)},uk`),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(fc.array(header, { minLength: 300, maxLength: 600 }), (headers) => {
        for (const value of [...headers, ...headers]) {
          const req = request({ 'accept-language': value });
          expect(pick(req, response())).toBe(pickLanguage(config, req, response()));
        }
      }),
      { numRuns: 5 },
    );
  });
});
