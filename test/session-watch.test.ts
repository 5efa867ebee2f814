import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import request, { type Response } from 'supertest';
import { sessionChannel, sessionCookie } from '../src/session-watch.js';
import { buildSite, embedScript, scriptTags, users } from './helpers/site.js';

const nonce = 'c2Vzc2lvbi13YXRjaA';
const setNonce: RequestHandler = (_req, res, next) => {
  res.locals.cspNonce = nonce;
  next();
};
const signedOutScript = `typeof BroadcastChannel=='function'&&new BroadcastChannel(${JSON.stringify(sessionChannel)}).postMessage('')`;

/** The Set-Cookie lines for the session-watch cookie. */
function watchCookies(response: Response): string[] {
  const lines = ([] as string[]).concat(response.headers['set-cookie'] ?? []);
  return lines.filter((line) => line.startsWith(`${sessionCookie}=`));
}

/** The contact id an inbox page carries, and whether it announces it to the other tabs. */
function sessionOf(html: string): { id: string; announces: boolean } {
  const match = /const id="([^"]*)".*;([01])&&c\.postMessage\(id\)/.exec(embedScript(html) ?? '');
  if (!match) throw new Error('the page has no inbox embed');
  return { id: match[1] ?? '', announces: match[2] === '1' };
}

function signIn(agent: ReturnType<typeof request.agent>, user: keyof typeof users) {
  return agent.post('/sign-in').send({ user }).expect(204);
}

describe('session watch', () => {
  it('sets an HttpOnly, SameSite=Lax cookie for the whole site on the first signed-in page, and announces it', async () => {
    const agent = request.agent(buildSite({}, { before: [setNonce] }).app);
    await signIn(agent, 'anna');
    const page = await agent.get('/page').expect(200);
    const [cookie, ...more] = watchCookies(page);
    expect(more).toEqual([]);
    expect(cookie).toMatch(
      new RegExp(`^${sessionCookie}=[A-Za-z0-9_-]{22}; Path=/; HttpOnly; SameSite=Lax$`),
    );
    const session = sessionOf(page.text);
    expect(cookie).toContain(`=${session.id};`);
    expect(session.announces).toBe(true);
    expect(scriptTags(page.text)).toEqual([`<script nonce="${nonce}">`]);
  });

  it('marks the cookie Secure when the request came over https', async () => {
    const { app } = buildSite({}, { configure: (site) => site.set('trust proxy', 'loopback') });
    const agent = request.agent(app);
    await signIn(agent, 'anna');
    const page = await agent.get('/page').set('X-Forwarded-Proto', 'https').expect(200);
    expect(watchCookies(page)).toEqual([expect.stringMatching(/; Path=\/; HttpOnly; Secure; SameSite=Lax$/)]);
  });

  it('announces nothing and leaves the cookie alone on the pages after the first', async () => {
    const agent = request.agent(buildSite().app);
    await signIn(agent, 'anna');
    const first = sessionOf((await agent.get('/page').expect(200)).text);
    for (let page = 0; page < 2; page++) {
      const next = await agent.get('/page').expect(200);
      expect(watchCookies(next)).toEqual([]);
      expect(sessionOf(next.text)).toEqual({ id: first.id, announces: false });
    }
  });

  it('tells the other tabs on the first page after signing out, with the nonce, and never again', async () => {
    const agent = request.agent(buildSite({}, { before: [setNonce] }).app);
    await signIn(agent, 'anna');
    await agent.get('/page').expect(200);
    const signOut = await agent.post('/sign-out').expect(204);
    expect(watchCookies(signOut)).toEqual([]);

    const first = await agent.get('/page').expect(200);
    expect(scriptTags(first.text)).toEqual([`<script nonce="${nonce}">`]);
    expect(embedScript(first.text)).toBe(signedOutScript);
    expect(watchCookies(first)).toEqual([
      expect.stringMatching(new RegExp(`^${sessionCookie}=; Path=/; Expires=Thu, 01 Jan 1970`)),
    ]);

    for (let page = 0; page < 2; page++) {
      const next = await agent.get('/page').expect(200);
      expect(scriptTags(next.text)).toEqual([]);
      expect(watchCookies(next)).toEqual([]);
    }
  });

  it('tells the other tabs the new contact when another user signs in without signing out', async () => {
    const agent = request.agent(buildSite().app);
    await signIn(agent, 'anna');
    const anna = sessionOf((await agent.get('/page').expect(200)).text);
    await signIn(agent, 'bob');
    const page = await agent.get('/page').expect(200);
    const bob = sessionOf(page.text);
    expect(bob.announces).toBe(true);
    expect(bob.id).not.toBe(anna.id);
    expect(watchCookies(page)).toEqual([expect.stringContaining(`=${bob.id};`)]);
    expect(sessionOf((await agent.get('/page').expect(200)).text)).toEqual({ id: bob.id, announces: false });
  });

  it('moves on only when a page renders the helper, not on a request that renders none', async () => {
    const { app } = buildSite();
    app.get('/data', (_req, res) => {
      res.json({ ok: true });
    });
    const agent = request.agent(app);
    await signIn(agent, 'anna');
    expect(watchCookies(await agent.get('/data').expect(200))).toEqual([]);
    expect(sessionOf((await agent.get('/page').expect(200)).text).announces).toBe(true);
    await agent.post('/sign-out').expect(204);
    expect(watchCookies(await agent.get('/data').expect(200))).toEqual([]);
    expect(embedScript((await agent.get('/page').expect(200)).text)).toBe(signedOutScript);
  });

  it('gives anonymous visitors who never signed in nothing: no helper, no cookie', async () => {
    const { app } = buildSite();
    app.get('/helper', (_req, res) => {
      res.json({ helper: typeof res.locals.retenoInbox });
    });
    const page = await request(app).get('/page').expect(200);
    expect(scriptTags(page.text)).toEqual([]);
    expect(page.headers['set-cookie']).toBeUndefined();
    expect((await request(app).get('/helper').expect(200)).body).toEqual({ helper: 'undefined' });
    // A cookie that holds no id, or another cookie whose name ends like it, counts as none.
    for (const cookie of [`${sessionCookie}=not-an-id`, `x${sessionCookie}=AAAAAAAAAAAAAAAAAAAAAA`]) {
      const other = await request(app).get('/page').set('Cookie', cookie).expect(200);
      expect(scriptTags(other.text)).toEqual([]);
      expect(other.headers['set-cookie']).toBeUndefined();
    }
  });

  it('adds the notice after the tracking-only embed when anonymous visitors have one', async () => {
    const agent = request.agent(buildSite({ embedAnonymous: true }).app);
    await signIn(agent, 'anna');
    await agent.get('/page').expect(200);
    await agent.post('/sign-out').expect(204);
    const first = (await agent.get('/page').expect(200)).text;
    expect(scriptTags(first)).toEqual(['<script>', '<script>']);
    expect(first).toContain(`eS('init',{});</script><script>${signedOutScript}</script>`);
    expect(scriptTags((await agent.get('/page').expect(200)).text)).toEqual(['<script>']);
  });

  it('tells a signed-in visitor with an unusable contact apart from the contact before: the other tabs stop', async () => {
    const agent = request.agent(buildSite().app);
    await signIn(agent, 'anna');
    await agent.get('/page').expect(200);
    await agent
      .post('/sign-in')
      .send({ contact: { email: 'not an address' } })
      .expect(204);
    expect(embedScript((await agent.get('/page').expect(200)).text)).toBe(signedOutScript);
  });

  describe('contact ids', () => {
    async function idOf(
      user: keyof typeof users,
      apiKey?: string,
    ): Promise<{ id: string; text: string; cookie: string }> {
      const agent = request.agent(buildSite(apiKey === undefined ? {} : { apiKey }).app);
      await signIn(agent, user);
      const page = await agent.get('/page').expect(200);
      return { id: sessionOf(page.text).id, text: page.text, cookie: watchCookies(page).join() };
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
