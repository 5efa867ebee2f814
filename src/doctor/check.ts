/** One line of the checklist. */
export interface Check {
  name: string;
  /** Whether it passed, or could not run (`skipped`) without a sign of a fault. */
  ok: boolean;
  /** What was seen. */
  detail: string;
  /** What to do about it; `null` when the check passed. */
  fix: string | null;
  /** Present, and true, when the check could not run; its detail says why. */
  skipped?: true;
}

/** Where the README explains the fixes. */
export const readmeUrl = 'https://github.com/express-reteno-inbox/express-reteno-inbox';

export function passed(name: string, detail: string): Check {
  return { name, ok: true, detail, fix: null };
}

export function failed(name: string, detail: string, fix: string): Check {
  return { name, ok: false, detail, fix };
}

/** A check that could not run, and why; it does not fail the run. */
export function skipped(name: string, detail: string): Check {
  return { name, ok: true, detail, fix: null, skipped: true };
}

const maxQuoted = 100;

/** Text taken from the page or an answer, for a detail: cut to 100 characters. */
export function shortened(text: string): string {
  return text.length > maxQuoted ? `${text.slice(0, maxQuoted)}…` : text;
}

/** Text taken from the page or an answer, cut to 100 characters, in double quotes. */
export function quoted(text: string): string {
  return `"${shortened(text)}"`;
}
