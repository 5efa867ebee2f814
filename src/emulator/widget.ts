import { readFile } from 'node:fs/promises';
import { htmlSafeJson } from '../html-safe.js';
import { packageFile } from '../package-files.js';

/** What the server writes into the widget it serves. */
export interface WidgetSettings {
  /** Where the App Inbox API is, used when the script cannot tell where it was loaded from. */
  apiUrl: string;
  bellSelector: string | null;
  pollIntervalMs: number;
}

/** The one line of views/emulator-widget.js that holds its settings: `const SETTINGS = {…};`. */
const settingsLine = /^( *const SETTINGS = )\{.*\};$/m;

/** Reads the widget, views/emulator-widget.js, and checks that it has the settings line to write in. */
export async function readWidgetSource(): Promise<string> {
  const path = packageFile('views/emulator-widget.js');
  const source = await readFile(path, 'utf8');
  if (!settingsLine.test(source)) throw new Error(`express-reteno-inbox: ${path} has no settings line`);
  return source;
}

/** The widget as served: its settings literal replaced by `settings`, as JSON that is safe in any script. */
export function renderWidgetScript(source: string, settings: WidgetSettings): string {
  return source.replace(
    settingsLine,
    (_line, declaration: string) => `${declaration}${htmlSafeJson(settings)};`,
  );
}
