/** A start tag of a page, with the text that follows it when it is a raw-text element (`<script>`, `<style>`…). */
export interface HtmlElement {
  /** Lower-case (ASCII) tag name. */
  name: string;
  /** Lower-case attribute names; the first of a repeated name wins; values with character references decoded. */
  attributes: ReadonlyMap<string, string>;
  /** The element's text when it is a raw-text element, else `''`. */
  text: string;
}

/** Elements whose content the HTML tokenizer reads as text up to the matching end tag. */
const rawTextElements = new Set([
  'script',
  'style',
  'textarea',
  'title',
  'xmp',
  'iframe',
  'noembed',
  'noframes',
  'noscript',
]);

/**
 * The start tags named in `names` of a page, in document order, read as the HTML tokenizer reads them: comments,
 * `<!…>` and end tags are skipped, attribute values may hold `>` inside quotes, and a raw-text element runs to its
 * end tag or to the end of the page. (Not modelled: foreign content, `<template>`, and `<!--<script>` inside a
 * script.)
 *
 * Linear in the length of the page, whatever it holds: every step moves forward, and every search for an end starts
 * where the last one stopped. The package takes no HTML parser dependency for this; the tests compare it with
 * parse5.
 */
export function* htmlElements(page: string, names: ReadonlySet<string>): Generator<HtmlElement> {
  const html = page.replace(/\r\n?/g, '\n');
  const tagName = /[a-z][^\t\n\f />]*/iy;
  const endTags = new Map<string, RegExp>();
  let position = 0;
  while (position < html.length) {
    const open = html.indexOf('<', position);
    if (open === -1) return;
    if (html.startsWith('<!--', open)) {
      const end = html.indexOf('-->', open + 2);
      if (end === -1) return;
      position = end + 3;
      continue;
    }
    const next = html[open + 1];
    if (next === '!' || next === '?' || next === '/') {
      // A declaration, a processing instruction, a bogus comment or an end tag: skipped up to its `>`.
      const end = next === '/' && isAsciiLetter(html[open + 2]) ? readTag(html, open + 2, false) : undefined;
      const after = end?.end ?? html.indexOf('>', open + 2) + 1;
      if (after <= 0) return;
      position = after;
      continue;
    }
    tagName.lastIndex = open + 1;
    const name = tagName.exec(html)?.[0];
    if (name === undefined) {
      position = open + 1;
      continue;
    }
    const lowerName = asciiLowerCase(name);
    const tag = readTag(html, tagName.lastIndex, names.has(lowerName));
    // A tag the page never closes is no element.
    if (tag === undefined) return;
    position = tag.end;
    let text = '';
    if (rawTextElements.has(lowerName)) {
      let endTag = endTags.get(lowerName);
      if (endTag === undefined) {
        endTag = new RegExp(`</${lowerName}[\\t\\n\\f />]`, 'gi');
        endTags.set(lowerName, endTag);
      }
      endTag.lastIndex = position;
      const close = endTag.exec(html);
      text = html.slice(position, close?.index ?? html.length);
      position = close === null ? html.length : (readTag(html, close.index + 2, false)?.end ?? html.length);
    } else if (lowerName === 'plaintext') {
      text = html.slice(position);
      position = html.length;
    }
    if (tag.attributes !== undefined) yield { name: lowerName, attributes: tag.attributes, text };
  }
}

/**
 * Where a tag ends, read from just after its name, and its attributes when `collect` asks for them; `undefined` if
 * the page ends first.
 */
function readTag(
  html: string,
  start: number,
  collect: boolean,
): { attributes: Map<string, string> | undefined; end: number } | undefined {
  const attributes = collect ? new Map<string, string>() : undefined;
  let index = start;
  for (;;) {
    while (index < html.length && (isSpace(html[index]) || html[index] === '/')) index++;
    if (index >= html.length) return undefined;
    if (html[index] === '>') return { attributes, end: index + 1 };
    // The first character of a name may be '='.
    const nameStart = index++;
    while (index < html.length && !isSpace(html[index]) && !'/>='.includes(html[index] as string)) index++;
    const nameEnd = index;
    while (index < html.length && isSpace(html[index])) index++;
    let valueStart = index;
    let valueEnd = index;
    if (html[index] === '=') {
      index++;
      while (index < html.length && isSpace(html[index])) index++;
      const quote = html[index];
      if (quote === '"' || quote === "'") {
        const close = html.indexOf(quote, index + 1);
        if (close === -1) return undefined;
        valueStart = index + 1;
        valueEnd = close;
        index = close + 1;
      } else {
        valueStart = index;
        while (index < html.length && !isSpace(html[index]) && html[index] !== '>') index++;
        valueEnd = index;
      }
    }
    if (attributes !== undefined) {
      const name = asciiLowerCase(html.slice(nameStart, nameEnd));
      if (!attributes.has(name)) attributes.set(name, decodeReferences(html.slice(valueStart, valueEnd)));
    }
  }
}

const namedReferences: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Numeric character references and the five named ones XML knows; other named references stay as written. */
function decodeReferences(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(
    /&(?:#(\d{1,7});?|#x([\da-f]{1,6});?|(amp|lt|gt|quot|apos);)/gi,
    (reference, decimal?: string, hex?: string, name?: string) => {
      if (name !== undefined) return namedReferences[name.toLowerCase()] ?? reference;
      const codePoint = decimal === undefined ? Number.parseInt(hex ?? '', 16) : Number(decimal);
      return codePoint === 0 || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)
        ? '\ufffd'
        : String.fromCodePoint(codePoint);
    },
  );
}

function isSpace(character: string | undefined): boolean {
  return character === ' ' || character === '\t' || character === '\n' || character === '\f';
}

function isAsciiLetter(character: string | undefined): boolean {
  return character !== undefined && /^[a-z]$/i.test(character);
}

function asciiLowerCase(text: string): string {
  return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
