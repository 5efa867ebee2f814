import { readFile } from 'node:fs/promises';
import type { Express } from 'express';
import Handlebars from 'handlebars';
import request from 'supertest';
import { buildSite, readInboxEmbed, scriptTags } from './helpers/site.js';

// The embed is HTML: each engine must print it unescaped. EJS is covered by the contract suites (`<%-`);
// here Pug (`!=`) and Handlebars (`{{{ }}}`) render the same embed, byte for byte.

/** An Express view engine for Handlebars: the template's context is the render locals, res.locals included. */
function handlebarsEngine(
  path: string,
  locals: object,
  callback: (error: unknown, html?: string) => void,
): void {
  readFile(path, 'utf8')
    .then((source) => Handlebars.compile(source)(locals))
    .then((html) => callback(null, html), callback);
}

function siteWithEngines(): Express {
  const { app } = buildSite();
  app.engine('hbs', handlebarsEngine);
  // The site helper's views folder (test/fixtures/views) holds a page per engine; pug registers itself.
  for (const view of ['page.pug', 'escaped.pug', 'page.hbs', 'escaped.hbs']) {
    app.get(`/${view}`, (_req, res) => {
      res.render(view, { title: 'Shop' });
    });
  }
  return app;
}

/** The embed's two `<script …>…</script>` elements, as the page has them. */
function embedElement(page: string): string | undefined {
  return /<script\b[^>]*>[\s\S]*?<\/script>\s*<script\b[^>]*><\/script>/.exec(page)?.[0];
}

describe.each([
  ['Pug', 'page.pug', 'escaped.pug'],
  ['Handlebars', 'page.hbs', 'escaped.hbs'],
])('%s views', (_engine, view, escapedView) => {
  let app: Express;

  beforeAll(() => {
    app = siteWithEngines();
  });

  it('render exactly one intact embed for a signed-in visitor, identical to the EJS one', async () => {
    const agent = request.agent(app);
    await agent.post('/sign-in').send({ user: 'anna' }).expect(204);
    const reference = embedElement((await agent.get('/page').expect(200)).text);
    expect(reference).toBeDefined();

    const page = (await agent.get(`/${view}`).expect(200)).text;
    expect(page).toContain('<h1>Shop</h1>');
    expect(scriptTags(page)).toHaveLength(2);
    expect(embedElement(page)).toBe(reference);
    expect(readInboxEmbed(page)?.config.flags).toEqual({});
    expect(page).not.toMatch(/&lt;|&gt;|&quot;|&#39;|&#x27;|&amp;/);
  });

  it('render the page without an embed, and without failing, for an anonymous visitor', async () => {
    const page = (await request(app).get(`/${view}`).expect(200)).text;
    expect(page).toContain('<h1>Shop</h1>');
    expect(scriptTags(page)).toEqual([]);
  });

  it('escape the embed into text when the escaping form is used (why the unescaped form is needed)', async () => {
    const agent = request.agent(app);
    await agent.post('/sign-in').send({ user: 'anna' }).expect(204);
    const page = (await agent.get(`/${escapedView}`).expect(200)).text;
    expect(scriptTags(page)).toEqual([]);
    expect(page).toContain('&lt;script&gt;');
  });
});
