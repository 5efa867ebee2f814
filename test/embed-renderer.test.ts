import { readFileSync } from 'node:fs';
import ejs from 'ejs';
import { createEmbedRenderer } from '../src/embed.js';
import { htmlSafeJson } from '../src/html-safe.js';
import { sessionChannel } from '../src/session-watch.js';

const settings = {
  scriptUrl: 'https://statics.esputnik.com/scripts/0f8e2a4c.js',
  flags: {},
  csrfHeader: 'x-csrf-token',
  tokenPath: '/reteno/app-inbox/token',
  languages: new Set(['en', 'uk', 'de']),
};
const session = {
  contactId: 'AbCdEfGhIjKlMnOpQrStUv',
  contactIdJson: '"AbCdEfGhIjKlMnOpQrStUv"',
  announce: false,
};

describe('embed renderer', () => {
  it('prints the nonce, token URL, headers and language it is given', () => {
    const render = createEmbedRenderer(settings);
    const embed = render({
      nonce: 'rAnd0m+/Nonce==',
      tokenUrl: '/shop/reteno/app-inbox/token',
      csrfToken: undefined,
      language: 'uk',
      session,
    });
    expect(embed).toMatch(/^<script nonce="rAnd0m\+\/Nonce==">/);
    expect(embed).toContain(
      `fetch("/shop/reteno/app-inbox/token",{method:'POST',headers:{"X-Reteno-Inbox":"1"}})`,
    );
    expect(embed).toContain('language:"uk"});</script>');
    const again = render({
      nonce: undefined,
      tokenUrl: '/shop/reteno/app-inbox/token',
      csrfToken: undefined,
      language: 'uk',
      session,
    });
    expect(again).toBe(embed.replace(' nonce="rAnd0m+/Nonce=="', ''));
  });

  it('prints a language outside the configured ones HTML-safely too', () => {
    const embed = createEmbedRenderer(settings)({
      nonce: undefined,
      tokenUrl: '/reteno/app-inbox/token',
      csrfToken: undefined,
      language: '</script>',
      session,
    });
    expect(embed).toContain('language:"\\u003c/script\\u003e"});</script>');
  });

  it('sends the CSRF token in the configured header, HTML-safely', () => {
    const render = createEmbedRenderer({ ...settings, csrfHeader: 'x-xsrf-token' });
    const embed = render({
      nonce: undefined,
      tokenUrl: '/reteno/app-inbox/token',
      csrfToken: 'a</script>&b',
      language: 'en',
      session,
    });
    expect(embed).toContain('headers:{"X-Reteno-Inbox":"1","x-xsrf-token":"a\\u003c/script\\u003e\\u0026b"}');
    expect(embed.match(/<\/script>/g)).toHaveLength(1);
  });

  it('gives the same page as rendering views/embed.ejs with the same values', () => {
    const template = ejs.compile(readFileSync(new URL('../views/embed.ejs', import.meta.url), 'utf8'), {
      strict: true,
      _with: false,
      localsName: 'embed',
      destructuredLocals: [
        'nonceAttribute',
        'scriptUrl',
        'initFlags',
        'tokenUrl',
        'tokenHeaders',
        'contactId',
        'announce',
        'channel',
        'language',
      ],
    });
    const render = createEmbedRenderer({ ...settings, flags: { TRACKING: true } });
    expect(
      render({
        nonce: 'bm9uY2U',
        tokenUrl: '/t',
        csrfToken: 'csrf-1',
        language: 'de',
        session: { ...session, announce: true },
      }),
    ).toBe(
      template({
        nonceAttribute: ' nonce="bm9uY2U"',
        scriptUrl: htmlSafeJson(settings.scriptUrl),
        initFlags: htmlSafeJson({ TRACKING: true, APP_INBOX: true }),
        tokenUrl: '"/t"',
        tokenHeaders: htmlSafeJson({ 'X-Reteno-Inbox': '1', 'x-csrf-token': 'csrf-1' }),
        contactId: htmlSafeJson(session.contactId),
        announce: '1',
        channel: htmlSafeJson(sessionChannel),
        language: '"de"',
        session,
      }),
    );
    expect(
      render({ nonce: undefined, tokenUrl: undefined, csrfToken: undefined, language: 'de', session }),
    ).toBe(
      template({
        nonceAttribute: '',
        scriptUrl: htmlSafeJson(settings.scriptUrl),
        initFlags: htmlSafeJson({ TRACKING: true }),
        tokenUrl: '',
        tokenHeaders: '',
        contactId: '',
        announce: '',
        channel: htmlSafeJson(sessionChannel),
        language: '',
        session,
      }),
    );
  });
});
