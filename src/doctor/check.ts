/** One line of the checklist. */
export interface Check {
  name: string;
  ok: boolean;
  /** What was seen. */
  detail: string;
  /** What to do about it; `null` when the check passed. */
  fix: string | null;
}

/** Where the README explains the fixes. */
export const readmeUrl = 'https://github.com/express-reteno-inbox/express-reteno-inbox';

export function passed(name: string, detail: string): Check {
  return { name, ok: true, detail, fix: null };
}

export function failed(name: string, detail: string, fix: string): Check {
  return { name, ok: false, detail, fix };
}
