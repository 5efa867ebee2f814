import type { Check } from './check.js';

/** The checklist as a person reads it: ✓ or ✗ per check, the fix under each ✗, a summary line. */
export function formatReport(checks: readonly Check[], siteChecked: boolean): string {
  const lines = checks.flatMap((check) =>
    check.ok
      ? [`✓ ${check.name}: ${check.detail}`]
      : [`✗ ${check.name}: ${check.detail}`, `    fix: ${check.fix ?? ''}`],
  );
  const failures = checks.filter((check) => !check.ok).length;
  lines.push(
    '',
    failures === 0 ? `All ${checks.length} checks passed.` : `${failures} of ${checks.length} checks failed.`,
  );
  if (!siteChecked)
    lines.push('Add --site-url and --cookie to check a page of the site and its token route too.');
  return lines.join('\n');
}

/** The checklist for programs: `{ ok, checks: [{ name, ok, detail, fix }] }`. */
export function formatJson(checks: readonly Check[]): string {
  return JSON.stringify({ ok: checks.every((check) => check.ok), checks }, null, 2);
}
