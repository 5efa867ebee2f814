// app.js of an express-generator site (Express 4.16+, EJS, CommonJS) with Reteno's App Inbox. express-generator's
// app.js is synchronous: bin/www requires it and listens at once, so it cannot await the emulator. In development
// it starts the emulator in this process on a fixed port (RETENO_EMULATOR_PORT, default 8089): the URL is known
// before the emulator is up, and it is up long before a first page asks it for anything. With RETENO_API_KEY it
// talks to Reteno instead, or to a stand-alone emulator named by RETENO_BASE_URL.
// (.cjs here because this repository's package.json says "type": "module"; in your site it is app.js.)
const path = require('node:path');
const express = require('express');
const session = require('express-session');
const { retenoInbox } = require('express-reteno-inbox');

const users = {
  anna: { name: 'Anna', email: 'anna@example.com' },
  taras: { name: 'Taras', email: 'taras@example.com' },
};

const app = express();
app.set('views', path.join(__dirname, 'views'));
app.set('view engine', 'ejs');
app.use(express.urlencoded({ extended: false }));
app.use(
  session({ secret: process.env.SESSION_SECRET || 'change-me', resave: false, saveUninitialized: false }),
);

app.use(
  retenoInbox({
    ...retenoSettings(),
    resolveContact: (req) => users[req.session.user] && { email: users[req.session.user].email },
  }),
);

app.get('/', (req, res) => {
  res.render('index', { user: users[req.session.user], users });
});
app.post('/sign-in', (req, res, next) => {
  const id = req.body.user;
  if (typeof id !== 'string' || !Object.hasOwn(users, id)) return res.status(400).send('Unknown user');
  req.session.regenerate((error) => {
    if (error) return next(error);
    req.session.user = id;
    res.redirect(303, '/');
  });
});
app.post('/sign-out', (req, res, next) => {
  req.session.destroy((error) => {
    if (error) return next(error);
    res.clearCookie('connect.sid');
    res.redirect(303, '/');
  });
});

module.exports = app;

/** Reteno from the environment, or in development an emulator of it in this process. */
function retenoSettings() {
  if (process.env.RETENO_API_KEY) {
    return {
      apiKey: process.env.RETENO_API_KEY,
      scriptId: process.env.RETENO_SCRIPT_ID,
      ...(process.env.RETENO_BASE_URL ? { baseUrl: process.env.RETENO_BASE_URL } : {}),
      ...(process.env.RETENO_SCRIPT_BASE_URL ? { scriptBaseUrl: process.env.RETENO_SCRIPT_BASE_URL } : {}),
    };
  }
  if (app.get('env') === 'production') {
    throw new Error('Set RETENO_API_KEY and RETENO_SCRIPT_ID: the Reteno emulator is for development only.');
  }
  const { createRetenoEmulator } = require('express-reteno-inbox/emulator');
  const port = Number(process.env.RETENO_EMULATOR_PORT || 8089);
  const reteno = { apiKey: 'dev-api-key', scriptId: '00000000-0000-4000-8000-000000000000' };
  // Not awaited. controlApi lets `npx reteno-emulator push --to anna@example.com --title Hi` reach it.
  createRetenoEmulator({
    ...reteno,
    port,
    contacts: Object.values(users).map((user) => ({ email: user.email })),
    welcomeMessage: { title: 'Welcome', content: 'Messages pushed to you appear here.' },
    controlApi: true,
  }).catch((error) => {
    console.error(`Reteno emulator: ${error.message} (set RETENO_EMULATOR_PORT to another port)`);
    process.exit(1);
  });
  const url = `http://127.0.0.1:${port}`;
  return { ...reteno, baseUrl: url, scriptBaseUrl: `${url}/scripts/` };
}
