// Sign-up with a confirmed e-mail. The inbox belongs to whatever contact resolveContact returns, so a new account's
// e-mail reaches the session only after its owner has opened the confirmation link sent to it: signing up as
// anna@example.com must not hand out Anna's inbox, nor create a Reteno contact for someone else's address. The demo
// sends no e-mail: what it would send appears on its development mailbox page, /mailbox.
import { randomBytes, randomUUID } from 'node:crypto';
import express from 'express';
import { signUpText } from './content.js';

// Bounds for a demo that keeps everything in memory: the oldest unconfirmed sign-ups and mails go first.
const maxPending = 1000;
const maxMails = 50;
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * The sign-up routes: POST /sign-up sends a confirmation link, GET /mailbox shows the mails, GET and POST
 * /sign-up/confirm confirm the e-mail (the POST signs the new account in). `accounts` finds an account by e-mail
 * and adds a confirmed one.
 */
export function signUpRoutes({ accounts, users }) {
  const router = express.Router();
  // Unconfirmed sign-ups by their link's token; no session refers to them.
  const pending = new Map();
  const mails = [];

  const send = (mail) => {
    mails.unshift({ ...mail, sentAt: new Date() });
    mails.length = Math.min(mails.length, maxMails);
  };

  router.use((_req, res, next) => {
    res.locals.words = signUpText[res.locals.lang];
    next();
  });

  router.post('/sign-up', (req, res) => {
    const name = String(req.body.name ?? '').trim();
    const email = String(req.body.email ?? '')
      .trim()
      .toLowerCase();
    if (name === '' || name.length > 40 || email.length > 100 || !emailPattern.test(email)) {
      res.status(400).render('index', { users, pushed: false, signUpError: true });
      return;
    }
    const words = res.locals.words;
    if (accounts.findByEmail(email)) {
      // The address has an account: its owner hears of the attempt, nobody gets a link, and the page says the
      // same as for a new address (so it does not tell who has an account).
      send({ to: email, subject: words.takenMailSubject, text: words.takenMailText });
    } else {
      const token = randomBytes(24).toString('base64url');
      if (pending.size >= maxPending) pending.delete(pending.keys().next().value);
      pending.set(token, { name, email, lang: res.locals.lang });
      send({
        to: email,
        subject: words.confirmMailSubject,
        text: words.confirmMailText,
        link: `/sign-up/confirm?token=${token}`,
      });
    }
    res.render('sign-up', { step: 'sent', email });
  });

  router.get('/mailbox', (_req, res) => {
    res.render('mailbox', { mails });
  });

  // A GET only shows the button: mail scanners that open links confirm nothing.
  router.get('/sign-up/confirm', (req, res) => {
    const token = String(req.query.token ?? '');
    const signUp = pending.get(token);
    if (!signUp) {
      res.status(400).render('sign-up', { step: 'invalid' });
      return;
    }
    res.render('sign-up', { step: 'confirm', email: signUp.email, token });
  });

  router.post('/sign-up/confirm', (req, res, next) => {
    const token = String(req.body.token ?? '');
    const signUp = pending.get(token);
    if (!signUp || accounts.findByEmail(signUp.email)) {
      res.status(400).render('sign-up', { step: 'invalid' });
      return;
    }
    pending.delete(token);
    const user = { id: `new-${randomUUID()}`, name: signUp.name, contact: { email: signUp.email } };
    accounts.add(user);
    const lang = req.session.lang ?? signUp.lang;
    // A new session id on sign-in, against session fixation.
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.userId = user.id;
      req.session.lang = lang;
      res.redirect(303, '/');
    });
  });

  return router;
}
