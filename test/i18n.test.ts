import type { Request, RequestHandler } from 'express';
import { I18n } from 'i18n';
import i18next from 'i18next';
import { handle, LanguageDetector } from 'i18next-http-middleware';
import request from 'supertest';
import { buildSite, readInboxEmbed } from './helpers/site.js';

// The page language comes from the site's own i18n middleware when there is one. These sites use the real
// packages with their default detectors; the inbox must follow them and send Reteno a bare ISO 639-1 code.

const languages = ['en', 'uk', 'de'];

/** The language a page hands its client for the init call, or undefined when the page has no inbox. */
function initLanguage(page: string): string | undefined {
  return readInboxEmbed(page)?.config.language;
}

/** Records what the i18n middleware decided, to show the package (not the middleware) normalises it. */
function recordLocale(seen: unknown[], read: (req: Request) => unknown): RequestHandler {
  return (req, _res, next) => {
    seen.push(read(req));
    next();
  };
}

async function signedIn(site: ReturnType<typeof buildSite>) {
  const agent = request.agent(site.app);
  await agent.post('/sign-in').send({ user: 'anna' }).expect(204);
  return agent;
}

describe('with i18next and i18next-http-middleware (req.language)', () => {
  const seen: unknown[] = [];
  let site: ReturnType<typeof buildSite>;

  beforeAll(async () => {
    const i18n = i18next.createInstance();
    await i18n.use(LanguageDetector).init({
      supportedLngs: languages,
      // A regional tag whose language is supported ('uk-UA') is kept as it is.
      nonExplicitSupportedLngs: true,
      fallbackLng: 'en',
      resources: { en: { translation: {} }, uk: { translation: {} }, de: { translation: {} } },
      detection: { order: ['querystring', 'cookie', 'header'], caches: false },
      showSupportNotice: false,
    });
    site = buildSite({ languages }, { before: [handle(i18n), recordLocale(seen, (req) => req.language)] });
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('follows ?lng=, which wins over Accept-Language', async () => {
    const agent = await signedIn(site);
    const page = await agent.get('/page?lng=uk').set('Accept-Language', 'de').expect(200);
    expect(seen).toEqual(['uk']);
    expect(initLanguage(page.text)).toBe('uk');
  });

  it('follows the i18next cookie', async () => {
    const agent = await signedIn(site);
    const page = await agent
      .get('/page')
      .set('Cookie', 'i18next=de')
      .set('Accept-Language', 'uk')
      .expect(200);
    expect(seen).toEqual(['de']);
    expect(initLanguage(page.text)).toBe('de');
  });

  it('follows Accept-Language as i18next reads it', async () => {
    const agent = await signedIn(site);
    const page = await agent.get('/page').set('Accept-Language', 'de-AT,de;q=0.9,en;q=0.5').expect(200);
    expect(seen).toEqual(['de-AT']);
    expect(initLanguage(page.text)).toBe('de');
  });

  it("normalises i18next's 'uk-UA' to 'uk'", async () => {
    const agent = await signedIn(site);
    const fromQuery = await agent.get('/page?lng=uk-UA').expect(200);
    const fromHeader = await agent.get('/page').set('Accept-Language', 'uk-UA').expect(200);
    expect(seen).toEqual(['uk-UA', 'uk-UA']);
    expect(initLanguage(fromQuery.text)).toBe('uk');
    expect(initLanguage(fromHeader.text)).toBe('uk');
  });

  it("uses i18next's fallback language when nothing is detected", async () => {
    const agent = await signedIn(site);
    const page = await agent.get('/page').set('Accept-Language', 'fr').expect(200);
    expect(seen).toEqual(['en']);
    expect(initLanguage(page.text)).toBe('en');
  });
});

describe('with i18n (req.getLocale())', () => {
  const seen: unknown[] = [];
  let site: ReturnType<typeof buildSite>;

  beforeAll(() => {
    const i18n = new I18n({
      // The site keeps a regional Ukrainian catalog: i18n reports 'uk-UA', Reteno must get 'uk'.
      staticCatalog: { en: {}, 'uk-UA': {}, de: {} },
      defaultLocale: 'en',
      queryParameter: 'lang',
      cookie: 'locale',
      updateFiles: false,
    });
    // i18n reads cookies from req.cookies, which a site fills with cookie-parser; this does the same.
    const parseCookies: RequestHandler = (req, _res, next) => {
      const header = req.headers.cookie ?? '';
      (req as Request & { cookies: Record<string, string> }).cookies = Object.fromEntries(
        header
          .split(';')
          .map((pair) => pair.trim().split('='))
          .filter((pair): pair is [string, string] => pair.length === 2)
          .map(([name, value]) => [name, decodeURIComponent(value)]),
      );
      next();
    };
    const getLocale = (req: Request) => (req as Request & { getLocale(): string }).getLocale();
    site = buildSite(
      { languages },
      {
        before: [parseCookies, (req, res, next) => i18n.init(req, res, next), recordLocale(seen, getLocale)],
      },
    );
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('follows ?lang=, which wins over Accept-Language', async () => {
    const agent = await signedIn(site);
    const page = await agent.get('/page?lang=de').set('Accept-Language', 'uk-UA').expect(200);
    expect(seen).toEqual(['de']);
    expect(initLanguage(page.text)).toBe('de');
  });

  it('follows the locale cookie', async () => {
    const agent = await signedIn(site);
    const page = await agent
      .get('/page')
      .set('Cookie', 'locale=de')
      .set('Accept-Language', 'uk-UA')
      .expect(200);
    expect(seen).toEqual(['de']);
    expect(initLanguage(page.text)).toBe('de');
  });

  it('follows Accept-Language as i18n reads it and normalises uk-UA', async () => {
    const agent = await signedIn(site);
    const page = await agent.get('/page').set('Accept-Language', 'uk-UA,uk;q=0.9,en;q=0.5').expect(200);
    expect(seen).toEqual(['uk-UA']);
    expect(initLanguage(page.text)).toBe('uk');
  });

  it("uses i18n's default locale for a language the site does not have", async () => {
    const agent = await signedIn(site);
    const page = await agent.get('/page?lang=fr').set('Accept-Language', 'fr').expect(200);
    expect(seen).toEqual(['en']);
    expect(initLanguage(page.text)).toBe('en');
  });
});

describe('with a locale getter on app.request', () => {
  // Some sites extend Express's request prototype instead of setting the locale per request.
  const site = buildSite(
    { languages },
    {
      configure: (app) => {
        Object.defineProperty(app.request, 'locale', {
          configurable: true,
          get(this: Request) {
            return typeof this.query.lang === 'string' ? this.query.lang : undefined;
          },
        });
      },
    },
  );

  it('follows the getter, which wins over Accept-Language', async () => {
    const agent = await signedIn(site);
    const page = await agent.get('/page?lang=uk-UA').set('Accept-Language', 'de').expect(200);
    expect(initLanguage(page.text)).toBe('uk');
  });

  it('falls back to Accept-Language when the getter gives nothing', async () => {
    const agent = await signedIn(site);
    const page = await agent.get('/page').set('Accept-Language', 'de').expect(200);
    expect(initLanguage(page.text)).toBe('de');
  });
});

describe('with a locale getter added to app.request after the site has served pages', () => {
  it('follows the getter from the next page on', async () => {
    const site = buildSite({ languages });
    const agent = await signedIn(site);
    const before = await agent.get('/page?lang=uk').set('Accept-Language', 'de').expect(200);
    expect(initLanguage(before.text)).toBe('de');

    Object.defineProperty(site.app.request, 'locale', {
      configurable: true,
      get(this: Request) {
        return typeof this.query.lang === 'string' ? this.query.lang : undefined;
      },
    });
    const after = await agent.get('/page?lang=uk').set('Accept-Language', 'de').expect(200);
    expect(initLanguage(after.text)).toBe('uk');
  });
});
