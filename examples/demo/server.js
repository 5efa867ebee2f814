// The express-reteno-inbox demo: an Express 5 + EJS site with sign-in, a language switcher and Reteno's App
// Inbox. By default it runs on a local Reteno emulator; with RETENO_API_KEY and RETENO_SCRIPT_ID it talks to
// real Reteno. Run: npm install && npm start
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import express from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { retenoInbox, retenoInboxCsp } from 'express-reteno-inbox';
import { createRetenoEmulator } from 'express-reteno-inbox/emulator';
import { demoUsers, languages, text } from './content.js';
import { signUpRoutes } from './sign-up.js';

const emulatorApiKey = 'demo-emulator-api-key';
const emulatorScriptId = '00000000-0000-4000-8000-000000000000';

/**
 * Starts the demo. `env` decides the mode: RETENO_API_KEY + RETENO_SCRIPT_ID → real Reteno (RETENO_BASE_URL,
 * RETENO_SCRIPT_BASE_URL optional), otherwise the embedded emulator; REDIS_URL → sessions in Redis.
 */
export async function createDemo({
  port = 3000,
  host = '127.0.0.1',
  env = process.env,
  log = console.log,
  inboxOptions = {},
} = {}) {
  const realReteno = Boolean(env.RETENO_API_KEY && env.RETENO_SCRIPT_ID);
  const emulator = realReteno
    ? undefined
    : await createRetenoEmulator({
        apiKey: emulatorApiKey,
        scriptId: emulatorScriptId,
        contacts: demoUsers.map((user) => user.contact),
        bellSelector: '#inbox-bell',
        pollIntervalMs: Number(env.DEMO_POLL_INTERVAL_MS ?? 3000),
      });
  if (emulator) seedMessages(emulator);
  // Confirmed accounts from the sign-up form, by id: Reteno does not know them until the inbox creates them.
  const signedUp = new Map();
  const userById = (id) => demoUsers.find((user) => user.id === id) ?? signedUp.get(id);
  const sessionStore = env.REDIS_URL ? await redisSessionStore(env.REDIS_URL) : undefined;

  const app = express();
  app.set('view engine', 'ejs');
  app.set('views', fileURLToPath(new URL('./views', import.meta.url)));
  app.use((_req, res, next) => {
    res.locals.cspNonce = randomBytes(16).toString('base64');
    next();
  });
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: retenoInboxCsp(
          {
            defaultSrc: ["'self'"],
            scriptSrc: ["'self'", (_req, res) => `'nonce-${res.locals.cspNonce}'`],
            styleSrc: ["'self'"],
            imgSrc: ["'self'", 'data:'],
            formAction: ["'self'"],
            frameAncestors: ["'none'"],
            // The demo is served over plain http on loopback; a site on https keeps helmet's default.
            upgradeInsecureRequests: null,
          },
          emulator ? { emulatorUrl: emulator.url } : {},
        ),
      },
    }),
  );
  app.use(express.static(fileURLToPath(new URL('./public', import.meta.url))));
  app.use(express.urlencoded({ extended: false, limit: '10kb' }));
  app.use(
    session({
      name: 'demo.sid',
      secret: env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
      ...(sessionStore ? { store: sessionStore.store } : {}),
    }),
  );

  // The one line that switches the inbox on.
  app.use(
    retenoInbox({
      apiKey: realReteno ? env.RETENO_API_KEY : emulatorApiKey,
      scriptId: realReteno ? env.RETENO_SCRIPT_ID : emulatorScriptId,
      resolveContact: (req) => userById(req.session.userId)?.contact,
      // New sign-ups get their inbox on their first page: Reteno learns of them from the token route.
      createContact: (req) => ({
        firstName: userById(req.session.userId)?.name,
        languageCode: req.session.lang,
      }),
      language: (req) => req.session.lang,
      languages,
      ...(emulator
        ? {
            baseUrl: emulator.url,
            scriptBaseUrl: `${emulator.url}/scripts/`,
            contactUrl: `${emulator.url}/api/v1/contact`,
          }
        : {
            ...(env.RETENO_BASE_URL ? { baseUrl: env.RETENO_BASE_URL } : {}),
            ...(env.RETENO_SCRIPT_BASE_URL ? { scriptBaseUrl: env.RETENO_SCRIPT_BASE_URL } : {}),
            ...(env.RETENO_CONTACT_URL ? { contactUrl: env.RETENO_CONTACT_URL } : {}),
          }),
      ...inboxOptions,
    }),
  );

  app.use((req, res, next) => {
    // Pages carry a per-request nonce and the visitor's state: never serve them from a cache (or Back after sign-out).
    res.set('Cache-Control', 'no-store');
    const lang = languages.includes(req.session.lang) ? req.session.lang : 'en';
    res.locals.lang = lang;
    res.locals.t = text[lang];
    res.locals.user = userById(req.session.userId);
    res.locals.mode = emulator ? 'emulator' : 'reteno';
    res.locals.path = req.path;
    next();
  });

  app.get('/', (req, res) => {
    res.render('index', { users: demoUsers, pushed: req.query.pushed === '1' });
  });
  app.get('/about', (_req, res) => {
    res.render('about');
  });
  app.post('/sign-in', (req, res, next) => {
    const user = demoUsers.find((candidate) => candidate.id === req.body.user);
    if (!user) {
      res.status(400).render('index', { users: demoUsers, pushed: false, error: true });
      return;
    }
    const lang = req.session.lang;
    // A new session id on sign-in, against session fixation.
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.userId = user.id;
      req.session.lang = lang ?? user.lang;
      res.redirect(303, '/');
    });
  });
  // A new account's e-mail reaches the session only once confirmed: see sign-up.js.
  app.use(
    signUpRoutes({
      users: demoUsers,
      accounts: {
        findByEmail: (email) =>
          [...demoUsers, ...signedUp.values()].find((user) => user.contact.email === email),
        add: (user) => signedUp.set(user.id, user),
      },
    }),
  );
  app.post('/sign-out', (req, res, next) => {
    // Reteno has no call that ends a contact's tokens; the emulator has one, so the demo ends them here too.
    if (emulator && res.locals.user) emulator.invalidateTokens(res.locals.user.contact);
    req.session.destroy((error) => {
      if (error) return next(error);
      res.clearCookie('demo.sid');
      // `next=/goodbye`: a page without the layout, as many sites show after signing out.
      res.redirect(303, req.body?.next === '/goodbye' ? '/goodbye' : '/');
    });
  });
  app.get('/goodbye', (_req, res) => {
    res.render('goodbye');
  });
  app.post('/language', (req, res) => {
    if (languages.includes(req.body.lang)) req.session.lang = req.body.lang;
    const back = typeof req.body.back === 'string' && /^\/[a-z]*$/.test(req.body.back) ? req.body.back : '/';
    res.redirect(303, back);
  });
  app.post('/push', (req, res) => {
    const user = res.locals.user;
    if (!emulator || !user) {
      res
        .status(user ? 404 : 401)
        .send(user ? 'Pushing test messages needs the emulator.' : 'Sign in first.');
      return;
    }
    const title =
      String(req.body.title ?? '')
        .trim()
        .slice(0, 120) || res.locals.t.defaultTitle;
    const content =
      String(req.body.content ?? '')
        .trim()
        .slice(0, 500) || res.locals.t.defaultContent;
    if (
      !emulator
        .contacts()
        .some(
          (known) =>
            known.email === user.contact.email ||
            known.externalCustomerId === user.contact.externalCustomerId,
        )
    ) {
      // A new sign-up whose first page has not asked for a token yet: Reteno would not know them either.
      res.status(409).send('The inbox has not been set up for this account yet: reload the page first.');
      return;
    }
    emulator.pushMessage(user.contact, { title, content });
    res.redirect(303, '/?pushed=1');
  });

  const server = app.listen(port, host);
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const url = `http://${host}:${address.port}`;
  log(`Demo site: ${url}`);
  log(
    emulator
      ? `Reteno: local emulator at ${emulator.url} (set RETENO_API_KEY and RETENO_SCRIPT_ID to use real Reteno)`
      : `Reteno: real Reteno (${env.RETENO_BASE_URL ?? 'https://reteno.com'}) with script ${env.RETENO_SCRIPT_ID}`,
  );
  if (sessionStore) log('Sessions: Redis');
  for (const line of doctorCommand(url, emulator, env)) log(line);

  return {
    app,
    url,
    emulator,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await emulator?.close();
      await sessionStore?.close();
    },
  };
}

/**
 * The reteno-inbox-doctor command that checks this demo as Anna. The API key is passed as an environment
 * variable (a real one by name only), and curl signs in for the session cookie.
 */
function doctorCommand(url, emulator, env) {
  const reteno = emulator
    ? [
        '--base-url',
        emulator.url,
        '--script-base-url',
        `${emulator.url}/scripts/`,
        '--script-id',
        emulatorScriptId,
      ]
    : [
        ...(env.RETENO_BASE_URL ? ['--base-url', env.RETENO_BASE_URL] : []),
        ...(env.RETENO_SCRIPT_BASE_URL ? ['--script-base-url', env.RETENO_SCRIPT_BASE_URL] : []),
        '--script-id',
        env.RETENO_SCRIPT_ID,
      ];
  const apiKey = emulator ? emulatorApiKey : '"$RETENO_API_KEY"';
  const cookie = `"$(curl -si -d user=anna ${url}/sign-in | grep -o 'demo.sid=[^;]*')"`;
  return [
    `Check it: RETENO_API_KEY=${apiKey} npx reteno-inbox-doctor ${reteno.join(' ')} --site-url ${url}/ --cookie ${cookie}`,
    '  (--cookie signs in as Anna with curl; or sign in with a browser and copy its demo.sid cookie)',
  ];
}

function seedMessages(emulator) {
  for (const user of demoUsers) {
    for (const message of user.welcome) emulator.pushMessage(user.contact, message);
  }
}

async function redisSessionStore(url) {
  const [{ createClient }, { RedisStore }] = await Promise.all([import('redis'), import('connect-redis')]);
  const client = createClient({ url });
  await client.connect();
  return { store: new RedisStore({ client, prefix: 'demo:' }), close: () => client.quit() };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const demo = await createDemo({
    port: Number(process.env.PORT ?? 3000),
    host: process.env.HOST ?? '127.0.0.1',
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      demo.close().then(() => process.exit(0));
    });
  }
}
