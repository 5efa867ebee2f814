import type { Check } from './check.js';

/** The checklist as a person reads it: ✓ or ✗ per check (– for one that could not run), the fix under each ✗. */
export function formatReport(checks: readonly Check[], siteChecked: boolean): string {
  const lines = checks.map(printableCheck).flatMap((check) => {
    if (check.skipped) return [`– ${check.name}: ${check.detail}`];
    return check.ok
      ? [`✓ ${check.name}: ${check.detail}`]
      : [`✗ ${check.name}: ${check.detail}`, `    fix: ${check.fix ?? ''}`];
  });
  const failures = checks.filter((check) => !check.ok).length;
  const notRun = checks.filter((check) => check.skipped).length;
  const ran = checks.length - notRun;
  const note = notRun > 0 ? `, ${notRun} could not run` : '';
  lines.push(
    '',
    failures === 0 ? `All ${ran} checks passed${note}.` : `${failures} of ${ran} checks failed${note}.`,
  );
  if (!siteChecked)
    lines.push('Add --site-url and --cookie to check a page of the site and its token route too.');
  return lines.join('\n');
}

/** The checklist for programs: `{ ok, checks: [{ name, ok, detail, fix }] }` (`skipped: true` on a check that could not run). */
export function formatJson(checks: readonly Check[]): string {
  return JSON.stringify(
    { ok: checks.every((check) => check.ok), checks: checks.map(printableCheck) },
    null,
    2,
  );
}

function printableCheck(check: Check): Check {
  return {
    ...check,
    name: printable(check.name),
    detail: printable(check.detail),
    fix: check.fix === null ? null : printable(check.fix),
  };
}

// C0 and C1 controls (line breaks, ESC and CSI start terminal sequences), DEL, and the marks that reorder text.
const unprintable = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * The text with every control character written out (`\x1B`, `\u202E`): details quote the page and the site's
 * answers, and no page may move the cursor, colour the terminal or start a line of its own in the report.
 */
export function printable(text: string): string {
  return text.replace(unprintable, (character) => {
    const code = character.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`
      : `\\u${code.toString(16).toUpperCase()}`;
  });
}
