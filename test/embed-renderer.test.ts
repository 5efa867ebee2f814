import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import { type PageConfig, parsePageConfig } from '../src/client/page-config.js';
import { createEmbedRenderer, type InboxEmbedValues } from '../src/embed.js';
import { attributeSafeJson, htmlSafeJson } from '../src/html-safe.js';
import { readInboxEmbed, scriptTags } from './helpers/site.js';

const settings = {
  scriptUrl: 'https://statics.esputnik.com/scripts/0f8e2a4c.js',
  flags: {},
  tokenPath: '/reteno/app-inbox/token',
  clientPath: '/reteno/app-inbox/token/client.0123456789ab.js',
  languages: new Set(['en', 'uk', 'de']),
};
const page: InboxEmbedValues = {
  nonce: undefined,
  mountPath: '/shop',
  contact: 'AbCdEfGhIjKlMnOpQrStUv',
  language: 'uk',
  csrf: undefined,
};
/** What the client reads from `page`'s embed. */
const pageConfig: PageConfig = {
  tokenUrl: '/shop/reteno/app-inbox/token',
  contact: 'AbCdEfGhIjKlMnOpQrStUv',
  language: 'uk',
  flags: {},
};
const clientUrl = '/shop/reteno/app-inbox/token/client.0123456789ab.js';
const viewsDir = fileURLToPath(new URL('../views/', import.meta.url));

describe('embed renderer', () => {
  it("prints Reteno's loader and the client's tag, each with the nonce, and the page's values", () => {
    const render = createEmbedRenderer(settings);
    const embed = render.inbox({ ...page, nonce: 'rAnd0m+/Nonce==' });
    expect(scriptTags(embed)).toEqual([
      '<script nonce="rAnd0m+/Nonce==">',
      `<script nonce="rAnd0m+/Nonce==" src="${clientUrl}" data-reteno-config='${JSON.stringify(pageConfig)}' defer>`,
    ]);
    expect(readInboxEmbed(embed)?.loader).toContain(
      `(window,document,'script',${htmlSafeJson(settings.scriptUrl)});`,
    );
    expect(render.inbox(page)).toBe(embed.replaceAll(' nonce="rAnd0m+/Nonce=="', ''));
  });

  it('prints hostile values so that they stay values: the page parses to the same config and URL', () => {
    const hostile = `</script><!--'"&\u2028x`;
    const embed = createEmbedRenderer({ ...settings, flags: { TRACKING: true } }).inbox({
      ...page,
      mountPath: `/${hostile}`,
      csrf: { header: 'x-csrf-token', token: hostile },
      language: hostile,
    });
    expect(embed.match(/<\/script>/g)).toHaveLength(2);
    // In an attribute, U+2028 is plain text; in the loader's script it never appears.
    expect(embed).not.toContain('<!--');
    const read = readInboxEmbed(embed);
    expect(read?.config).toEqual({
      tokenUrl: `/${hostile}/reteno/app-inbox/token`,
      csrf: { header: 'x-csrf-token', token: hostile },
      contact: page.contact,
      language: hostile,
      flags: { TRACKING: true },
    });
    expect(read?.clientUrl).toBe(`/${hostile}${settings.clientPath}`);
    expect(read?.attributes).toEqual({ defer: '' });
  });

  it('gives the same text as rendering views/embed.ejs and views/tracking-embed.ejs with the same values', () => {
    const compile = (view: string) => {
      const path = `${viewsDir}${view}`;
      const read = (file: string) => readFileSync(file, 'utf8').replace(/\n$/, '');
      return ejs.compile(read(path), {
        filename: path,
        strict: true,
        _with: false,
        localsName: 'embed',
        destructuredLocals: ['nonceAttribute', 'scriptUrl', 'clientUrl', 'pageConfig', 'initFlags'],
        includer: (_included, resolved) => ({ template: read(resolved) }),
      });
    };
    const render = createEmbedRenderer({ ...settings, flags: { TRACKING: true } });
    const csrf = { header: 'x-csrf-token', token: 'csrf-1' };
    const values = {
      nonceAttribute: ' nonce="bm9uY2U"',
      scriptUrl: htmlSafeJson(settings.scriptUrl),
      clientUrl,
      // In PageConfig's order.
      pageConfig: attributeSafeJson({
        tokenUrl: pageConfig.tokenUrl,
        csrf,
        contact: page.contact,
        language: page.language,
        flags: { TRACKING: true },
      }),
      initFlags: htmlSafeJson({ TRACKING: true }),
    };
    expect(render.inbox({ ...page, nonce: 'bm9uY2U', csrf })).toBe(compile('embed.ejs')(values));
    expect(render.tracking('bm9uY2U')).toBe(compile('tracking-embed.ejs')(values));
    expect(render.tracking(undefined)).toBe(
      `<script>${readFileSync(`${viewsDir}reteno-loader.ejs`, 'utf8').split('\n')[1]?.replace('<%- scriptUrl %>', values.scriptUrl)}eS('init',{"TRACKING":true});</script>`,
    );
  });

  it.each([
    ['a mount path and an allowed language', page, pageConfig],
    ['the root', { ...page, mountPath: '' }, { ...pageConfig, tokenUrl: '/reteno/app-inbox/token' }],
    ['a language outside the allowed ones', { ...page, language: 'fr' }, { ...pageConfig, language: 'fr' }],
    [
      'a CSRF token',
      { ...page, csrf: { header: 'x-csrf-token', token: 'a+b/c=' } },
      { ...pageConfig, csrf: { header: 'x-csrf-token', token: 'a+b/c=' } },
    ],
  ])('prints values the client reads back as they were: %s', (_case, values, expected) => {
    const embed = createEmbedRenderer(settings).inbox(values);
    const value = /data-reteno-config='([^']*)'/.exec(embed)?.[1];
    expect(parsePageConfig(value)).toEqual(expected);
    // As JSON.stringify would print it, in PageConfig's order.
    const { tokenUrl, csrf, contact, language, flags } = expected;
    expect(value).toBe(JSON.stringify({ tokenUrl, csrf, contact, language, flags }));
    expect(readInboxEmbed(embed)?.clientUrl).toBe(`${values.mountPath}${settings.clientPath}`);
  });

  it('keeps every line of the views under 400 characters', () => {
    const views = readdirSync(viewsDir).filter((name) => name.endsWith('.ejs'));
    expect(views).toEqual(['embed.ejs', 'reteno-loader.ejs', 'tracking-embed.ejs']);
    const longLines = views.flatMap((view) =>
      readFileSync(`${viewsDir}${view}`, 'utf8')
        .split('\n')
        .filter((line) => line.length > 400)
        .map((line) => `${view}: ${line.slice(0, 40)}…`),
    );
    expect(longLines).toEqual([]);
  });
});
