import type { ErrorRequestHandler } from 'express';
import request from 'supertest';
import { gzipSync } from 'node:zlib';
import { buildSite, embedScript, readInboxEmbed, recordLogs, scriptId, scriptTags } from './helpers/site.js';

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

/** What a signed-in page hands its client: the init flags and language, and the token route's URL. */
function initArguments(html: string): { flags: unknown; language: string; tokenUrl: string | undefined } {
  const embed = readInboxEmbed(html);
  if (embed === undefined) throw new Error('the page has no inbox embed');
  return { flags: embed.config.flags, language: embed.config.language, tokenUrl: embed.config.tokenUrl };
}

describe('page middleware', () => {
  it('gives anonymous visitors no helper and no script, calling resolveContact once', async () => {
    const { agent, resolveCalls } = site();
    const page = await agent.get('/page').expect(200);
    expect(scriptTags(page.text)).toHaveLength(0);
    expect(page.text).not.toContain('eS(');
    expect(resolveCalls).toHaveLength(1);
  });

  it("renders Reteno's loader and the client's tag with the page's values for a signed-in visitor", async () => {
    const { html, resolveCalls } = await signedInPage();
    expect(scriptTags(html)).toEqual([
      '<script>',
      expect.stringMatching(
        /^<script src="\/reteno\/app-inbox\/token\/client\.[0-9a-f]{12}\.js" data-reteno-config='\{[^']*\}' defer>$/,
      ),
    ]);
    expect(html).not.toContain("eS('init'");
    expect(html).not.toContain('data-reteno-inbox');
    expect(embedScript(html)).toContain(`"https://statics.esputnik.com/scripts/${scriptId}.js"`);
    expect(readInboxEmbed(html)?.config).toEqual({
      tokenUrl: '/reteno/app-inbox/token',
      contact: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      language: 'en',
      flags: {},
    });
    // sign-in is answered before the middleware: only the page asked
    expect(resolveCalls).toHaveLength(1);
  });

  it('returns an empty string when the helper is called again in the same response', async () => {
    const built = site();
    await built.agent.post('/sign-in').send({ user: 'anna' }).expect(204);
    const page = await built.agent.get('/page?twice=1').expect(200);
    expect(scriptTags(page.text)).toHaveLength(2);
    // …and each response gets its own embed
    const next = await built.agent.get('/page').expect(200);
    expect(scriptTags(next.text)).toHaveLength(2);
  });

  it('loads the script from scriptBaseUrl and merges flags into the one init', async () => {
    const { html } = await signedInPage({
      scriptBaseUrl: 'http://127.0.0.1:4010/scripts',
      flags: { TRACKING: false, RECOMS: true },
    });
    expect(html).toContain(`"http://127.0.0.1:4010/scripts/${scriptId}.js"`);
    // The client adds APP_INBOX: true.
    expect(initArguments(html).flags).toEqual({ TRACKING: false, RECOMS: true });
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
      expect(scriptTags(html)).toHaveLength(2);
      expect(html).not.toContain("eS('init'");
      expect(initArguments(html).flags).toEqual({ TRACKING: true });
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
      expect(readInboxEmbed(page.text)).toBeDefined();
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
      expect(scriptTags(html)).toHaveLength(2);
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

    /** The nonce of each of the embed's two tags. */
    const noncesOf = (html: string) => readInboxEmbed(html)?.nonces;

    it('prints res.locals.cspNonce on both tags by default', async () => {
      const { html } = await signedInPage({}, {}, withNonce('cmFuZG9tLW5vbmNl'));
      expect(noncesOf(html)).toEqual(['cmFuZG9tLW5vbmNl', 'cmFuZG9tLW5vbmNl']);
      expect(scriptTags(html)[0]).toBe('<script nonce="cmFuZG9tLW5vbmNl">');
    });

    it('prints no nonce attribute when there is none', async () => {
      const { html } = await signedInPage();
      expect(noncesOf(html)).toEqual([undefined, undefined]);
    });

    it('takes the nonce option, string or function', async () => {
      expect(noncesOf((await signedInPage({ nonce: 'c3RhdGlj' })).html)).toEqual(['c3RhdGlj', 'c3RhdGlj']);
      const fromFunction = await signedInPage({
        nonce: (req) => (req.path === '/page' ? 'ZnVuYw' : undefined),
      });
      expect(noncesOf(fromFunction.html)).toEqual(['ZnVuYw', 'ZnVuYw']);
    });

    it('refuses a nonce that is not base64-like, and logs it once however many pages carry it', async () => {
      const { html, logs, agent } = await signedInPage({}, {}, withNonce('"><script>alert(1)</script>'));
      expect(noncesOf(html)).toEqual([undefined, undefined]);
      expect(html).not.toContain('alert(1)');
      for (let page = 0; page < 3; page++) {
        expect(noncesOf((await agent.get('/page').expect(200)).text)).toEqual([undefined, undefined]);
      }
      expect(logs.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_INVALID_NONCE')]);
    });

    it('logs once per middleware: a second instance in the same process logs its own problem', async () => {
      const first = await signedInPage({}, {}, withNonce('not a nonce'));
      const second = await signedInPage({}, {}, withNonce('not a nonce'));
      expect(noncesOf(first.html)).toEqual([undefined, undefined]);
      expect(first.logs.errors).toHaveLength(1);
      expect(second.logs.errors).toHaveLength(1);
    });

    it('renders without a nonce when the nonce option throws', async () => {
      const { html, logs } = await signedInPage({
        nonce: () => {
          throw new Error('no nonce');
        },
      });
      expect(noncesOf(html)).toEqual([undefined, undefined]);
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
    const tenant = encodeURIComponent(`</script><!--\u2028'"&`);
    const page = await built.agent.get(`/${tenant}/page`).expect(200);
    expect(scriptTags(page.text)).toHaveLength(2);
    expect(page.text.match(/<\/script>/g)).toHaveLength(2);
    const embed = readInboxEmbed(page.text);
    expect(embed?.config.tokenUrl).toBe(`/${tenant}/reteno/app-inbox/token`);
    expect(embed?.clientUrl).toMatch(
      new RegExp(`^/${tenant}/reteno/app-inbox/token/client\\.[0-9a-f]{12}\\.js$`),
    );
  });

  it('carries at most 1,200 bytes of embed on a signed-in page, nonce and a CSRF token included (gzip ≤ 700)', async () => {
    const { html } = await signedInPage(
      // As long as csrf-csrf's tokens, and a helmet-style nonce.
      { csrfToken: () => 'x'.repeat(128) },
      {},
      {
        configure: (app) =>
          app.use((_req, res, next) => {
            res.locals.cspNonce = 'K0Yj3kVtq2f8mZq1xW9cRw==';
            next();
          }),
      },
    );
    const embed = /<script[\s\S]*<\/script>/.exec(html)?.[0] ?? '';
    expect(readInboxEmbed(embed)?.config.csrf?.token).toHaveLength(128);
    expect(Buffer.byteLength(embed)).toBeLessThanOrEqual(1200);
    expect(gzipSync(embed).length).toBeLessThanOrEqual(700);
  });
});
