import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { type DefaultTreeAdapterTypes, defaultTreeAdapter, parse } from 'parse5';
import { pageConfigAttribute } from '../../src/client/page-config.js';
import type { EmulatorFault } from '../../src/emulator/index.js';
import { iso6391Codes } from '../../src/iso-639-1.js';
import { basicCredentials } from '../../src/credentials.js';
import { scriptId, tokenPath } from './site.js';

// What test/hostile-input.test.ts feeds the package, and the oracles it judges the answers by: fast-check
// arbitraries for visitors, i18n middleware, sessions and a site's options, each case carrying what the contract
// says must come of it.

// Distinctive and longer than any value an error message quotes: finding it anywhere means it leaked.
export const apiKey = 'hostile-input-api-key-5c1e9f0b7d3a';
const secrets = [apiKey, basicCredentials(apiKey)];

const contactFields = ['email', 'phone', 'externalCustomerId'] as const;
export const allLanguages: ReadonlySet<string> = new Set(iso6391Codes);
export const defaultScriptUrl = `https://statics.esputnik.com/scripts/${scriptId}.js`;
export const documentedErrors: Record<number, string> = {
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'contact_not_found',
  405: 'method_not_allowed',
  422: 'invalid_contact',
  502: 'upstream_error',
  503: 'upstream_busy',
  504: 'upstream_timeout',
};
export const documentedStatuses = [200, ...Object.keys(documentedErrors).map(Number)];
export const tokenEndpoint = '/v1/auth/contact/token';
// What the package's client sends Reteno; nothing a browser sent may add to it.
export const upstreamHeaderNames = new Set([
  'host',
  'authorization',
  'accept',
  'accept-encoding',
  'user-agent',
  'content-type',
  'content-length',
  'connection',
]);
const ownPaths = ['/page', '/layout', '/sign-in', '/sign-out'];

/** Contacts the emulator knows, hostile-looking but valid. */
export const knownContacts: Record<string, string>[] = [
  { email: 'anna@example.com' },
  { phone: '+380 (50) 123-45-67' },
  { externalCustomerId: 'id </script><!-- "quoted" \'single\' \\ ❤ \u200f' },
  { externalCustomerId: `long-${'9'.repeat(250)}` },
  { email: "o'brien+inbox@example.co.uk", externalCustomerId: 'Ωmega-42' },
];

// ---------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------

const tenKilobytes = 'x'.repeat(10_240);
const hostileFragments = [
  '</script>',
  '</SCRIPT >',
  '<script>',
  '<!--',
  '-->',
  '<![CDATA[',
  ']]>',
  '"',
  "'",
  '`',
  '\\',
  '&',
  '&amp;',
  '<',
  '>',
  '${',
  '*/',
  '//',
  '\u2028',
  '\u2029',
  '\u0000',
  '\u0007',
  '\u001b',
  '\t',
  '\n',
  '\r',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u200e',
  '\ufeff',
  '\ud800',
  '\udfff',
  '😀',
  'Привіт',
  'uk-UA',
  'en',
  ';q=0.9',
  ',',
];

const shortHostileText = fc
  .array(fc.oneof(fc.constantFrom(...hostileFragments), fc.string({ unit: 'binary', maxLength: 6 })), {
    maxLength: 8,
  })
  .map((parts) => parts.join(''));

/** Strings made of what breaks pages and parsers, sometimes around 10 kB. */
const hostileText = fc.oneof(
  { weight: 5, arbitrary: shortHostileText },
  {
    weight: 1,
    arbitrary: fc.tuple(shortHostileText, shortHostileText).map(([a, b]) => `${a}${tenKilobytes}${b}`),
  },
);

/** Without lone surrogates, for URLs. */
const wellFormed = (text: string) => Buffer.from(text, 'utf8').toString('utf8') === text;

/**
 * What a client can put in a header: UTF-8 bytes read as Latin-1 (so U+2028 travels as its three bytes), tabs
 * and every other character HTTP allows.
 */
const asHeaderValue = (text: string) =>
  Buffer.from(text, 'utf8')
    .toString('latin1')
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
const headerText = hostileText.map(asHeaderValue);
const shortHeaderText = shortHostileText.map(asHeaderValue);

const validEmail = fc.oneof(
  fc.constantFrom('anna@example.com', "o'brien+inbox@example.co.uk", 'x@example.com', 'Anna@Example.COM'),
  fc.emailAddress().filter((email) => email.length <= 254),
);
const validPhone = fc.oneof(
  fc.constantFrom('+380 (50) 123-45-67', '+4915112345678', '12345'),
  fc
    .tuple(
      fc.constantFrom('', '+'),
      fc.array(fc.stringMatching(/^[0-9]{1,4}$/), { minLength: 2, maxLength: 5 }),
      fc.constantFrom(' ', '-', '.', ''),
    )
    .map(([plus, groups, separator]) => `${plus}${groups.join(separator)}`)
    .filter((phone) => {
      const digits = phone.replace(/\D/g, '').length;
      return digits >= 5 && digits <= 15 && phone.length <= 32;
    }),
);
const printable = (text: string) =>
  text.length > 0 && text.length <= 256 && !/[\p{Cc}\p{Cs}\u2028\u2029]/u.test(text) && text.trim() === text;
const validId = fc.oneof(
  fc.constantFrom(...knownContacts.flatMap((contact) => contact.externalCustomerId ?? [])),
  fc
    .string({
      unit: fc.oneof(
        fc.constantFrom('</script>', '<!--', '-->', '"', "'", '\\', '&', '😀', '\u200e', 'Ω', '`', '${'),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
      ),
      minLength: 1,
      maxLength: 24,
    })
    .filter(printable),
);

export type Expectation = 'valid' | 'invalid' | 'anonymous' | 'unknown';
export interface ContactCase {
  contact: unknown;
  expect: Expectation;
  /** Return it as a promise. */
  async: boolean;
}

/** A session user object with getters, as ORMs make them. */
export class SessionUser {
  readonly #fields: Record<string, unknown>;
  constructor(fields: Record<string, unknown>) {
    this.#fields = fields;
  }
  get email(): unknown {
    return this.#fields.email;
  }
  get phone(): unknown {
    return this.#fields.phone;
  }
  get externalCustomerId(): unknown {
    return this.#fields.externalCustomerId;
  }
}

const shapes = ['plain', 'null-prototype', 'inherited', 'getters', 'toJSON'] as const;

/** The same fields in the shapes sites return them in. */
function dress(
  fields: Record<string, unknown>,
  shape: (typeof shapes)[number],
  extras: Record<string, unknown>,
): unknown {
  switch (shape) {
    case 'plain':
      return { ...fields, ...extras };
    case 'null-prototype':
      return Object.assign(Object.create(null) as object, fields, extras);
    case 'inherited':
      return Object.assign(Object.create(fields) as object, extras);
    case 'getters':
      return Object.assign(new SessionUser(fields), extras);
    case 'toJSON':
      return { ...fields, ...extras, toJSON: () => ({ email: 'victim@example.com' }) };
  }
}

const extras = fc.dictionary(
  fc.constantFrom('password', 'token', 'apiKey', 'Email', 'EMAIL', 'email ', 'contact', 'role'),
  fc.oneof(hostileText, validEmail, fc.anything()),
  { maxKeys: 3 },
);
const absentField = fc.constantFrom(undefined, null, '');
const validFields = fc
  .record({
    email: fc.oneof(absentField, validEmail),
    phone: fc.oneof(absentField, validPhone),
    externalCustomerId: fc.oneof(absentField, validId),
  })
  .filter((fields) =>
    contactFields.some((field) => typeof fields[field] === 'string' && fields[field] !== ''),
  );

const unprintableCharacters = [
  '\u0000',
  '\u0007',
  '\n',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u2028',
  '\u2029',
  '\ud800',
];
const badValue = fc.oneof(
  fc.tuple(validId, fc.constantFrom(...unprintableCharacters), fc.nat()).map(([value, character, at]) => {
    const position = at % (value.length + 1);
    return `${value.slice(0, position)}${character}${value.slice(position)}`;
  }),
  fc.constant(tenKilobytes),
  validId.map((value) => ` ${value}`),
  validId.map((value) => `${value}\u00a0`),
  fc.constantFrom<unknown>(42, 0, Number.NaN, true, false, [], ['anna@example.com'], {
    email: 'anna@example.com',
  }),
  fc.constant(Object('anna@example.com')),
);
const badEmail = fc.constantFrom(
  'anna@example.com</script>',
  '<!--@example.com',
  '"quoted"@example.com',
  'anna@-example.com',
  'anna@',
  '@example.com',
  'anna example@example.com',
  `${'a'.repeat(65)}@example.com`,
);
const badPhone = fc.constantFrom(
  '1234',
  '+1 (555) 0100 </script>',
  '1'.repeat(16),
  '+380501234567<!--',
  '++12345',
);
const invalidFields = fc
  .tuple(validFields, fc.constantFrom(...contactFields))
  .chain(([fields, field]) =>
    (field === 'email'
      ? fc.oneof(badValue, badEmail)
      : field === 'phone'
        ? fc.oneof(badValue, badPhone)
        : badValue
    ).map((bad) => ({ ...fields, [field]: bad })),
  );
const wrongShapes = fc.constantFrom<unknown>(
  'anna@example.com',
  42,
  true,
  Symbol('anna'),
  [],
  [{ email: 'anna@example.com' }],
  {},
  Object.create(null),
  new Date(0),
  new Map([['email', 'anna@example.com']]),
  Object('anna@example.com'),
  () => ({ email: 'anna@example.com' }),
);

const contactCase: fc.Arbitrary<ContactCase> = fc
  .tuple(
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.tuple(validFields, fc.constantFrom(...shapes), extras).map(([fields, shape, more]) => ({
          contact: dress(fields, shape, more),
          expect: 'valid' as const,
        })),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom(...knownContacts), fc.constantFrom(...shapes), extras)
          .map(([fields, shape, more]) => ({
            contact: dress(fields, shape, more),
            expect: 'valid' as const,
          })),
      },
      {
        weight: 3,
        arbitrary: fc
          .tuple(invalidFields, fc.constantFrom(...shapes), extras)
          .map(([fields, shape, more]) => ({
            contact: dress(fields, shape, more),
            expect: 'invalid' as const,
          })),
      },
      { weight: 1, arbitrary: wrongShapes.map((contact) => ({ contact, expect: 'invalid' as const })) },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(null, undefined)
          .map((contact) => ({ contact, expect: 'anonymous' as const })),
      },
      {
        weight: 2,
        arbitrary: fc
          .anything({
            key: fc.oneof(fc.constantFrom(...contactFields), fc.string()),
            values: [
              fc.boolean(),
              fc.integer(),
              hostileText,
              validEmail,
              validPhone,
              validId,
              fc.constant(null),
            ],
            withNullPrototype: true,
            withBoxedValues: true,
            withMap: true,
            withSet: true,
            withDate: true,
            withSparseArray: true,
          })
          .map((contact) => ({
            contact,
            expect: contact === null || contact === undefined ? ('anonymous' as const) : ('unknown' as const),
          })),
      },
    ),
    fc.boolean(),
  )
  .map(([picked, async]) => ({ ...picked, async }));

/** A language source's value, with the code the page must show when that source decides (if known). */
export interface LanguageValue {
  value: unknown;
  code?: string;
}

const goodTag: fc.Arbitrary<LanguageValue & { value: string; code: string }> = fc
  .tuple(
    fc.constantFrom(...iso6391Codes),
    fc.constantFrom('', '-UA', '_BR', '-Hant-TW', '-419', '-x-private'),
    fc.boolean(),
  )
  .map(([code, suffix, upper]) => ({ value: `${upper ? code.toUpperCase() : code}${suffix}`, code }));

/** A plausible tag spoilt by markup, a line separator, a quote or its length: the default language it is. */
const spoiltTag: fc.Arbitrary<LanguageValue> = fc
  .tuple(
    goodTag,
    fc.constantFrom(
      (tag: string) => `${tag}</script>`,
      (tag: string) => `${tag}\u2028`,
      (tag: string) => `<!--${tag}`,
      (tag: string) => `${tag}"`,
      (tag: string) => `${tag}-${'a'.repeat(40)}`,
      (tag: string) => `${tag};q=1`,
    ),
  )
  .map(([tag, spoil]) => ({ value: spoil(tag.value), code: 'en' }));

const localeValue: fc.Arbitrary<LanguageValue> = fc.oneof(
  goodTag,
  spoiltTag,
  hostileText.map((value) => ({ value })),
  fc.anything().map((value) => ({ value })),
);

export interface LocaleGetter extends LanguageValue {
  throws: boolean;
}
export interface I18nCase {
  getLocale?: LocaleGetter;
  locale?: LanguageValue;
  language?: LanguageValue;
  localsLocale?: LanguageValue;
}
const i18nCase: fc.Arbitrary<I18nCase> = fc.oneof(
  // No i18n middleware: Accept-Language decides.
  fc.constant({}),
  fc.record(
    {
      getLocale: fc.oneof(
        { weight: 4, arbitrary: localeValue.map((value) => ({ ...value, throws: false })) },
        { weight: 1, arbitrary: fc.constant({ value: undefined, throws: true }) },
      ),
      locale: localeValue,
      language: localeValue,
      localsLocale: localeValue,
    },
    { requiredKeys: [] },
  ),
);
const languageOptionCase: fc.Arbitrary<LocaleGetter> = fc.oneof(
  { weight: 4, arbitrary: localeValue.map((value) => ({ ...value, throws: false })) },
  { weight: 1, arbitrary: fc.constant({ value: undefined, throws: true }) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, '').map((value) => ({ value, throws: false })) },
);

export interface AcceptLanguageCase {
  header: string | undefined;
  code?: string;
}
const acceptLanguageCase: fc.Arbitrary<AcceptLanguageCase> = fc.oneof(
  fc.constant({ header: undefined, code: 'en' }),
  // Tags with distinct q-values: the highest wins.
  fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 5 }).chain((qualities) =>
    fc.array(goodTag, { minLength: qualities.length, maxLength: qualities.length }).map((tags) => {
      const best = qualities.indexOf(Math.max(...qualities));
      return {
        header: tags
          .map((tag, index) => `${tag.value};q=${((qualities[index] ?? 0) / 1000).toFixed(3)}`)
          .join(', '),
        code: tags[best]?.code,
      };
    }),
  ),
  fc
    .array(
      fc.oneof(
        goodTag.map((tag) => tag.value),
        shortHeaderText,
      ),
      { maxLength: 8 },
    )
    .map((parts) => ({ header: parts.join(',') })),
  headerText.map((header) => ({ header })),
  // Longer than any real header, or with a good tag past the entries that are read: the default.
  goodTag.map((tag) => ({ header: `${tag.value},${'a'.repeat(10_000)}`, code: 'en' })),
  goodTag.map((tag) => ({ header: `${'x,'.repeat(50)}${tag.value}`, code: 'en' })),
);

export interface NonceCase {
  value: unknown;
  throws: boolean;
  /** true: must be printed as it is; false: must not be printed; undefined: either. */
  printed: boolean | undefined;
}
const nonceCase: fc.Arbitrary<NonceCase> = fc.oneof(
  fc.base64String({ minLength: 4, maxLength: 64 }).map((value) => ({ value, throws: false, printed: true })),
  fc.stringMatching(/^[A-Za-z0-9_-]{16,43}$/).map((value) => ({ value, throws: false, printed: true })),
  fc.constantFrom(undefined, null, '').map((value) => ({ value, throws: false, printed: false })),
  fc
    .constantFrom(
      '"><script>alert(1)</script>',
      "x' onload='alert(1)",
      'abc def',
      'a'.repeat(257),
      'abc===',
      'abc"',
      '&quot;',
      'cmFuZG9t\u2028',
      '</script>',
      '<!--',
      'cmFuZG9t\n',
    )
    .map((value) => ({ value, throws: false, printed: false })),
  hostileText.map((value) => ({ value, throws: false, printed: undefined })),
  fc.anything().map((value) => ({ value, throws: false, printed: undefined })),
  fc.constant({ value: undefined, throws: true, printed: false }),
);

// ---------------------------------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------------------------------

export function expectNoSecret(...texts: string[]): void {
  for (const text of texts) {
    for (const secret of secrets) {
      if (text.includes(secret)) throw new Error(`The API key leaked into: ${text.slice(0, 300)}`);
    }
  }
}

/** Fields as checkContact reads them: through property access, so getters and prototypes count. */
function fieldsOf(contact: unknown): Record<string, unknown> {
  const read: Record<string, unknown> = {};
  if (contact === null || (typeof contact !== 'object' && typeof contact !== 'function')) return read;
  for (const field of contactFields) read[field] = (contact as Record<string, unknown>)[field];
  return read;
}

/** What Reteno may receive for a contact: its non-empty contact fields, nothing else. */
export function expectedBody(contact: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fieldsOf(contact)).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== '',
    ),
  );
}

/** A contact no reading of the README lets through: wrong type, control characters, absurd length, padding. */
export function breaksTheRules(contact: unknown): boolean {
  if (contact === null || contact === undefined) return false;
  if (typeof contact !== 'object' || Array.isArray(contact)) return true;
  let usable = 0;
  for (const value of Object.values(fieldsOf(contact))) {
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string' || value.length > 256 || !printable(value)) return true;
    usable += 1;
  }
  return usable === 0;
}

export function knownToEmulator(body: Record<string, string>): boolean {
  return knownContacts.some((known) =>
    contactFields.some((field) => {
      const mine = body[field];
      const theirs = known[field];
      if (mine === undefined || theirs === undefined) return false;
      return field === 'email' ? mine.toLowerCase() === theirs.toLowerCase() : mine === theirs;
    }),
  );
}

/** Long strings inside a value, which a log line naming a field (not its value) cannot contain. */
export function longStrings(value: unknown): string[] {
  return Object.values(fieldsOf(value)).filter(
    (field): field is string => typeof field === 'string' && field.length >= 16,
  );
}

/** JSON as it must appear inside the inline script: nothing that closes it, opens a comment or ends a line. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export type Element = DefaultTreeAdapterTypes.Element;
export type ChildNode = DefaultTreeAdapterTypes.ChildNode;

const embedStart = '!function(t,e,c,n){';

export function scriptText(element: Element): string {
  return element.childNodes
    .map((child) => (defaultTreeAdapter.isTextNode(child) ? child.value : ''))
    .join('');
}

export interface Outline {
  /** Parse errors, then every node in document order; the embed's tags without their text, nonce, src and values. */
  lines: string[];
  embeds: Element[];
}

/** The page as a browser's parser sees it. */
export function outline(html: string): Outline {
  const lines: string[] = [];
  const embeds: Element[] = [];
  const document = parse(html, { onParseError: (error) => lines.push(`parse error: ${error.code}`) });
  const walk = (node: ChildNode, depth: number) => {
    const indent = '  '.repeat(depth);
    if (defaultTreeAdapter.isTextNode(node)) {
      lines.push(`${indent}#text ${JSON.stringify(node.value)}`);
    } else if (defaultTreeAdapter.isCommentNode(node)) {
      lines.push(`${indent}#comment ${JSON.stringify(node.data)}`);
    } else if (defaultTreeAdapter.isDocumentTypeNode(node)) {
      lines.push(`<!doctype ${JSON.stringify([node.name, node.publicId, node.systemId])}>`);
    } else if (defaultTreeAdapter.isElementNode(node)) {
      // Reteno's loader, and the client's tag whose page values differ from page to page.
      const embed =
        node.tagName === 'script' &&
        (scriptText(node).startsWith(embedStart) ||
          node.attrs.some((attribute) => attribute.name === pageConfigAttribute));
      const attributes = node.attrs
        .filter((attribute) => !(embed && ['nonce', 'src', pageConfigAttribute].includes(attribute.name)))
        .map((attribute) => ` ${attribute.name}=${JSON.stringify(attribute.value)}`);
      lines.push(`${indent}<${node.tagName}${attributes.join('')}>${embed ? ' [embed]' : ''}`);
      if (embed) {
        embeds.push(node);
        return;
      }
      const children =
        node.tagName === 'template' ? (node as DefaultTreeAdapterTypes.Template).content : node;
      for (const child of children.childNodes) walk(child, depth + 1);
    }
  };
  for (const child of document.childNodes) walk(child, 0);
  return { lines, embeds };
}

export interface Execution {
  inserted: Record<string, unknown>[];
  queue: unknown[][];
}

/** Runs the embed's inline script (Reteno's loader, and a tracking-only init) as a browser would, with a minimal document. */
export function execute(script: string): Execution {
  const inserted: Record<string, unknown>[] = [];
  const window: Record<string, unknown> = {
    document: {
      createElement: () => ({}),
      scripts: [
        { parentNode: { insertBefore: (element: Record<string, unknown>) => inserted.push(element) } },
      ],
    },
  };
  window.window = window;
  runInNewContext(script, window, { timeout: 1000 });
  // The loader's stub queues `f.c(arguments)`: each entry wraps the arguments of one eS(...) call.
  const eS = window.eS as { q: ArrayLike<ArrayLike<unknown>>[] };
  return { inserted, queue: eS.q.map((entry) => Array.from(entry[0] ?? [])) };
}

// ---------------------------------------------------------------------------------------------------------------
// Pages: what a visitor, an i18n middleware, a CSP middleware and the session hand the page
// ---------------------------------------------------------------------------------------------------------------

export interface PageCase {
  variant: 'locals' | 'options';
  path: '/page' | '/page?twice=1' | '/layout';
  acceptLanguage: AcceptLanguageCase;
  i18n: I18nCase;
  languageOption: LocaleGetter;
  nonce: NonceCase;
  contact: ContactCase;
}
export interface I18nRequest {
  getLocale?: () => unknown;
  locale?: unknown;
  language?: unknown;
}

/** The code the page must show, when the inputs decide it; undefined when any allowed code will do. */
export function expectedLanguage(input: PageCase): string | undefined {
  const answered = (value: unknown) => value !== undefined && value !== null && value !== '';
  if (input.variant === 'options') {
    if (input.languageOption.throws) return 'en';
    if (answered(input.languageOption.value)) return input.languageOption.code;
  } else {
    const { getLocale, locale, language, localsLocale } = input.i18n;
    if (getLocale?.throws) return 'en';
    for (const source of [getLocale, locale, language]) if (source?.value) return source.code;
    if (localsLocale && answered(localsLocale.value)) return localsLocale.code;
  }
  return input.acceptLanguage.code;
}

export const pageCase: fc.Arbitrary<PageCase> = fc.record({
  variant: fc.constantFrom('locals', 'options'),
  path: fc.constantFrom('/page', '/page?twice=1', '/layout'),
  acceptLanguage: acceptLanguageCase,
  i18n: i18nCase,
  languageOption: languageOptionCase,
  nonce: nonceCase,
  contact: contactCase,
});

// ---------------------------------------------------------------------------------------------------------------
// The token route: what a page, or an attacker, sends it, and what Reteno does meanwhile
// ---------------------------------------------------------------------------------------------------------------

export type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';
export type OriginKind = 'none' | 'own' | 'own-path' | 'own-upper' | 'allowed' | 'foreign' | 'junk';
export type BodyCase =
  | { kind: 'none' }
  | { kind: 'json'; value: Record<string, unknown> }
  | { kind: 'form'; value: string }
  | { kind: 'text'; value: string };
export interface TokenCase {
  contact: ContactCase;
  method: Method;
  path: string;
  marker: string | undefined;
  origin: { kind: OriginKind; value: string };
  secFetchSite: { value: string | undefined; passes: boolean | undefined };
  headers: Record<string, string>;
  body: BodyCase;
  query: [string, string][];
  fault: EmulatorFault | undefined;
}

// What a page (or an attacker) tries: to name the contact itself.
const attempt = fc.record(
  {
    email: fc.oneof(validEmail, hostileText),
    phone: fc.oneof(validPhone, hostileText),
    externalCustomerId: fc.oneof(validId, hostileText),
    contact: fc.anything(),
  },
  { requiredKeys: [] },
);
const bodyCase: fc.Arbitrary<BodyCase> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  attempt.map((value) => ({ kind: 'json' as const, value })),
  attempt.map((value) => ({
    kind: 'form' as const,
    value: new URLSearchParams(
      Object.entries(value).map(([name, field]) => [name, String(JSON.stringify(field))]),
    ).toString(),
  })),
  hostileText.map((value) => ({ kind: 'text' as const, value })),
);
const faults: EmulatorFault[] = [
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503 },
  { kind: 'status', status: 429, retryAfter: 3600 },
  { kind: 'status', status: 401 },
  { kind: 'garbage' },
  { kind: 'malformed-json' },
  { kind: 'reset' },
];

export const tokenCase: fc.Arbitrary<TokenCase> = fc.record({
  contact: contactCase,
  method: fc.oneof(
    { weight: 8, arbitrary: fc.constant<Method>('post') },
    { weight: 1, arbitrary: fc.constantFrom<Method>('get', 'put', 'delete', 'patch') },
  ),
  path: fc.constantFrom(tokenPath, `${tokenPath}/`),
  marker: fc.oneof(
    { weight: 8, arbitrary: fc.constant('1') },
    { weight: 1, arbitrary: fc.constantFrom(undefined, '', '0', 'true', 'yes', '1,1', '2') },
  ),
  origin: fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .constantFrom<OriginKind>('none', 'own', 'own-path', 'own-upper', 'allowed')
        .map((kind) => ({
          kind,
          value: '',
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          'https://evil.example',
          'null',
          'http://127.0.0.1:1',
          'https://shop.example.com:444',
          'http://localhost',
          'file://',
          'javascript:alert(1)',
        )
        .map((value) => ({ kind: 'foreign' as const, value })),
    },
    { weight: 1, arbitrary: headerText.map((value) => ({ kind: 'junk' as const, value })) },
  ),
  secFetchSite: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(undefined, 'same-origin', 'none').map((value) => ({ value, passes: true })),
    },
    // A sibling subdomain or another site: refused unless its origin is allowed (none is, here).
    {
      weight: 2,
      arbitrary: fc.constantFrom('same-site', 'cross-site').map((value) => ({ value, passes: false })),
    },
    { weight: 1, arbitrary: shortHeaderText.map((value) => ({ value, passes: undefined })) },
  ),
  headers: fc.record(
    {
      Cookie: fc.oneof(
        fc.constantFrom('connect.sid=s%3Aforged.signature', 'email=victim@example.com'),
        shortHeaderText,
      ),
      Authorization: fc.oneof(
        fc.constant(`Basic ${Buffer.from('x:guess').toString('base64')}`),
        shortHeaderText,
      ),
      'X-Forwarded-Host': shortHeaderText,
      'X-Reteno-Contact': fc.oneof(fc.constant('victim@example.com'), shortHeaderText),
    },
    { requiredKeys: [] },
  ),
  body: bodyCase,
  query: fc.array(
    fc.tuple(
      fc.constantFrom('email', 'phone', 'externalCustomerId', 'contact[email]', '__proto__[email]', 'apiKey'),
      shortHostileText.filter(wellFormed),
    ),
    { maxLength: 3 },
  ),
  fault: fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom(...faults) },
  ),
});

/** The one origin besides its own that the token route's site lists in `allowedOrigins`. */
export const allowedOrigin = 'https://shop.example.com';

/** The Origin header a case sends to the site at `siteOrigin`, or undefined for none. */
export function originHeader(origin: TokenCase['origin'], siteOrigin: string): string | undefined {
  switch (origin.kind) {
    case 'none':
      return undefined;
    case 'own':
      return siteOrigin;
    case 'own-path':
      return `${siteOrigin}/page?x=1`;
    case 'own-upper':
      return siteOrigin.toUpperCase();
    case 'allowed':
      return allowedOrigin;
    default:
      return origin.value;
  }
}

/** 'pass', 'refuse', or undefined when the headers leave it open. */
export function gate(input: TokenCase): 'pass' | 'refuse' | undefined {
  if (input.marker !== '1' || input.origin.kind === 'foreign') return 'refuse';
  // An origin in allowedOrigins passes whatever the browser says about the site.
  if (input.secFetchSite.passes === false && input.origin.kind !== 'allowed') return 'refuse';
  if (input.origin.kind === 'allowed') return 'pass';
  if (input.secFetchSite.passes === undefined || input.origin.kind === 'junk') return undefined;
  return 'pass';
}

export function expectedUpstreamStatus(fault: EmulatorFault | undefined, known: boolean): number {
  if (fault === undefined) return known ? 200 : 404;
  return fault.kind === 'status' && fault.status === 429 ? 503 : 502;
}

// ---------------------------------------------------------------------------------------------------------------
// Options: a site's configuration, valid or spoilt in one place
// ---------------------------------------------------------------------------------------------------------------

/** One option: whether it is given, its value, and whether creation must succeed (undefined: either). */
export interface Piece {
  given: boolean;
  value?: unknown;
  valid: boolean | undefined;
}
const omitted = fc.constant<Piece>({ given: false, valid: true });
const good = (arbitrary: fc.Arbitrary<unknown>) =>
  arbitrary.map((value): Piece => ({ given: true, value, valid: true }));
const bad = (arbitrary: fc.Arbitrary<unknown>) =>
  arbitrary.map((value): Piece => ({ given: true, value, valid: false }));
const either = (arbitrary: fc.Arbitrary<unknown>) =>
  arbitrary.map((value): Piece => ({ given: true, value, valid: undefined }));

// Each option has values that must be accepted and hostile ones; a case spoils at most one option, so about
// half the cases create a site and render it.

const scriptIdPiece = fc.oneof(omitted, good(fc.uuid()), good(fc.uuid().map((uuid) => uuid.toUpperCase())));
const hostileScriptId = fc.oneof(
  bad(
    fc
      .uuid()
      .chain((uuid) =>
        fc.constantFrom(
          `${uuid}</script>`,
          `${uuid}\u2028`,
          `<!--${uuid}`,
          `${uuid}"`,
          ` ${uuid}`,
          `${uuid}\n`,
          uuid.replaceAll('-', ''),
        ),
      ),
  ),
  bad(fc.constantFrom<unknown>('', apiKey, '</script>', 42, null, [scriptId])),
  either(fc.anything()),
);

const hosts = [
  'https://cdn.example.com',
  'http://127.0.0.1:4010',
  'https://statics.esputnik.com',
  'https://exämple.com',
  'http://[::1]:8080',
];
const pathPiece = shortHostileText.filter((text) => !/[?#]/.test(text));
const scriptBaseUrlPiece = fc.oneof(
  omitted,
  good(
    fc
      .tuple(fc.constantFrom(...hosts), fc.array(pathPiece, { maxLength: 4 }), fc.boolean())
      .map(([host, parts, slash]) => `${host}/${parts.join('/')}${slash ? '/' : ''}`),
  ),
  good(fc.constantFrom("https://cdn.example.com/it's/", 'https://cdn.example.com/a</script>b/<!--/\u2028')),
);
const hostileScriptBaseUrl = fc.oneof(
  bad(
    fc.constantFrom(
      'javascript:alert(1)//',
      'data:text/javascript,alert(1)',
      '</script>',
      '<!--',
      'https://user:secret@cdn.example.com/',
      'https://cdn.example.com/?</script>',
      'https://cdn.example.com/#<!--',
      '//cdn.example.com/',
      'ftp://cdn.example.com/',
      'https://cdn.example.com/a\u2028?b',
      '',
      'https://exa mple.com/',
      `https://cdn.example.com/${apiKey}?`,
    ),
  ),
  either(hostileText),
  either(fc.anything()),
);

const collides = (path: string) => ownPaths.includes(path) || ownPaths.includes(`${path}/`);
const tokenPathPiece = fc.oneof(
  omitted,
  good(
    fc
      .tuple(
        fc.array(fc.stringMatching(/^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,11}$/), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.boolean(),
      )
      .map(([segments, slash]) => `/${segments.join('/')}${slash ? '/' : ''}`)
      .filter((path) => !collides(path)),
  ),
);
const hostileTokenPath = fc.oneof(
  // Made of the characters the option allows, in any order: '//', '.' and '..' segments included.
  {
    weight: 3,
    arbitrary: either(fc.stringMatching(/^\/[A-Za-z0-9\-._~/]{0,24}$/).filter((path) => !collides(path))),
  },
  {
    weight: 2,
    arbitrary: bad(
      fc.constantFrom(
        'token',
        '/token?x=1',
        '/token#x',
        '/</script>',
        '/<!--',
        '/\u2028',
        '/a b',
        '/%2e%2e/token',
        'https://evil.example/token',
        '',
        `/${'a'.repeat(200)}`,
        // Fetched elsewhere than written: another origin, or with the dot segments resolved away.
        '//evil.example/token',
        '//',
        '/./token',
        '/reteno/../token',
        '/token/.',
        '/token/..',
      ),
    ),
  },
  { weight: 1, arbitrary: either(fc.anything()) },
);

export interface LanguageSettings {
  languages: Piece;
  defaultLanguage: Piece;
}
const languageSettings: fc.Arbitrary<LanguageSettings> = fc.oneof(
  fc.constant({
    languages: { given: false, valid: true },
    defaultLanguage: { given: false, valid: true },
  }),
  fc.constantFrom(...iso6391Codes).map((code) => ({
    languages: { given: false, valid: true },
    defaultLanguage: { given: true, value: code, valid: true },
  })),
  fc.subarray([...iso6391Codes], { minLength: 1, maxLength: 8 }).chain((codes) =>
    fc.oneof(
      fc.constantFrom(...codes).map((code) => ({
        languages: { given: true, value: codes, valid: true },
        defaultLanguage: { given: true, value: code, valid: true },
      })),
      fc.constant({
        languages: { given: true, value: codes, valid: true },
        defaultLanguage: { given: false, valid: codes.includes('en') },
      }),
    ),
  ),
);
const spoilt = (code: string) => [
  `${code}</script>`,
  code.toUpperCase(),
  `${code}-US`,
  `<!--${code}`,
  `${code}\u2028`,
  '',
  apiKey,
];
const hostileLanguageSettings: fc.Arbitrary<LanguageSettings> = fc.oneof(
  fc.subarray([...iso6391Codes], { minLength: 1, maxLength: 8 }).chain((codes) =>
    fc.constantFrom(...spoilt(codes[0] ?? 'en')).map((value) => ({
      languages: { given: true, value: codes, valid: true },
      defaultLanguage: { given: true, value, valid: false },
    })),
  ),
  fc
    .constantFrom<unknown>(
      ['en', '</script>'],
      ['EN'],
      ['en-US'],
      [],
      ['en', apiKey],
      ['\u2028'],
      ['en', '<!--'],
      'en',
      [['en']],
      new Set(['en']),
    )
    .map((value) => ({
      languages: { given: true, value, valid: false },
      defaultLanguage: { given: false, valid: true },
    })),
  fc.tuple(fc.anything(), fc.anything()).map(([languages, defaultLanguage]) => ({
    languages: { given: true, value: languages, valid: undefined },
    defaultLanguage: { given: true, value: defaultLanguage, valid: undefined },
  })),
);

const flagRecord = fc.record({ RECOMS: fc.boolean(), TRACKING: fc.boolean() }, { requiredKeys: [] });
const flagsPiece = fc.oneof(
  omitted,
  good(flagRecord),
  good(flagRecord.map((flags) => Object.assign(Object.create(null) as object, flags))),
);
const hostileFlags = fc.oneof(
  bad(
    fc.constantFrom<unknown>(
      { TRACKING: 'true' },
      { RECOMS: 1 },
      { '</script>': true },
      { APP_INBOX: false },
      { '<!--': true, TRACKING: true },
      { '\u2028': true },
      [true],
      'TRACKING',
      true,
      null,
      { TRACKING: Object(true) },
    ),
  ),
  either(fc.anything({ withNullPrototype: true })),
);

const noncePiece = fc.oneof(omitted, good(fc.base64String({ minLength: 4, maxLength: 44 })));
const hostileNonce = bad(
  fc.constantFrom<unknown>('"><script>alert(1)</script>', 'abc def', '', 'a'.repeat(257), '</script>', 42),
);
const embedAnonymousPiece = fc.oneof(omitted, good(fc.boolean()));
const hostileEmbedAnonymous = bad(fc.constantFrom<unknown>('true', 1, 'false'));
const hostileUnknownOption = bad(
  fc.constantFrom<[string, unknown]>(
    ['scriptID', scriptId],
    ['</script>', true],
    ['apikey', apiKey],
    ['\u2028', 1],
    ['token_path', '/x'],
  ),
);

export interface OptionsCase {
  scriptId: Piece;
  scriptBaseUrl: Piece;
  tokenPath: Piece;
  languages: LanguageSettings;
  flags: Piece;
  nonce: Piece;
  embedAnonymous: Piece;
  unknownOption: Piece;
  signedIn: boolean;
  path: '/page' | '/layout';
  withLogger: boolean;
}
const spoil: fc.Arbitrary<Partial<OptionsCase>> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: hostileScriptId.map((scriptId) => ({ scriptId })) },
  { weight: 2, arbitrary: hostileScriptBaseUrl.map((scriptBaseUrl) => ({ scriptBaseUrl })) },
  { weight: 3, arbitrary: hostileTokenPath.map((tokenPath) => ({ tokenPath })) },
  { weight: 1, arbitrary: hostileLanguageSettings.map((languages) => ({ languages })) },
  { weight: 1, arbitrary: hostileFlags.map((flags) => ({ flags })) },
  { weight: 1, arbitrary: hostileNonce.map((nonce) => ({ nonce })) },
  { weight: 1, arbitrary: hostileEmbedAnonymous.map((embedAnonymous) => ({ embedAnonymous })) },
  { weight: 1, arbitrary: hostileUnknownOption.map((unknownOption) => ({ unknownOption })) },
);
export const optionsCase: fc.Arbitrary<OptionsCase> = fc
  .tuple(
    fc.record({
      scriptId: scriptIdPiece,
      scriptBaseUrl: scriptBaseUrlPiece,
      tokenPath: tokenPathPiece,
      languages: languageSettings,
      flags: flagsPiece,
      nonce: noncePiece,
      embedAnonymous: embedAnonymousPiece,
      unknownOption: omitted,
      signedIn: fc.boolean(),
      path: fc.constantFrom<'/page' | '/layout'>('/page', '/layout'),
      withLogger: fc.boolean(),
    }),
    spoil,
  )
  .map(([valid, spoilt]) => ({ ...valid, ...spoilt }));

export function optionsOf(input: OptionsCase): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const pieces: [string, Piece][] = [
    ['scriptId', input.scriptId],
    ['scriptBaseUrl', input.scriptBaseUrl],
    ['tokenPath', input.tokenPath],
    ['languages', input.languages.languages],
    ['defaultLanguage', input.languages.defaultLanguage],
    ['flags', input.flags],
    ['nonce', input.nonce],
    ['embedAnonymous', input.embedAnonymous],
  ];
  for (const [name, piece] of pieces) if (piece.given) options[name] = piece.value;
  if (input.unknownOption.given) {
    const [name, value] = input.unknownOption.value as [string, unknown];
    options[name] = value;
  }
  return options;
}

export function validity(input: OptionsCase): boolean | undefined {
  const pieces = [
    input.scriptId,
    input.scriptBaseUrl,
    input.tokenPath,
    input.languages.languages,
    input.languages.defaultLanguage,
    input.flags,
    input.nonce,
    input.embedAnonymous,
    input.unknownOption,
  ];
  if (pieces.some((piece) => piece.valid === false)) return false;
  return pieces.every((piece) => piece.valid === true) ? true : undefined;
}

/** `{scriptBaseUrl}{scriptId}.js`, the base normalised as a URL and ending in '/'. */
export function expectedScriptUrl(options: Record<string, unknown>): string {
  if (options.scriptBaseUrl === undefined || options.scriptBaseUrl === null) {
    return `https://statics.esputnik.com/scripts/${options.scriptId ?? scriptId}.js`;
  }
  const base = new URL(String(options.scriptBaseUrl)).href;
  return `${base}${base.endsWith('/') ? '' : '/'}${options.scriptId ?? scriptId}.js`;
}

export function expectedFlags(flags: unknown): Record<string, boolean> {
  const given = (flags ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    ['RECOMS', 'TRACKING'].flatMap((name) => (typeof given[name] === 'boolean' ? [[name, given[name]]] : [])),
  );
}
