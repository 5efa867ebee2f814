import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import csurf from 'csurf';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import lusca from 'lusca';
import request from 'supertest';
import {
  type RetenoInboxOptions,
  retenoInbox,
  retenoInboxTokenCall,
  type TokenCallRequest,
} from '../src/index.js';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
import { loopbackDoubleCsrfOptions } from './helpers/csrf.js';
import {
  createAuthenticator,
  createPassportSite,
  csurfToken,
  resolveContact,
  siteRoutes,
  siteUsers,
  viewsDir,
} from './fixtures/passport-site/site.js';
import {
  apiKey,
  type LogRecorder,
  readInboxEmbed,
  recordLogs,
  scriptId,
  tokenCallHeaders,
  tokenPath,
} from './helpers/site.js';

const retenoTokenPath = '/v1/auth/contact/token';
const [anna, taras] = siteUsers as [(typeof siteUsers)[0], (typeof siteUsers)[0]];

/**
 * A global CSRF middleware as a site sets it up, and what the site's forms and the inbox take from it. `skip`, when
 * given, is a request it leaves alone (csrf-csrf's `skipCsrfProtection`; for lusca and csurf the wrapper
 * hackathon-starter uses for its own exceptions).
 */
interface CsrfSetup {
  protection(skip?: (req: TokenCallRequest) => boolean): RequestHandler[];
  /** The token this request's forms carry. */
  formToken(req: Request, res: Response): string;
  /** What the site passes as retenoInbox's `csrfToken`. */
  inboxToken(req: Request, res: Response): string;
}

/** A CSRF middleware that leaves the requests `skip` names to the middlewares after it. */
function skipping(csrf: RequestHandler, skip?: (req: TokenCallRequest) => boolean): RequestHandler[] {
  if (skip === undefined) return [csrf];
  return [(req, res, next) => (skip(req) ? next() : csrf(req, res, next))];
}

const csrfMiddlewares: Record<'csurf' | 'csrf-csrf' | 'lusca', () => CsrfSetup> = {
  csurf: () => ({
    protection: (skip) => skipping(csurf(), skip),
    formToken: csurfToken,
    inboxToken: csurfToken,
  }),
  'csrf-csrf': () => {
    const config = loopbackDoubleCsrfOptions('double-submit-secret-0b9f4e');
    const { generateCsrfToken } = doubleCsrf(config);
    return {
      protection: (skip) => [
        cookieParser(),
        doubleCsrf(skip === undefined ? config : { ...config, skipCsrfProtection: skip })
          .doubleCsrfProtection,
      ],
      formToken: (req, res) => generateCsrfToken(req, res),
      // A second generateCsrfToken in the same request would set a second cookie, and the forms' token would no
      // longer match it: the page's one token is reused.
      inboxToken: (_req, res) => res.locals.csrfToken as string,
    };
  },
  // lusca.csrf() as hackathon-starter mounts it: after Passport, its token in res.locals._csrf.
  lusca: () => ({
    protection: (skip) => skipping(lusca.csrf(), skip),
    formToken: (_req, res) => res.locals._csrf as string,
    inboxToken: (_req, res) => res.locals._csrf as string,
  }),
};

type CsrfName = keyof typeof csrfMiddlewares;

/**
 * The orders the README's Mount order section covers:
 * - `before-csrf`: session → Passport → retenoInbox → CSRF middleware: a site whose CSRF middleware comes after
 *   Passport (hackathon-starter's order), the inbox line between them. Preferred for that order.
 * - `after-csrf`: session → Passport → CSRF middleware → retenoInbox with `csrfToken`: the same site with the inbox
 *   line added last.
 * - `skips-token-call`: session → CSRF middleware skipping retenoInboxTokenCall() → Passport → retenoInbox:
 *   Passport's examples' order (CSRF before Passport). Preferred for that order.
 * - `after-passport`: session → CSRF middleware → Passport → retenoInbox with `csrfToken`: Passport's examples'
 *   order with the inbox line added last.
 */
type MountOrder = 'before-csrf' | 'after-csrf' | 'skips-token-call' | 'after-passport';

/** The orders in which the CSRF middleware sees the token calls, so that the page must send its CSRF token. */
const behindCsrf = (order: MountOrder) => order === 'after-csrf' || order === 'after-passport';

interface SiteSettings {
  csrf: CsrfName;
  order: MountOrder;
  baseUrl: string;
  /** Replaces the CSRF setup's `inboxToken`; `null` passes no `csrfToken`. */
  csrfToken?: RetenoInboxOptions['csrfToken'] | null;
  csrfHeader?: string;
  logger?: LogRecorder;
}

function buildPassportSite(settings: SiteSettings): Express {
  const csrf = csrfMiddlewares[settings.csrf]();
  const authenticator = createAuthenticator();
  const csrfToken = settings.csrfToken === undefined ? csrf.inboxToken : settings.csrfToken;
  const inbox = retenoInbox({
    apiKey,
    scriptId,
    baseUrl: settings.baseUrl,
    resolveContact,
    ...(csrfToken === null ? {} : { csrfToken }),
    ...(settings.csrfHeader === undefined ? {} : { csrfHeader: settings.csrfHeader }),
    ...(settings.logger === undefined ? {} : { logger: settings.logger }),
  });

  const app = express();
  app.set('views', viewsDir);
  app.set('view engine', 'ejs');
  app.use(express.urlencoded({ extended: false }));
  // csrf-csrf binds its tokens to the session id, so the session must exist before sign-in.
  app.use(session({ secret: 'mount-order-secret', resave: false, saveUninitialized: true }));
  const passport = authenticator.authenticate('session');
  const orders: Record<MountOrder, () => RequestHandler[]> = {
    'before-csrf': () => [passport, inbox, ...csrf.protection()],
    'after-csrf': () => [passport, ...csrf.protection(), inbox],
    'skips-token-call': () => [...csrf.protection(retenoInboxTokenCall()), passport, inbox],
    'after-passport': () => [...csrf.protection(), passport, inbox],
  };
  for (const handler of orders[settings.order]()) app.use(handler);
  app.use((req, res, next) => {
    res.locals.csrfToken = csrf.formToken(req, res);
    next();
  });
  app.use(siteRoutes(authenticator));
  return app;
}

type Agent = ReturnType<typeof request.agent>;

/** The `_csrf` value of the page's first form. */
function formToken(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (token === undefined) throw new Error('The page has no form with a CSRF token');
  return token;
}

/** Signs in through the form, as a browser does, and returns the page the sign-in leads to. */
async function signIn(agent: Agent, user: { username: string; password: string }) {
  const loginPage = await agent.get('/login').expect(200);
  await agent
    .post('/login/password')
    .type('form')
    .send({ username: user.username, password: user.password, _csrf: formToken(loginPage.text) })
    .expect(302)
    .expect('Location', '/');
  return agent.get('/').expect(200);
}

let emulator: RetenoEmulator;

beforeAll(async () => {
  emulator = await createRetenoEmulator({
    apiKey,
    scriptId,
    contacts: siteUsers.map((user) => ({ email: user.email })),
  });
});

afterAll(async () => {
  await emulator.close();
});

beforeEach(() => {
  emulator.clearRequests();
  emulator.clearFaults();
});

/** The bodies of the token requests Reteno received. */
function retenoTokenRequests(): unknown[] {
  return emulator.requests.filter((logged) => logged.path === retenoTokenPath).map((logged) => logged.body);
}

const matrix = (['csurf', 'csrf-csrf', 'lusca'] as const).flatMap((csrf) =>
  (['before-csrf', 'after-csrf', 'skips-token-call', 'after-passport'] as const).map((order) => ({
    csrf,
    order,
  })),
);

describe.each(matrix)('Passport and $csrf, retenoInbox mounted $order', ({ csrf, order }) => {
  let app: Express;

  beforeAll(() => {
    app = buildPassportSite({ csrf, order, baseUrl: emulator.url });
  });

  it('renders no embed for an anonymous visitor, and one for the user Passport signed in (req.user)', async () => {
    const agent = request.agent(app);
    const anonymous = await agent.get('/').expect(200);
    expect(anonymous.text).toContain('Sign in to see your list.');
    expect(readInboxEmbed(anonymous.text)).toBeUndefined();

    const signedIn = await signIn(agent, anna);
    expect(signedIn.text).toContain('Hello, Anna');
    expect(readInboxEmbed(signedIn.text)?.config.contact).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(retenoTokenRequests()).toEqual([]);
  });

  it("sends the page's CSRF token with the token call, and Reteno issues a token for req.user's contact", async () => {
    const agent = request.agent(app);
    const page = await signIn(agent, taras);
    const headers = tokenCallHeaders(page.text);
    expect(headers).toEqual({
      'x-reteno-inbox': '1',
      'x-csrf-token': expect.stringMatching(/^[\x21-\x7e]+$/),
    });

    const answer = await agent
      .post(tokenPath)
      .set(headers ?? {})
      .expect(200)
      .expect('x-reteno-inbox', '1');
    expect(answer.body).toEqual({ token: expect.any(String) });
    expect((answer.body as { token: string }).token).not.toBe('');
    expect(retenoTokenRequests()).toEqual([{ email: taras.email }]);
  });

  it('gives each signed-in user the token of their own contact', async () => {
    for (const user of [anna, taras]) {
      const agent = request.agent(app);
      const page = await signIn(agent, user);
      await agent
        .post(tokenPath)
        .set(tokenCallHeaders(page.text) ?? {})
        .expect(200);
    }
    expect(retenoTokenRequests()).toEqual([{ email: anna.email }, { email: taras.email }]);
  });

  it("leaves the site's own forms working on the page that carries the embed", async () => {
    const agent = request.agent(app);
    const page = await signIn(agent, anna);
    await agent
      .post(tokenPath)
      .set(tokenCallHeaders(page.text) ?? {})
      .expect(200);
    await agent
      .post('/logout')
      .type('form')
      .send({ _csrf: formToken(page.text) })
      .expect(302)
      .expect('Location', '/');
    const signedOut = await agent.get('/').expect(200);
    expect(signedOut.text).toContain('Sign in to see your list.');
  });

  it("still refuses the site's own forms without a CSRF token", async () => {
    const agent = request.agent(app);
    await signIn(agent, anna);
    await agent.post('/logout').type('form').send({}).expect(403);
    const stillSignedIn = await agent.get('/').expect(200);
    expect(stillSignedIn.text).toContain('Hello, Anna');
  });

  if (behindCsrf(order)) {
    it.each([
      [
        'without the CSRF header',
        (headers: Record<string, string>) => ({ 'x-reteno-inbox': headers['x-reteno-inbox'] }),
      ],
      [
        'with a wrong CSRF token',
        (headers: Record<string, string>) => ({ ...headers, 'x-csrf-token': `${headers['x-csrf-token']}x` }),
      ],
    ])(`lets ${csrf} refuse a token call %s (403) before Reteno is called`, async (_case, alter) => {
      const agent = request.agent(app);
      const page = await signIn(agent, anna);
      const answer = await agent
        .post(tokenPath)
        .set(alter(tokenCallHeaders(page.text) ?? {}) as Record<string, string>)
        .expect(403);
      // The embed tells this answer from the token route's own by the missing marker.
      expect(answer.headers['x-reteno-inbox']).toBeUndefined();
      expect(answer.headers['content-type']).toMatch(/^text\/html/);
      expect(retenoTokenRequests()).toEqual([]);
    });

    it('answers 401 to an anonymous visitor who sends a valid CSRF token, without calling Reteno', async () => {
      const agent = request.agent(app);
      const loginPage = await agent.get('/login').expect(200);
      await agent
        .post(tokenPath)
        .set({ 'x-reteno-inbox': '1', 'x-csrf-token': formToken(loginPage.text) })
        .expect(401, { error: 'unauthenticated' });
      expect(retenoTokenRequests()).toEqual([]);
    });
  } else {
    it(`answers the token call without a CSRF token: ${csrf} does not see it, the route guards itself`, async () => {
      const agent = request.agent(app);
      await signIn(agent, anna);
      await agent.post(tokenPath).set('x-reteno-inbox', '1').expect(200);
      expect(retenoTokenRequests()).toEqual([{ email: anna.email }]);
    });

    if (order === 'before-csrf') {
      it("refuses a call without X-Reteno-Inbox with the route's own 403", async () => {
        const agent = request.agent(app);
        await signIn(agent, anna);
        await agent.post(tokenPath).expect(403, { error: 'forbidden' }).expect('x-reteno-inbox', '1');
        expect(retenoTokenRequests()).toEqual([]);
      });
    } else {
      it(`leaves a call without X-Reteno-Inbox to ${csrf}, which refuses it`, async () => {
        const agent = request.agent(app);
        await signIn(agent, anna);
        const refused = await agent.post(tokenPath).expect(403);
        expect(refused.headers['x-reteno-inbox']).toBeUndefined();
        expect(retenoTokenRequests()).toEqual([]);
      });
    }

    it('sends only its own marker header when the site passes no csrfToken', async () => {
      const site = buildPassportSite({ csrf, order, baseUrl: emulator.url, csrfToken: null });
      const agent = request.agent(site);
      const page = await signIn(agent, anna);
      const headers = tokenCallHeaders(page.text);
      expect(headers).toEqual({ 'x-reteno-inbox': '1' });
      await agent
        .post(tokenPath)
        .set(headers ?? {})
        .expect(200);
    });
  }
});

describe('csrfHeader', () => {
  it('names the header that carries the CSRF token; csurf also reads x-xsrf-token', async () => {
    const app = buildPassportSite({
      csrf: 'csurf',
      order: 'after-passport',
      baseUrl: emulator.url,
      csrfHeader: 'X-XSRF-Token',
    });
    const agent = request.agent(app);
    const page = await signIn(agent, anna);
    const headers = tokenCallHeaders(page.text);
    expect(Object.keys(headers ?? {})).toEqual(['x-reteno-inbox', 'x-xsrf-token']);
    await agent
      .post(tokenPath)
      .set(headers ?? {})
      .expect(200);
    expect(retenoTokenRequests()).toEqual([{ email: anna.email }]);
  });
});

describe('a csrfToken value that cannot go into a header', () => {
  const unusable: [string, RetenoInboxOptions['csrfToken']][] = [
    ['non-ASCII', () => 'tökén-42'],
    ['a space', () => 'two words'],
    ['markup with a space', () => '"> <script>alert(1)</script>'],
    ['empty', () => ''],
    ['not a string', () => 42 as unknown as string],
    [
      'a throw',
      () => {
        throw new Error('no CSRF middleware ran');
      },
    ],
  ];

  it.each(unusable)(
    'is not printed (%s): pages render with the embed minus the header, logged once for several pages',
    async (_case, csrfToken) => {
      const logger = recordLogs();
      const app = buildPassportSite({
        csrf: 'csurf',
        order: 'after-passport',
        baseUrl: emulator.url,
        csrfToken,
        logger,
      });
      const agent = request.agent(app);
      const pages = [await signIn(agent, anna)];
      pages.push(await agent.get('/').expect(200), await agent.get('/login').expect(200));

      for (const page of pages) {
        expect(tokenCallHeaders(page.text)).toEqual({ 'x-reteno-inbox': '1' });
        expect(page.text).not.toMatch(/tökén|two words|alert\(1\)|x-csrf-token/);
      }
      expect(pages[0]?.text).toContain('Hello, Anna');
      expect(logger.errors).toEqual([expect.stringContaining('ERR_RETENO_INBOX_INVALID_CSRF_TOKEN')]);
      expect(logger.errors[0]).toContain('csrfToken');
      expect(logger.warnings).toEqual([]);
    },
  );
});

describe('a csrfToken value of visible ASCII with markup characters', () => {
  it('is printed HTML-safely: the page holds no markup from it, and the token call sends it unchanged', async () => {
    const value = '"></script><script>alert(1)</script><!--';
    const logger = recordLogs();
    const app = buildPassportSite({
      csrf: 'csurf',
      order: 'before-csrf',
      baseUrl: emulator.url,
      csrfToken: () => value,
      logger,
    });
    const agent = request.agent(app);
    const page = await signIn(agent, anna);
    expect(page.text).not.toMatch(/<script>alert|<!--/);
    expect(page.text.match(/<\/script>/g)).toHaveLength(2);
    expect(tokenCallHeaders(page.text)).toEqual({ 'x-reteno-inbox': '1', 'x-csrf-token': value });
    expect(logger.errors).toEqual([]);
  });
});

describe('the Passport + csurf site as Passport lays it out, with retenoInbox added after Passport', () => {
  it('gets a token through csurf with the csrfToken line, and is refused by csurf without it', async () => {
    const reteno = { apiKey, scriptId, baseUrl: emulator.url };
    const working = request.agent(createPassportSite({ reteno }));
    const page = await signIn(working, anna);
    await working
      .post(tokenPath)
      .set(tokenCallHeaders(page.text) ?? {})
      .expect(200);

    const dead = request.agent(createPassportSite({ reteno, passCsrfToken: false }));
    const deadPage = await signIn(dead, anna);
    expect(tokenCallHeaders(deadPage.text)).toEqual({ 'x-reteno-inbox': '1' });
    const refused = await dead
      .post(tokenPath)
      .set(tokenCallHeaders(deadPage.text) ?? {})
      .expect(403);
    expect(refused.headers['x-reteno-inbox']).toBeUndefined();
    expect(retenoTokenRequests()).toEqual([{ email: anna.email }]);
  });
});
