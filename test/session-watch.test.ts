import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import request, { type Response } from 'supertest';
import { visitorCookie } from '../src/client/page-config.js';
import { buildSite, readInboxEmbed, scriptTags, users } from './helpers/site.js';

/** The Set-Cookie lines for the visitor cookie. */
function watchCookies(response: Response): string[] {
  const lines = ([] as string[]).concat(response.headers['set-cookie'] ?? []);
  return lines.filter((line) => line.startsWith(`${visitorCookie}=`));
}

/** The contact id a signed-in page hands its client. */
function contactOf(html: string): string {
  const embed = readInboxEmbed(html);
  if (embed === undefined) throw new Error('the page has no inbox embed');
  return embed.config.contact;
}

const cleared = new RegExp(
  `^${visitorCookie}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax$`,
);

function signIn(agent: ReturnType<typeof request.agent>, user: keyof typeof users) {
  return agent.post('/sign-in').send({ user }).expect(204);
}

/** A site with a JSON route and a page that renders no template line, beside buildSite's /page. */
function siteWithOtherRoutes(options: Parameters<typeof buildSite>[0] = {}) {
  const { app } = buildSite(options);
  app.get('/data', (_req, res) => {
    res.json({ helper: typeof res.locals.retenoInbox });
  });
  app.get('/bare', (_req, res) => {
    res.type('html').send('<!doctype html><title>Signed out</title><p>Bye</p>');
  });
  app.get('/helper-headers', (_req, res) => {
    const before = res.getHeaders();
    const embed = res.locals.retenoInbox?.() ?? '';
    res.json({
      rendered: embed.length > 0,
      same: JSON.stringify(res.getHeaders()) === JSON.stringify(before),
    });
  });
  return app;
}

describe('session watch', () => {
  it("sets a readable, SameSite=Lax cookie for the whole site on a signed-in visitor's first request, holding the page's contact id", async () => {
    const agent = request.agent(buildSite().app);
    await signIn(agent, 'anna');
    const page = await agent.get('/page').expect(200);
    const [cookie, ...more] = watchCookies(page);
    expect(more).toEqual([]);
    expect(cookie).toBe(`${visitorCookie}=${contactOf(page.text)}; Path=/; SameSite=Lax`);
  });

  it('marks the cookie Secure when the request came over https', async () => {
    const { app } = buildSite({}, { configure: (site) => site.set('trust proxy', 'loopback') });
    const agent = request.agent(app);
    await signIn(agent, 'anna');
    const page = await agent.get('/page').set('X-Forwarded-Proto', 'https').expect(200);
    expect(watchCookies(page)).toEqual([expect.stringMatching(/; Path=\/; SameSite=Lax; Secure$/)]);
  });

  it('leaves the cookie alone while it holds the visitor', async () => {
    const agent = request.agent(buildSite().app);
    await signIn(agent, 'anna');
    const first = contactOf((await agent.get('/page').expect(200)).text);
    for (let page = 0; page < 2; page++) {
      const next = await agent.get('/page').expect(200);
      expect(watchCookies(next)).toEqual([]);
      expect(contactOf(next.text)).toBe(first);
    }
  });

  it('keeps the cookie in step on any request the middleware sees, not only on pages that render the helper', async () => {
    const agent = request.agent(siteWithOtherRoutes());
    await signIn(agent, 'anna');
    const data = await agent.get('/data').expect(200);
    expect(watchCookies(data)).toEqual([expect.stringMatching(/^reteno_inbox_contact=[A-Za-z0-9_-]{22};/)]);
    expect(watchCookies(await agent.get('/page').expect(200))).toEqual([]);
  });

  it('sets no header when the helper renders', async () => {
    const agent = request.agent(siteWithOtherRoutes());
    await signIn(agent, 'anna');
    await agent.get('/data').expect(200);
    expect((await agent.get('/helper-headers').expect(200)).body).toEqual({ rendered: true, same: true });
  });

  it.each([
    ['a page that renders the template line', '/page'],
    ['a page that renders none', '/bare'],
    ['a JSON request', '/data'],
  ])(
    'clears the cookie on the first request after signing out, %s, and gives that request no helper',
    async (_case, path) => {
      const agent = request.agent(siteWithOtherRoutes());
      await signIn(agent, 'anna');
      await agent.get('/page').expect(200);
      const signOut = await agent.post('/sign-out').expect(204);
      expect(watchCookies(signOut)).toEqual([]);

      const first = await agent.get(path).expect(200);
      expect(watchCookies(first)).toEqual([expect.stringMatching(cleared)]);
      expect(scriptTags(first.text)).toEqual([]);
      for (let page = 0; page < 2; page++) {
        const next = await agent.get('/data').expect(200);
        expect(next.body).toEqual({ helper: 'undefined' });
        expect(watchCookies(next)).toEqual([]);
      }
    },
  );

  it('sets the new contact when another user signs in without signing out', async () => {
    const agent = request.agent(buildSite().app);
    await signIn(agent, 'anna');
    const anna = contactOf((await agent.get('/page').expect(200)).text);
    await signIn(agent, 'bob');
    const page = await agent.get('/page').expect(200);
    const bob = contactOf(page.text);
    expect(bob).not.toBe(anna);
    expect(watchCookies(page)).toEqual([expect.stringContaining(`=${bob};`)]);
    expect(watchCookies(await agent.get('/page').expect(200))).toEqual([]);
  });

  it.each([
    ['a lower-case cookie header', { cookie: `${visitorCookie}=AAAAAAAAAAAAAAAAAAAAAA` }],
    ['an upper-case one', { COOKIE: `${visitorCookie}=AAAAAAAAAAAAAAAAAAAAAA` }],
    ['the second of two Cookie headers', { Cookie: ['sid=1', `${visitorCookie}=AAAAAAAAAAAAAAAAAAAAAA`] }],
  ])('finds the cookie of an anonymous visitor in %s, and clears it', async (_case, headers) => {
    const server = siteWithOtherRoutes().listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await new Promise<IncomingMessage>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port, path: '/data', headers }, resolve).on('error', reject).end();
      });
      answer.resume();
      expect(answer.statusCode).toBe(200);
      expect(answer.headers['set-cookie']).toEqual([expect.stringMatching(cleared)]);
    } finally {
      server.close();
    }
  });

  it('gives anonymous visitors who never signed in nothing: no helper, no cookie', async () => {
    const app = siteWithOtherRoutes();
    const page = await request(app).get('/page').expect(200);
    expect(scriptTags(page.text)).toEqual([]);
    expect(page.headers['set-cookie']).toBeUndefined();
    expect((await request(app).get('/data').expect(200)).body).toEqual({ helper: 'undefined' });
    // A cookie that holds no id, or another cookie whose name ends like it, counts as none.
    for (const cookie of [`${visitorCookie}=not-an-id`, `x${visitorCookie}=AAAAAAAAAAAAAAAAAAAAAA`]) {
      const other = await request(app).get('/data').set('Cookie', cookie).expect(200);
      expect(other.body).toEqual({ helper: 'undefined' });
      expect(other.headers['set-cookie']).toBeUndefined();
    }
  });

  it('gives the first anonymous page after signing out the tracking-only embed when anonymous visitors have one', async () => {
    const agent = request.agent(buildSite({ embedAnonymous: true }).app);
    await signIn(agent, 'anna');
    await agent.get('/page').expect(200);
    await agent.post('/sign-out').expect(204);
    const first = await agent.get('/page').expect(200);
    expect(watchCookies(first)).toEqual([expect.stringMatching(cleared)]);
    expect(scriptTags(first.text)).toEqual(['<script>']);
    expect(first.text).toContain("eS('init',{});</script>");
  });

  it('clears the cookie for a signed-in visitor with an unusable contact: the other tabs let the contact before go', async () => {
    const agent = request.agent(buildSite().app);
    await signIn(agent, 'anna');
    await agent.get('/page').expect(200);
    await agent
      .post('/sign-in')
      .send({ contact: { email: 'not an address' } })
      .expect(204);
    const page = await agent.get('/page').expect(200);
    expect(scriptTags(page.text)).toEqual([]);
    expect(watchCookies(page)).toEqual([expect.stringMatching(cleared)]);
  });

  describe('contact ids', () => {
    async function idOf(
      user: keyof typeof users,
      apiKey?: string,
    ): Promise<{ id: string; text: string; cookie: string }> {
      const agent = request.agent(buildSite(apiKey === undefined ? {} : { apiKey }).app);
      await signIn(agent, user);
      const page = await agent.get('/page').expect(200);
      return { id: contactOf(page.text), text: page.text, cookie: watchCookies(page).join() };
    }

    it('are the same for one contact on every instance with the same API key, and differ between contacts', async () => {
      const [first, second, bob] = await Promise.all([idOf('dave'), idOf('dave'), idOf('bob')]);
      expect(first.id).toBe(second.id);
      expect(bob.id).not.toBe(first.id);
      expect(first.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    });

    it('reveal nothing of the contact: no field in the page or the cookie, and no plain hash of it', async () => {
      const dave = users.dave as { email: string; phone: string; externalCustomerId: string };
      const { id, text, cookie } = await idOf('dave');
      for (const value of [
        dave.email,
        'dave',
        dave.phone,
        dave.phone.replace(/\D/g, ''),
        dave.externalCustomerId,
      ]) {
        expect(text).not.toContain(value);
        expect(cookie).not.toContain(value);
      }
      for (const value of [dave.email, dave.phone, dave.externalCustomerId, JSON.stringify(dave)]) {
        for (const encoding of ['base64url', 'hex'] as const) {
          expect(createHash('sha256').update(value).digest(encoding)).not.toContain(id.slice(0, 16));
        }
      }
    });

    it('depend on the API key, so another site cannot work them out', async () => {
      const [one, other] = await Promise.all([idOf('dave'), idOf('dave', 'another-api-key-5c1e')]);
      expect(other.id).not.toBe(one.id);
    });
  });
});
