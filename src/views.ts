import { readFileSync } from 'node:fs';
import ejs from 'ejs';
import { packageFile } from './package-files.js';

// NUL cannot come out of a view's text or of htmlSafeJson (JSON escapes it), so it marks slots safely.
const slotPattern = /\0(\w+)\0/;

/** Where a per-page value goes in a view rendered at creation (see {@link textsAround}). */
export const slotMarker = (name: string) => `\0${name}\0`;

/** A view's text without the newline that ends the file: a page gets the markup, not the file's last line break. */
const readView = (path: string) => readFileSync(path, 'utf8').replace(/\n$/, '');

/**
 * Compiles one of the package's views (a file of views/, and the views it includes) once. Values are escaped
 * (htmlSafeJson, attributeSafeJson, htmlAttribute) before they reach it, each for where it goes.
 */
export function compileView(view: string, destructuredLocals: string[]): ejs.TemplateFunction {
  const path = packageFile(view);
  return ejs.compile(readView(path), {
    filename: path,
    strict: true,
    _with: false,
    localsName: 'view',
    destructuredLocals,
    includer: (_included, resolvedPath) => ({ template: readView(resolvedPath) }),
  });
}

/**
 * The text of a view rendered with {@link slotMarker}s before, between and after its slots, which must be the
 * expected ones in that order: a page then joins that text with its own values.
 */
export function textsAround<Slots extends readonly string[]>(
  view: string,
  rendered: string,
  expected: Slots,
): [string, ...{ [Index in keyof Slots]: string }] {
  const parts = rendered.split(new RegExp(slotPattern, 'g'));
  const names = parts.filter((_, index) => index % 2 === 1);
  if (names.join() !== expected.join()) {
    throw new Error(`${view} must print ${expected.join(', ')} once each, in that order`);
  }
  return parts.filter((_, index) => index % 2 === 0) as [string, ...{ [Index in keyof Slots]: string }];
}

/** The nonce attribute of a page's inline script: a validated nonce, or nothing. */
export function nonceAttribute(nonce: string | undefined): string {
  return nonce === undefined ? '' : ` nonce="${nonce}"`;
}
