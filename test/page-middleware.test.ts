import type { ErrorRequestHandler } from 'express';
import request from 'supertest';
import { buildSite, embedScript, recordLogs, scriptId, scriptTags } from './helpers/site.js';

const baseUrl = 'http://127.0.0.1:9';

function site(
  options: Parameters<typeof buildSite>[0] = {},
  siteOptions: Parameters<typeof buildSite>[1] = {},
) {
  const logs = recordLogs();
  const built = buildSite({ baseUrl, logger: logs, ...options }, siteOptions);
  return { ...built, logs, agent: request.agent(built.app) };
}

async function signedInPage(
  options: Parameters<typeof buildSite>[0] = {},
  headers: Record<string, string> = {},
  siteOptions: Parameters<typeof buildSite>[1] = {},
) {
  const built = site(options, siteOptions);
  await built.agent.post('/sign-in').send({ user: 'anna' }).expect(204);
  const page = await built.agent.get('/page').set(headers).expect(200);
  return { ...built, html: page.text };
}

/** The arguments of the init call in a rendered embed, parsed back. */
function initArguments(html: string): { flags: unknown; language: string; tokenUrl: string | undefined } {
  const script = embedScript(html) ?? '';
  const flags = /eS\('init',(\{[^}]*\})/.exec(script)?.[1];
  return {
    flags: flags === undefined ? undefined : JSON.parse(flags),
    language: JSON.parse(/language:("[^"]*")/.exec(script)?.[1] ?? '""'),
    tokenUrl: /fetch\(("[^"]*")/.exec(script)?.[1]?.replace(/^"|"$/g, ''),
  };
}

describe('page middleware', () => {
  it('gives anonymous visitors no helper and no script, calling resolveContact once', async () => {
    const { agent, resolveCalls } = site();
    const page = await agent.get('/page').expect(200);
    expect(scriptTags(page.text)).toHaveLength(0);
    expect(page.text).not.toContain('eS(');
    expect(resolveCalls).toHaveLength(1);
  });

  it('renders exactly one loader and one init for a signed-in visitor', async () => {
    const { html, resolveCalls } = await signedInPage();
    expect(scriptTags(html)).toHaveLength(1);
    expect(html.match(/eS\('init'/g)).toHaveLength(1);
    expect(html).toContain(`"https://statics.esputnik.com/scripts/${scriptId}.js"`);
    expect(initArguments(html)).toEqual({
      flags: { APP_INBOX: true },
      language: 'en',
      tokenUrl: '/reteno/app-inbox/token',
    });
    // sign-in is answered before the middleware: only the page asked
    expect(resolveCalls).toHaveLength(1);
  });

  it('returns an empty string when the helper is called again in the same response', async () => {
    const built = site();
    await built.agent.post('/sign-in').send({ user: 'anna' }).expect(204);
    const page = await built.agent.get('/page?twice=1').expect(200);
    expect(scriptTags(page.text)).toHaveLength(1);
    // …and each response gets its own embed
    const next = await built.agent.get('/page').expect(200);
    expect(scriptTags(next.text)).toHaveLength(1);
  });

  it('loads the script from scriptBaseUrl and merges flags into the one init', async () => {
    const { html } = await signedInPage({
      scriptBaseUrl: 'http://127.0.0.1:4010/scripts',
      flags: { TRACKING: false, RECOMS: true },
    });
    expect(html).toContain(`"http://127.0.0.1:4010/scripts/${scriptId}.js"`);
    expect(initArguments(html).flags).toEqual({ TRACKING: false, RECOMS: true, APP_INBOX: true });
  });

  describe('with embedAnonymous, for sites that already run Reteno web tracking', () => {
    it('gives anonymous visitors one loader and one tracking-only init', async () => {
      const { agent } = site({ embedAnonymous: true, flags: { TRACKING: true } });
      const page = await agent.get('/page').expect(200);
      expect(scriptTags(page.text)).toHaveLength(1);
      expect(page.text.match(/eS\('init'/g)).toHaveLength(1);
      expect(page.text).toContain(`eS('init',{"TRACKING":true});`);
      expect(page.text).not.toContain('getAuthTokenCallback');
      expect(page.text).not.toContain('APP_INBOX');
    });

    it('gives signed-in visitors one loader and one init with the inbox', async () => {
      const { html } = await signedInPage({ embedAnonymous: true, flags: { TRACKING: true } });
      expect(scriptTags(html)).toHaveLength(1);
      expect(html.match(/eS\('init'/g)).toHaveLength(1);
      expect(initArguments(html).flags).toEqual({ TRACKING: true, APP_INBOX: true });
    });
  });

  describe('resolveContact', () => {
    it.each([
      [
        'throws',
        () => {
          throw new Error('boom');
        },
      ],
      ['rejects', () => Promise.reject(new Error('boom'))],
    ])('passes the error to next() when it %s', async (_case, resolveContact) => {
      const { app } = buildSite({ baseUrl }, { resolveContact });
      const caught: unknown[] = [];
      const handler: ErrorRequestHandler = (error, _req, res, _next) => {
        caught.push(error);
        res.status(500).send('site error page');
      };
      app.use(handler);
      const page = await request(app).get('/page');
      expect(page.status).toBe(500);
      expect(caught).toEqual([new Error('boom')]);
    });

    it('accepts a promise of a contact', async () => {
      const { agent } = site({}, { resolveContact: async () => ({ externalCustomerId: 'c-1' }) });
      const page = await agent.get('/page').expect(200);
      expect(scriptTags(page.text)).toHaveLength(1);
    });

    it.each([
      ['an empty contact', {}],
      ['a malformed email', { email: 'nobody' }],
      ['control characters', { externalCustomerId: 'a\u0007b' }],
      ['an absurd length', { externalCustomerId: 'x'.repeat(100_000) }],
      ['a string', 'anna@example.com'],
    ])('keeps the page up without an embed for %s, with a coded warning', async (_case, contact) => {
      const built = site();
      await built.agent.post('/sign-in').send({ contact }).expect(204);
      const page = await built.agent.get('/page').expect(200);
      expect(page.text).toContain('<h1>Shop</h1>');
      expect(scriptTags(page.text)).toHaveLength(0);
      expect(built.logs.warnings.some((line) => line.includes('ERR_RETENO_INBOX_INVALID_CONTACT'))).toBe(
        true,
      );
    });
  });

  describe('language', () => {
    it.each([
      ['uk-UA,uk;q=0.9,en;q=0.8', 'uk'],
      ['de-DE', 'de'],
      ['fr;q=0.1, de;q=0.9', 'de'],
      ['xx-YY', 'en'],
      ['</script><script>alert(1)</script>', 'en'],
      [`de,${'a'.repeat(10_000)}`, 'en'],
    ])('negotiates Accept-Language %p to %s', async (header, language) => {
      const { html } = await signedInPage({}, { 'Accept-Language': header });
      expect(initArguments(html).language).toBe(language);
      expect(scriptTags(html)).toHaveLength(1);
    });

    it('negotiates against the languages option and falls back to defaultLanguage', async () => {
      const options = { languages: ['uk', 'de'], defaultLanguage: 'uk' };
      expect(initArguments((await signedInPage(options, { 'Accept-Language': 'de' })).html).language).toBe(
        'de',
      );
      expect(initArguments((await signedInPage(options, { 'Accept-Language': 'fr' })).html).language).toBe(
        'uk',
      );
    });

    it('uses the language option, normalised, over Accept-Language', async () => {
      const { html } = await signedInPage({ language: () => 'de-AT' }, { 'Accept-Language': 'uk' });
      expect(initArguments(html).language).toBe('de');
    });

    it('reads the locale i18n middleware set after the middleware ran', async () => {
      const { html } = await signedInPage(
        {},
        { 'Accept-Language': 'de' },
        {
          configure: (app) =>
            app.use((_req, res, next) => {
              res.locals.locale = 'uk-UA';
              next();
            }),
        },
      );
      expect(initArguments(html).language).toBe('uk');
    });

    it('keeps the page up with defaultLanguage when the language option throws', async () => {
      const { html, logs } = await signedInPage({
        language: () => {
          throw new Error('no locale');
        },
      });
      expect(initArguments(html).language).toBe('en');
      expect(logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_CALLBACK_FAILED')]);
    });
  });

  describe('CSP nonce', () => {
    const withNonce = (nonce: string) => ({
      configure: (app: import('express').Express) =>
        app.use((_req, res, next) => {
          res.locals.cspNonce = nonce;
          next();
        }),
    });

    it('prints res.locals.cspNonce on the script by default', async () => {
      const { html } = await signedInPage({}, {}, withNonce('cmFuZG9tLW5vbmNl'));
      expect(scriptTags(html)).toEqual(['<script nonce="cmFuZG9tLW5vbmNl">']);
    });

    it('prints no nonce attribute when there is none', async () => {
      const { html } = await signedInPage();
      expect(scriptTags(html)).toEqual(['<script>']);
    });

    it('takes the nonce option, string or function', async () => {
      expect(scriptTags((await signedInPage({ nonce: 'c3RhdGlj' })).html)).toEqual([
        '<script nonce="c3RhdGlj">',
      ]);
      const fromFunction = await signedInPage({
        nonce: (req) => (req.path === '/page' ? 'ZnVuYw' : undefined),
      });
      expect(scriptTags(fromFunction.html)).toEqual(['<script nonce="ZnVuYw">']);
    });

    it('refuses a nonce that is not base64-like, and logs it once however many pages carry it', async () => {
      const { html, logs, agent } = await signedInPage({}, {}, withNonce('"><script>alert(1)</script>'));
      expect(scriptTags(html)).toEqual(['<script>']);
      expect(html).not.toContain('alert(1)');
      for (let page = 0; page < 3; page++) {
        expect(scriptTags((await agent.get('/page').expect(200)).text)).toEqual(['<script>']);
      }
      expect(logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_INVALID_NONCE')]);
    });

    it('logs once per middleware: a second instance in the same process logs its own problem', async () => {
      const first = await signedInPage({}, {}, withNonce('not a nonce'));
      const second = await signedInPage({}, {}, withNonce('not a nonce'));
      expect(scriptTags(first.html)).toEqual(['<script>']);
      expect(first.logs.errors).toHaveLength(1);
      expect(second.logs.errors).toHaveLength(1);
    });

    it('renders without a nonce when the nonce option throws', async () => {
      const { html, logs } = await signedInPage({
        nonce: () => {
          throw new Error('no nonce');
        },
      });
      expect(scriptTags(html)).toEqual(['<script>']);
      expect(logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_CALLBACK_FAILED')]);
    });
  });

  it.each([['//evil.example'], ['/\\evil.example']])(
    'renders no embed, and logs once, where the mount path %s would send the token call to another origin',
    async (prefix) => {
      // A regular-expression mount that takes whatever comes before /page, as a wildcard mount would.
      const built = site({}, { mountPath: /^\/.*(?=\/page$)/ });
      await built.agent.post('/sign-in').send({ user: 'anna' }).expect(204);
      const path = `${prefix}/page`;
      for (let page = 0; page < 2; page++) {
        const html = (await built.agent.get(path).expect(200)).text;
        expect(html).toContain('<h1>Shop</h1>');
        expect(scriptTags(html)).toEqual([]);
      }
      expect(built.logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_INVALID_TOKEN_URL')]);
    },
  );

  it('keeps a hostile mount path from breaking out of the script', async () => {
    const built = site({}, { mountPath: '/:tenant' });
    await built.agent.post('/sign-in').send({ user: 'anna' }).expect(204);
    const page = await built.agent.get(`/${encodeURIComponent('</script><!--\u2028')}/page`).expect(200);
    expect(scriptTags(page.text)).toHaveLength(1);
    expect(embedScript(page.text)).not.toMatch(/<\/script|<!--|\u2028/i);
  });
});
