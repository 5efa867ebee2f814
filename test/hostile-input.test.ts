import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { format } from 'node:util';
import type { Express, Request } from 'express';
import fc from 'fast-check';
import request from 'supertest';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { RetenoInboxError, type RetenoInboxOptions } from '../src/index.js';
import {
  allLanguages,
  allowedOrigin,
  apiKey,
  breaksTheRules,
  defaultScriptUrl,
  type Element,
  documentedErrors,
  documentedStatuses,
  execute,
  expectedBody,
  expectedFlags,
  expectedLanguage,
  expectedScriptUrl,
  expectedUpstreamStatus,
  expectNoSecret,
  gate,
  type I18nRequest,
  knownContacts,
  knownToEmulator,
  longStrings,
  optionsCase,
  optionsOf,
  originHeader,
  outline,
  type PageCase,
  pageCase,
  scriptJson,
  scriptText,
  type TokenCase,
  tokenCase,
  tokenEndpoint,
  upstreamHeaderNames,
  validity,
} from './helpers/hostile.js';
import { type PageConfig, pageConfigAttribute, parsePageConfig } from '../src/client/page-config.js';
import { buildSite, recordLogs, scriptId, tokenPath } from './helpers/site.js';

// Property-based tests over everything a visitor, an i18n middleware, a session or a site's options can put into
// a page or the token route. Sites are real Express/EJS sites; Reteno is the emulator on 127.0.0.1.

const runs = { page: 200, tokenRoute: 200, options: 200 };
const propertyTimeout = 60_000;

// ---------------------------------------------------------------------------------------------------------------
// Sites
// ---------------------------------------------------------------------------------------------------------------

let emulator: RetenoEmulator;
const servers: Server[] = [];
const consoleLines: string[] = [];
const consoleMethods = ['log', 'info', 'warn', 'error', 'debug'] as const;
const originalConsole = consoleMethods.map((name) => [name, console[name]] as const);

async function listen(app: Express): Promise<{ server: Server; origin: string }> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** The page of the layout fixture: the site's own scripts in <head> and <body>, the embed in <head>. */
function addLayoutRoute(app: Express): void {
  app.get('/layout', (_req, res) => {
    res.render('layout', { title: 'Shop' });
  });
}

interface References {
  /** Outlines of the benign pages, with and without the embed. */
  outlines: Record<'/page' | '/layout', { embed: string[]; tracking: string[]; none: string[] }>;
  /** The benign inbox page's loader, and the benign tracking-only embed. */
  loader: string;
  trackingScript: string;
}
let references: References;

/** The loader the template renders for this script URL, built from the benign one. */
function loaderScript(scriptUrl: string) {
  return replaceOnce(references.loader, [[`"${defaultScriptUrl}"`, scriptJson(scriptUrl)]]);
}

function trackingScript(values: { scriptUrl: string; flags: unknown }) {
  return replaceOnce(references.trackingScript, [
    [`"${defaultScriptUrl}"`, scriptJson(values.scriptUrl)],
    [`eS('init',{})`, `eS('init',${scriptJson(values.flags)})`],
  ]);
}

/** The values a client tag hands the client, parsed as the client parses them. */
function pageConfigOf(element: Element | undefined): PageConfig | undefined {
  const value = element?.attrs.find((attribute) => attribute.name === pageConfigAttribute)?.value;
  return parsePageConfig(value);
}

/** The client tag's `src`. */
function clientSrcOf(element: Element | undefined): string | undefined {
  return element?.attrs.find((attribute) => attribute.name === 'src')?.value;
}

const clientSrcPattern = /^\/reteno\/app-inbox\/token\/client\.[0-9a-f]{12}\.js$/;
const contactIdPattern = /^[A-Za-z0-9_-]{22}$/;

function replaceOnce(text: string, replacements: [string, string][]): string {
  let result = text;
  for (const [from, to] of replacements) {
    if (result.split(from).length !== 2)
      throw new Error(`${from} is not in the reference embed exactly once`);
    result = result.replace(from, () => to);
  }
  return result;
}

beforeAll(async () => {
  for (const name of consoleMethods) {
    console[name] = (...args: unknown[]) => {
      consoleLines.push(format(...args));
    };
  }
  emulator = await createRetenoEmulator({
    apiKey,
    scriptId,
    contacts: knownContacts.map((contact) => ({ ...contact })),
  });
});

afterAll(async () => {
  for (const [name, method] of originalConsole) console[name] = method;
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await emulator?.close();
  expectNoSecret(...consoleLines);
});

beforeAll(async () => {
  const benign = buildSite(
    { apiKey, baseUrl: emulator.url },
    { resolveContact: (req) => (req.query.anonymous === '1' ? null : { email: 'anna@example.com' }) },
  );
  addLayoutRoute(benign.app);
  const tracking = buildSite(
    { apiKey, baseUrl: emulator.url, embedAnonymous: true },
    { resolveContact: () => null },
  );
  const render = async (app: Express, path: string) => {
    const page = await request(app).get(path).expect(200);
    return outline(page.text);
  };
  const page = await render(benign.app, '/page');
  const layout = await render(benign.app, '/layout');
  const [inbox] = page.embeds;
  addLayoutRoute(tracking.app);
  const trackingPage = await render(tracking.app, '/page');
  const [trackingEmbed] = trackingPage.embeds;
  if (inbox === undefined || trackingEmbed === undefined) throw new Error('the benign pages have no embed');
  references = {
    outlines: {
      '/page': {
        embed: page.lines,
        tracking: trackingPage.lines,
        none: (await render(benign.app, '/page?anonymous=1')).lines,
      },
      '/layout': {
        embed: layout.lines,
        tracking: (await render(tracking.app, '/layout')).lines,
        none: (await render(benign.app, '/layout?anonymous=1')).lines,
      },
    },
    loader: scriptText(inbox),
    trackingScript: scriptText(trackingEmbed),
  };
});

describe('hostile input', () => {
  it('starts from benign pages with one embed, the layout with the site scripts around it', () => {
    const { outlines } = references;
    const clientTag = '    <script defer=""> [embed]';
    expect(outlines['/page'].embed.filter((line) => line.includes('<script'))).toEqual([
      '    <script> [embed]',
      clientTag,
    ]);
    expect(outlines['/page'].none.filter((line) => line.includes('<script'))).toEqual([]);
    expect(outlines['/layout'].embed.filter((line) => line.includes('<script'))).toEqual([
      '    <script>',
      '    <script> [embed]',
      clientTag,
      '    <script type="application/json" id="shop-data">',
    ]);
    expect(outlines['/layout'].none.filter((line) => line.includes('<script'))).toHaveLength(2);
    expect(outlines['/page'].tracking.filter((line) => line.includes('<script'))).toEqual([
      '    <script> [embed]',
    ]);
    expect([...outlines['/page'].embed, ...outlines['/layout'].embed].join('\n')).not.toContain(
      'parse error',
    );
    // The templates the oracles build from: every slot is found exactly once.
    expect(loaderScript(defaultScriptUrl)).toBe(references.loader);
    expect(trackingScript({ scriptUrl: defaultScriptUrl, flags: {} })).toBe(references.trackingScript);
  });

  describe('pages', () => {
    let current: PageCase;
    const logs = recordLogs();
    let sites: Record<PageCase['variant'], { server: Server; resolveCalls: Request[] }>;

    beforeAll(async () => {
      const build = (options: Partial<RetenoInboxOptions>) => {
        const built = buildSite(
          { apiKey, baseUrl: emulator.url, logger: logs, ...options },
          {
            // What an i18n middleware and a CSP middleware set before the inbox middleware runs.
            before: [
              (req, res, next) => {
                const { i18n, nonce } = current;
                const i18nRequest = req as unknown as I18nRequest;
                const getter = i18n.getLocale;
                if (getter) {
                  i18nRequest.getLocale = () => {
                    if (getter.throws) throw new Error('no locale');
                    return getter.value;
                  };
                }
                if (i18n.locale) i18nRequest.locale = i18n.locale.value;
                if (i18n.language) i18nRequest.language = i18n.language.value;
                if (i18n.localsLocale) res.locals.locale = i18n.localsLocale.value;
                res.locals.cspNonce = nonce.value;
                next();
              },
            ],
            resolveContact: () =>
              current.contact.async
                ? Promise.resolve(current.contact.contact as never)
                : (current.contact.contact as never),
          },
        );
        addLayoutRoute(built.app);
        return built;
      };
      const locals = build({});
      const options = build({
        nonce: () => {
          if (current.nonce.throws) throw new Error('no nonce');
          return current.nonce.value as string;
        },
        language: () => {
          if (current.languageOption.throws) throw new Error('no language');
          return current.languageOption.value as string;
        },
      });
      sites = {
        locals: { server: (await listen(locals.app)).server, resolveCalls: locals.resolveCalls },
        options: { server: (await listen(options.app)).server, resolveCalls: options.resolveCalls },
      };
    });

    it(
      'contain only the embed, intact, whatever the visitor, i18n, nonce and contact',
      async () => {
        await fc.assert(
          fc.asyncProperty(pageCase, async (input) => {
            current = input;
            logs.warnings.length = 0;
            logs.errors.length = 0;
            const site = sites[input.variant];
            site.resolveCalls.length = 0;
            let call = request(site.server).get(input.path);
            if (input.acceptLanguage.header !== undefined) {
              call = call.set('Accept-Language', input.acceptLanguage.header);
            }
            const page = await call;
            expect(page.status).toBe(200);
            expectNoSecret(page.text, JSON.stringify(page.headers), ...logs.warnings, ...logs.errors);
            expect(site.resolveCalls).toHaveLength(1);

            // Nothing from the input shows up as markup: the page parses exactly like a benign one.
            const { lines, embeds } = outline(page.text);
            const reference = references.outlines[input.path === '/layout' ? '/layout' : '/page'];
            expect(lines).toEqual(embeds.length > 0 ? reference.embed : reference.none);

            const { contact, expect: expected } = input.contact;
            if (expected === 'valid') expect(embeds).toHaveLength(2);
            if (expected === 'invalid' || expected === 'anonymous') expect(embeds).toHaveLength(0);
            if (embeds.length > 0) expect(breaksTheRules(contact)).toBe(false);
            const warned = logs.warnings.some((line) => line.includes('ERR_RETENO_INBOX_INVALID_CONTACT'));
            // Logged at most once every 10 s per instance: a case may find it said already.
            if (expected === 'invalid') expect(logs.warnings.length).toBeLessThanOrEqual(1);
            if (expected === 'invalid' && logs.warnings.length === 1) expect(warned).toBe(true);
            if (expected === 'anonymous') expect(warned).toBe(false);
            for (const value of longStrings(contact)) {
              for (const line of [...logs.warnings, ...logs.errors]) expect(line).not.toContain(value);
            }

            const [loader, clientTag] = embeds;
            if (loader === undefined) return;
            const nonces = embeds.map(
              (element) => element.attrs.find((attribute) => attribute.name === 'nonce')?.value,
            );
            const [nonce] = nonces;
            expect(nonces).toEqual([nonce, nonce]);
            if (input.nonce.printed === true) expect(nonce).toBe(input.nonce.value);
            if (input.nonce.printed === false) expect(nonce).toBeUndefined();
            if (nonce !== undefined) {
              expect(nonce).toBe(input.nonce.value);
              expect(nonce).toMatch(/^[A-Za-z0-9+/_=-]+$/);
            }

            const text = scriptText(loader);
            const { inserted, queue } = execute(text);
            expect(inserted).toEqual([{ async: 1, src: defaultScriptUrl }]);
            expect(queue).toEqual([]);
            expect(text).toBe(loaderScript(defaultScriptUrl));
            expect(clientSrcOf(clientTag)).toMatch(clientSrcPattern);
            const config = pageConfigOf(clientTag);
            expect(config).toEqual({
              tokenUrl: tokenPath,
              contact: expect.stringMatching(contactIdPattern),
              language: expect.any(String),
              flags: {},
            });
            const language = config?.language;
            expect(allLanguages.has(language as string)).toBe(true);
            const wanted = expectedLanguage(input);
            if (wanted !== undefined) expect(language).toBe(wanted);
          }),
          { numRuns: runs.page },
        );
      },
      propertyTimeout,
    );
  });

  describe('token route', () => {
    let current: TokenCase;
    const logs = recordLogs();
    let site: { server: Server; origin: string; resolveCalls: Request[] };

    // One site for every case, with no token budget (the cases reuse a few contacts far more than 60 times a
    // minute); a new one after a 429, whose back-off would hold the next cases.
    let throttled = true;
    async function siteForCase(input: TokenCase) {
      if (throttled) {
        const built = buildSite(
          {
            apiKey,
            baseUrl: emulator.url,
            logger: logs,
            retries: 0,
            allowedOrigins: [allowedOrigin],
            tokenBudget: false,
          },
          {
            resolveContact: () =>
              current.contact.async
                ? Promise.resolve(current.contact.contact as never)
                : (current.contact.contact as never),
          },
        );
        site = { ...(await listen(built.app)), resolveCalls: built.resolveCalls };
      }
      throttled = input.fault?.kind === 'status' && input.fault.status === 429;
    }
    // A fault stays queued when the last case's request never reached Reteno.
    afterAll(() => emulator.clearFaults());

    async function send(input: TokenCase) {
      const query = input.query.map(
        ([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`,
      );
      const url = query.length === 0 ? input.path : `${input.path}?${query.join('&')}`;
      const headers: Record<string, string> = { ...input.headers };
      if (input.marker !== undefined) headers['X-Reteno-Inbox'] = input.marker;
      const origin = originHeader(input.origin, site.origin);
      if (origin !== undefined) headers.Origin = origin;
      if (input.secFetchSite.value !== undefined) headers['Sec-Fetch-Site'] = input.secFetchSite.value;
      const call = request(site.server)[input.method](url).set(headers);
      switch (input.body.kind) {
        case 'none':
          return await call;
        case 'json':
          return await call.send(input.body.value);
        case 'form':
          return await call.type('form').send(input.body.value);
        case 'text':
          return await call.type('text/plain').send(input.body.value);
      }
    }

    it(
      'answers a documented status, never 500, and sends Reteno only what resolveContact returned',
      async () => {
        await fc.assert(
          fc.asyncProperty(tokenCase, async (input) => {
            current = input;
            await siteForCase(input);
            await siteForCase(input);
            logs.warnings.length = 0;
            logs.errors.length = 0;
            site.resolveCalls.length = 0;
            emulator.clearFaults();
            emulator.clearRequests();
            if (input.fault) emulator.fail({ ...input.fault, times: 1, route: 'token' });

            const response = await send(input);
            expectNoSecret(response.text, JSON.stringify(response.headers), ...logs.warnings, ...logs.errors);
            expect(documentedStatuses).toContain(response.status);
            expect(response.headers['cache-control']).toBe('no-store');
            if (response.status === 200) {
              expect(response.body).toEqual({ token: expect.any(String) });
              expect(response.body.token).not.toBe('');
            } else {
              expect(response.body).toEqual({ error: documentedErrors[response.status] });
            }

            // Everything that reached Reteno: the contact's own non-empty fields, with the site's credentials.
            const { contact, expect: expected } = input.contact;
            const body = expectedBody(contact);
            const calls = emulator.requests.filter((entry) => entry.path === tokenEndpoint);
            expect(calls.length).toBeLessThanOrEqual(1);
            for (const call of calls) {
              expect(call.method).toBe('POST');
              expect(call.body).toEqual(body);
              expect(call.query).toEqual({});
              expect(call.authorization).toBe('valid');
              for (const name of Object.keys(call.headers)) expect(upstreamHeaderNames).toContain(name);
              expect(breaksTheRules(contact)).toBe(false);
            }
            if ([200, 404].includes(response.status)) expect(calls).toHaveLength(1);
            if ([401, 403, 405, 422].includes(response.status)) expect(calls).toHaveLength(0);
            for (const value of longStrings(contact)) {
              for (const line of [...logs.warnings, ...logs.errors]) expect(line).not.toContain(value);
            }

            if (input.method !== 'post') {
              expect(response.status).toBe(405);
              expect(response.headers.allow).toBe('POST');
              expect(site.resolveCalls).toHaveLength(0);
              return;
            }
            const decided = gate(input);
            if (decided === 'refuse') {
              expect(response.status).toBe(403);
              expect(site.resolveCalls).toHaveLength(0);
              return;
            }
            if (decided === undefined) return;
            expect(site.resolveCalls).toHaveLength(1);
            switch (expected) {
              case 'anonymous':
                expect(response.status).toBe(401);
                break;
              case 'invalid':
                expect(response.status).toBe(422);
                // Logged at most once every 10 s per instance: a case may find it said already.
                for (const line of logs.warnings) expect(line).toContain('ERR_RETENO_INBOX_INVALID_CONTACT');
                expect(logs.warnings.length).toBeLessThanOrEqual(1);
                break;
              case 'valid':
                expect(calls).toHaveLength(1);
                expect(response.status).toBe(expectedUpstreamStatus(input.fault, knownToEmulator(body)));
                break;
              case 'unknown':
                break;
            }
          }),
          { numRuns: runs.tokenRoute },
        );
      },
      propertyTimeout,
    );
  });

  describe('options', () => {
    it(
      'either refuse at creation with a coded error, or render an intact embed whose token URL works',
      async () => {
        await fc.assert(
          fc.asyncProperty(optionsCase, async (input) => {
            const options = optionsOf(input);
            const valid = validity(input);
            const logs = recordLogs();
            const anna = knownContacts[0] ?? {};
            let built: ReturnType<typeof buildSite>;
            try {
              built = buildSite(
                { apiKey, baseUrl: emulator.url, ...(input.withLogger ? { logger: logs } : {}), ...options },
                { resolveContact: () => (input.signedIn ? { ...anna } : null) },
              );
            } catch (error) {
              expect(error).toBeInstanceOf(RetenoInboxError);
              const { code, message, stack } = error as RetenoInboxError;
              expect(code).toMatch(/^ERR_RETENO_INBOX_(MISSING|INVALID|UNKNOWN)_OPTION$/);
              expectNoSecret(message, String(stack));
              expect(valid).not.toBe(true);
              return;
            }
            expect(valid).not.toBe(false);
            addLayoutRoute(built.app);

            const page = await request(built.app).get(input.path);
            expect(page.status).toBe(200);
            expectNoSecret(page.text, JSON.stringify(page.headers), ...logs.warnings, ...logs.errors);
            const { lines, embeds } = outline(page.text);
            const kind = input.signedIn ? 'embed' : options.embedAnonymous === true ? 'tracking' : 'none';
            expect(lines).toEqual(references.outlines[input.path][kind]);
            const [loader, clientTag] = embeds;
            if (loader === undefined) return;

            for (const element of embeds) {
              expect(element.attrs.find((attribute) => attribute.name === 'nonce')?.value).toBe(
                options.nonce,
              );
            }
            const text = scriptText(loader);
            const { inserted, queue } = execute(text);
            const scriptUrl = expectedScriptUrl(options);
            expect(inserted).toEqual([{ async: 1, src: scriptUrl }]);

            if (!input.signedIn) {
              expect(embeds).toHaveLength(1);
              expect(queue).toHaveLength(1);
              const [command, flags] = queue[0] ?? [];
              expect(command).toBe('init');
              expect(queue[0]).toHaveLength(2);
              expect(flags).toEqual(expectedFlags(options.flags));
              expect(text).toBe(trackingScript({ scriptUrl, flags }));
              return;
            }
            expect(embeds).toHaveLength(2);
            expect(queue).toEqual([]);
            expect(text).toBe(loaderScript(scriptUrl));
            const route = (options.tokenPath as string | undefined) ?? tokenPath;
            const config = pageConfigOf(clientTag);
            expect(config).toEqual({
              tokenUrl: route,
              contact: expect.stringMatching(contactIdPattern),
              language: options.defaultLanguage ?? 'en',
              flags: expectedFlags(options.flags),
            });

            // The client fetches what a browser makes of the token URL and its own URL on this page: the package's.
            const base = `http://shop.example${input.path}`;
            const target = new URL(config?.tokenUrl ?? '', base);
            const client = new URL(clientSrcOf(clientTag) ?? '', base);
            expect([target.origin, client.origin]).toEqual(['http://shop.example', 'http://shop.example']);
            expect(client.pathname.startsWith(`${route}/client.`)).toBe(true);
            await request(built.app).get(client.pathname).expect(200);
            emulator.clearRequests();
            const answer = await request(built.app)
              .post(`${target.pathname}${target.search}`)
              .set('X-Reteno-Inbox', '1');
            expectNoSecret(answer.text, JSON.stringify(answer.headers), ...logs.warnings, ...logs.errors);
            expect(answer.status).toBe(200);
            expect(answer.body).toEqual({ token: expect.any(String) });
            expect(emulator.requests.map((entry) => entry.body)).toEqual([anna]);
            expectNoSecret(...consoleLines);
          }),
          { numRuns: runs.options },
        );
      },
      propertyTimeout,
    );
  });
});
