import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { buildSite, readInboxEmbed } from './helpers/site.js';

const built = readFileSync(new URL('../dist/client/reteno-inbox.js', import.meta.url), 'utf8');

/** The client script's URL on a signed-in page of `app`. */
async function clientUrlOf(app: Parameters<typeof request.agent>[0], page = '/page'): Promise<string> {
  const agent = request.agent(app);
  await agent.post('/sign-in').send({ user: 'anna' }).expect(204);
  const url = readInboxEmbed((await agent.get(page).expect(200)).text)?.clientUrl;
  if (url === undefined) throw new Error('the page has no inbox embed');
  return url;
}

describe('client script', () => {
  it('is served at the URL the page names, as the build made it, cached as immutable', async () => {
    const { app, resolveCalls } = buildSite();
    const url = await clientUrlOf(app);
    expect(url).toMatch(/^\/reteno\/app-inbox\/token\/client\.[0-9a-f]{12}\.js$/);
    const calls = resolveCalls.length;
    const script = await request(app).get(url).expect(200);
    expect(script.text).toBe(built);
    expect(script.headers).toMatchObject({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      'content-length': String(Buffer.byteLength(built)),
      etag: expect.stringMatching(/^"[0-9a-f]{12}"$/),
    });
    expect(script.headers['set-cookie']).toBeUndefined();
    // Nothing of the emulator's development widget: it hears a change of visitor from the page's event.
    expect(script.text).not.toContain('data-reteno-inbox');
    // Served without asking who the visitor is.
    expect(resolveCalls).toHaveLength(calls);
  });

  it('takes its version from its content: the same URL on every instance of one release', async () => {
    const version = createHash('sha256').update(built).digest('hex').slice(0, 12);
    const [one, other] = await Promise.all([clientUrlOf(buildSite().app), clientUrlOf(buildSite().app)]);
    expect([one, other]).toEqual([
      `/reteno/app-inbox/token/client.${version}.js`,
      `/reteno/app-inbox/token/client.${version}.js`,
    ]);
  });

  it('answers HEAD without a body, and a request that has the version with 304', async () => {
    const { app } = buildSite();
    const url = await clientUrlOf(app);
    const head = await request(app).head(url).expect(200);
    expect(head.text).toBeUndefined();
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(built)));
    const etag = head.headers.etag ?? '';
    const again = await request(app).get(url).set('If-None-Match', etag).expect(304);
    expect(again.text).toBe('');
  });

  it('answers 405 to other methods', async () => {
    const { app } = buildSite();
    const url = await clientUrlOf(app);
    const answer = await request(app).post(url).expect(405);
    expect(answer.headers.allow).toBe('GET, HEAD');
  });

  it("serves this release's script for another version, which no cache keeps (a page of another release during a deploy)", async () => {
    const { app } = buildSite();
    const answer = await request(app).get('/reteno/app-inbox/token/client.000000000000.js').expect(200);
    expect(answer.text).toBe(built);
    expect(answer.headers['cache-control']).toBe('no-cache');
  });

  it('leaves any other path under the token route to the site', async () => {
    const { app } = buildSite();
    for (const path of ['/reteno/app-inbox/token/client.js', '/reteno/app-inbox/token/client.0123.js']) {
      await request(app).get(path).expect(404);
    }
  });

  it('lives under the mount path, as the token route does', async () => {
    const { app } = buildSite({}, { mountPath: '/shop' });
    const url = await clientUrlOf(app, '/shop/page');
    expect(url).toMatch(/^\/shop\/reteno\/app-inbox\/token\/client\.[0-9a-f]{12}\.js$/);
    expect((await request(app).get(url).expect(200)).text).toBe(built);
  });

  it('follows tokenPath', async () => {
    const { app } = buildSite({ tokenPath: '/inbox-token' });
    const url = await clientUrlOf(app);
    expect(url).toMatch(/^\/inbox-token\/client\.[0-9a-f]{12}\.js$/);
    await request(app).get(url).expect(200);
  });
});
