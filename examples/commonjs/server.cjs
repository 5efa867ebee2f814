// A CommonJS Express + EJS site with the inbox: one app.use line, one template line (views/index.ejs).
// Run: RETENO_API_KEY=... RETENO_SCRIPT_ID=... node examples/commonjs/server.cjs
const path = require('node:path');
const express = require('express');
const session = require('express-session');
const { retenoInbox } = require('express-reteno-inbox');

const app = express();
app.set('view engine', 'ejs');
app.set('views', path.join(__dirname, 'views'));
app.use(express.urlencoded({ extended: false }));
app.use(
  session({ secret: process.env.SESSION_SECRET || 'change-me', resave: false, saveUninitialized: false }),
);

app.post('/sign-in', (req, res) => {
  req.session.email = req.body.email;
  res.redirect(303, '/');
});

app.use(
  retenoInbox(process.env.RETENO_API_KEY, (req) => req.session.email && { email: req.session.email }, {
    scriptId: process.env.RETENO_SCRIPT_ID,
    ...(process.env.RETENO_BASE_URL ? { baseUrl: process.env.RETENO_BASE_URL } : {}),
  }),
);

app.get('/', (req, res) => res.render('index', { email: req.session.email }));

const server = app.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
  console.log(`http://127.0.0.1:${server.address().port}`);
});
