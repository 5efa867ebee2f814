import request from 'supertest';
import { createRetenoEmulator, type RetenoEmulator } from '../src/emulator/index.js';
// The demo is plain JavaScript that imports the built package, as a site would.
import { createDemo } from '../examples/demo/server.js';
import { readInboxEmbed, scriptTags } from './helpers/site.js';

// The demo imports the package by name, whose types come from the build; the emulator's come from the source so
// that this file type-checks before a build.
type Demo = Omit<Awaited<ReturnType<typeof createDemo>>, 'emulator'> & { emulator?: RetenoEmulator };

function initLanguage(html: string): string | undefined {
  return readInboxEmbed(html)?.config.language;
}

describe('demo site', () => {
  let demo: Demo;
  const lines: string[] = [];
  beforeAll(async () => {
    demo = await createDemo({ port: 0, env: {}, log: (line: string) => lines.push(line) });
  });
  afterAll(() => demo.close());

  async function inboxCount(token: string) {
    const response = await fetch(`${demo.emulator?.url}/appinbox/v1/messages/count`, {
      headers: { 'ES-TOKEN': token },
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { count: number }).count;
  }

  it('says at start-up where it runs and on which Reteno', () => {
    expect(lines[0]).toBe(`Demo site: ${demo.url}`);
    expect(lines[1]).toContain(`local emulator at ${demo.emulator?.url}`);
  });

  it('shows anonymous visitors a sign-in form, a strict CSP and no inbox', async () => {
    const page = await request(demo.app).get('/').expect(200);
    expect(page.text).toContain('data-form="sign-in"');
    expect(scriptTags(page.text)).toHaveLength(0);
    const policy = String(page.headers['content-security-policy']);
    expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' http:\/\/127\.0\.0\.1:\d+/);
    expect(policy).not.toContain('unsafe-inline');
    expect(policy).toContain(`connect-src 'self' ${demo.emulator?.url}`);
  });

  it('signs in, embeds the inbox with the CSP nonce, and gets tokens from the emulator through the route', async () => {
    const agent = request.agent(demo.app);
    await agent.post('/sign-in').type('form').send({ user: 'anna' }).expect(303);
    const page = await agent.get('/').expect(200);
    const nonce = /'nonce-([^']+)'/.exec(String(page.headers['content-security-policy']))?.[1];
    expect(readInboxEmbed(page.text)?.nonces).toEqual([nonce, nonce]);
    expect(page.text).toContain(`"${demo.emulator?.url}/scripts/00000000-0000-4000-8000-000000000000.js"`);
    expect(initLanguage(page.text)).toBe('en');

    const token = await agent.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(200);
    expect(await inboxCount(token.body.token)).toBe(2);

    // Pushing a test message raises the count.
    await agent.post('/push').type('form').send({ title: 'Hi', content: 'There' }).expect(303);
    const next = await agent.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(200);
    expect(await inboxCount(next.body.token)).toBe(3);
    expect(demo.emulator?.messagesOf({ email: 'anna@example.com' })[0]).toMatchObject({
      title: 'Hi',
      content: 'There',
    });
  });

  it('switches the page and inbox language', async () => {
    const agent = request.agent(demo.app);
    await agent.post('/sign-in').type('form').send({ user: 'anna' }).expect(303);
    await agent
      .post('/language')
      .type('form')
      .send({ lang: 'de', back: '/about' })
      .expect(303)
      .expect('Location', '/about');
    const page = await agent.get('/about').expect(200);
    expect(page.text).toContain('<html lang="de">');
    expect(initLanguage(page.text)).toBe('de');
    await agent.post('/language').type('form').send({ lang: 'xx' }).expect(303);
    expect(initLanguage((await agent.get('/').expect(200)).text)).toBe('de');
  });

  it("starts a user in their own language and keeps users' inboxes apart", async () => {
    const agent = request.agent(demo.app);
    await agent.post('/sign-in').type('form').send({ user: 'taras' }).expect(303);
    const page = await agent.get('/').expect(200);
    expect(initLanguage(page.text)).toBe('uk');
    const token = await agent.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(200);
    const list = await fetch(`${demo.emulator?.url}/appinbox/v1/messages?page=1&pageSize=10`, {
      headers: { 'ES-TOKEN': token.body.token },
    });
    const titles = ((await list.json()) as { list: { title: string }[] }).list.map(
      (message) => message.title,
    );
    expect(titles).toEqual(['Вітаємо!']);
  });

  it('signs out: no embed, the first page after it clears the visitor cookie, the token route answers 401', async () => {
    const agent = request.agent(demo.app);
    await agent.post('/sign-in').type('form').send({ user: 'anna' }).expect(303);
    const signedIn = await agent.get('/').expect(200);
    expect(String(signedIn.headers['set-cookie'])).toContain('reteno_inbox_contact=');
    await agent.post('/sign-out').expect(303);
    const first = await agent.get('/').expect(200);
    expect(scriptTags(first.text)).toHaveLength(0);
    expect(String(first.headers['set-cookie'])).toMatch(
      /reteno_inbox_contact=; Path=\/; Expires=Thu, 01 Jan 1970/,
    );
    const next = await agent.get('/').expect(200);
    expect(scriptTags(next.text)).toHaveLength(0);
    expect(next.headers['set-cookie']).toBeUndefined();
    await agent.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(401);
    await agent.post('/push').type('form').send({}).expect(401);
  });

  it('signs out to a page without the layout when asked to, and clears the visitor cookie there', async () => {
    const agent = request.agent(demo.app);
    await agent.post('/sign-in').type('form').send({ user: 'anna' }).expect(303);
    await agent.get('/').expect(200);
    await agent
      .post('/sign-out')
      .type('form')
      .send({ next: '/goodbye' })
      .expect(303)
      .expect('Location', '/goodbye');
    const goodbye = await agent.get('/goodbye').expect(200);
    expect(goodbye.text).toContain('<h1>You are signed out.</h1>');
    expect(scriptTags(goodbye.text)).toHaveLength(0);
    expect(String(goodbye.headers['set-cookie'])).toMatch(/reteno_inbox_contact=; Path=\/; Expires=/);
  });

  it('refuses unknown users', async () => {
    await request(demo.app).post('/sign-in').type('form').send({ user: 'mallory' }).expect(400);
  });
});

describe('demo sign-up', () => {
  let demo: Demo;
  beforeAll(async () => {
    demo = await createDemo({ port: 0, env: {}, log: () => {} });
  });
  afterAll(() => demo.close());

  const tokenRequests = () =>
    demo.emulator?.requests.filter((entry) => entry.path === '/v1/auth/contact/token') ?? [];
  const createdContacts = () =>
    demo.emulator?.contacts().filter((contact) => contact.createdBy === 'contact-api') ?? [];

  /** The mails on the development mailbox page to an address: their text and confirmation link, if any. */
  async function mailsTo(email: string) {
    const page = await request(demo.app).get('/mailbox').expect(200);
    return [...page.text.matchAll(/<article class="card" data-mail="([^"]*)">([\s\S]*?)<\/article>/g)]
      .filter(([, to]) => to === email)
      .map(([, , body = '']) => ({ body, link: /href="([^"]*)" data-link="confirm"/.exec(body)?.[1] }));
  }

  it("gives an unconfirmed sign-up as anna@example.com no token, no contact in Reteno, and no way to Anna's messages", async () => {
    demo.emulator?.clearRequests();
    const contactsBefore = demo.emulator?.contacts();
    const mallory = request.agent(demo.app);
    const sent = await mallory
      .post('/sign-up')
      .type('form')
      .send({ name: 'Mallory', email: 'Anna@Example.com' })
      .expect(200);
    expect(sent.text).toContain('data-sign-up="sent"');
    expect(scriptTags(sent.text)).toHaveLength(0);

    const home = await mallory.get('/').expect(200);
    expect(home.text).toContain('data-form="sign-in"');
    expect(scriptTags(home.text)).toHaveLength(0);
    await mallory.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(401);
    await mallory.post('/push').type('form').send({ title: 'Hi' }).expect(401);

    // Anna's address hears of the attempt, with no link to follow.
    const mails = await mailsTo('anna@example.com');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.link).toBeUndefined();
    expect(tokenRequests()).toEqual([]);
    expect(demo.emulator?.contacts()).toEqual(contactsBefore);
    expect(demo.emulator?.messagesOf({ email: 'anna@example.com' })).toHaveLength(2);
  });

  it('gives a new address no inbox and creates no Reteno contact until the confirmation link is used, then signs it in', async () => {
    const email = 'new-reader@example.com';
    const reader = request.agent(demo.app);
    await reader.post('/sign-up').type('form').send({ name: 'Mariia', email }).expect(200);
    await reader.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(401);

    const [mail] = await mailsTo(email);
    const link = mail?.link?.replace(/&amp;/g, '&');
    expect(link).toMatch(/^\/sign-up\/confirm\?token=[\w-]{32}$/);
    // Opening the link (as a mail scanner would) confirms nothing yet.
    const confirmPage = await request(demo.app)
      .get(link ?? '')
      .expect(200);
    const token = /name="token" value="([^"]+)"/.exec(confirmPage.text)?.[1];
    await reader.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(401);
    expect(createdContacts().filter((contact) => contact.email === email)).toEqual([]);

    await reader.post('/sign-up/confirm').type('form').send({ token }).expect(303).expect('Location', '/');
    const home = await reader.get('/').expect(200);
    expect(home.text).toContain('Hello, Mariia!');
    await reader.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(200);
    expect(createdContacts().filter((contact) => contact.email === email)).toEqual([
      expect.objectContaining({ email, firstName: 'Mariia' }),
    ]);
  });

  it('takes a confirmation link once, and refuses an unknown one', async () => {
    const email = 'once@example.com';
    await request(demo.app).post('/sign-up').type('form').send({ name: 'Once', email }).expect(200);
    const token = /token=([\w-]+)/.exec((await mailsTo(email))[0]?.link ?? '')?.[1];
    await request(demo.app).post('/sign-up/confirm').type('form').send({ token }).expect(303);
    const again = await request(demo.app).post('/sign-up/confirm').type('form').send({ token }).expect(400);
    expect(again.text).toContain('data-sign-up="invalid"');
    await request(demo.app).get('/sign-up/confirm?token=nope').expect(400);
    await request(demo.app).post('/sign-up/confirm').type('form').send({ token: 'nope' }).expect(400);
  });

  it('refuses a sign-up without a name or a valid e-mail address', async () => {
    await request(demo.app)
      .post('/sign-up')
      .type('form')
      .send({ name: '', email: 'x@example.com' })
      .expect(400);
    await request(demo.app)
      .post('/sign-up')
      .type('form')
      .send({ name: 'X', email: 'not-an-address' })
      .expect(400);
  });
});

describe('demo site on real Reteno', () => {
  it('uses RETENO_API_KEY, RETENO_SCRIPT_ID and says so; no test messages', async () => {
    // Stands in for reteno.com, which the tests cannot reach: RETENO_BASE_URL points the token route at it.
    const reteno = await createRetenoEmulator({
      apiKey: 'real-key-123',
      scriptId: '11111111-2222-4333-8444-555555555555',
      contacts: [{ email: 'anna@example.com' }],
    });
    const lines: string[] = [];
    const demo = await createDemo({
      port: 0,
      env: {
        RETENO_API_KEY: 'real-key-123',
        RETENO_SCRIPT_ID: '11111111-2222-4333-8444-555555555555',
        RETENO_BASE_URL: reteno.url,
      },
      log: (line: string) => lines.push(line),
    });
    try {
      expect(demo.emulator).toBeUndefined();
      expect(lines.join('\n')).toContain('real Reteno');
      expect(lines.join('\n')).not.toContain('real-key-123');
      const agent = request.agent(demo.app);
      await agent.post('/sign-in').type('form').send({ user: 'anna' }).expect(303);
      const page = await agent.get('/').expect(200);
      expect(page.text).toContain(
        '"https://statics.esputnik.com/scripts/11111111-2222-4333-8444-555555555555.js"',
      );
      expect(page.text).not.toContain('data-form="push"');
      expect(String(page.headers['content-security-policy'])).toContain('https://statics.esputnik.com');
      const token = await agent.post('/reteno/app-inbox/token').set('X-Reteno-Inbox', '1').expect(200);
      expect(token.body.token).toEqual(expect.any(String));
      expect(reteno.requests.filter((entry) => entry.path === '/v1/auth/contact/token')).toHaveLength(1);
      await agent.post('/push').type('form').send({}).expect(404);
    } finally {
      await demo.close();
      await reteno.close();
    }
  });
});
