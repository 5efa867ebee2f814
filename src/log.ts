import type { RetenoInboxErrorCode } from './errors.js';
import { redact, secretForms } from './credentials.js';
import type { Logger } from './types.js';

/** The package's only way to log: coded, prefixed, and never carrying the API key. */
export interface SafeLogger {
  warn(code: RetenoInboxErrorCode, message: string): void;
  /**
   * A configuration problem: logged as an error the first time `key` comes up, then again only after
   * `everyMs` (never again by default), so a wrong setting does not flood the log with one line per request.
   */
  configurationError(key: string, code: RetenoInboxErrorCode, message: string, everyMs?: number): void;
  /** A warning that may come up on every request under load: logged when `key` was not logged in `everyMs`. */
  warnAtMostEvery(key: string, everyMs: number, code: RetenoInboxErrorCode, message: string): void;
}

export function createSafeLogger(logger: Logger, apiKey: string): SafeLogger {
  const secrets = secretForms([apiKey]);
  const lastLoggedAt = new Map<string, number>();
  const format = (code: RetenoInboxErrorCode, message: string) =>
    redact(`express-reteno-inbox ${code}: ${message}`, secrets);
  const due = (key: string, everyMs: number) => {
    const last = lastLoggedAt.get(key);
    const now = Date.now();
    if (last !== undefined && now - last < everyMs) return false;
    lastLoggedAt.set(key, now);
    return true;
  };
  return {
    warn(code, message) {
      logger.warn(format(code, message));
    },
    configurationError(key, code, message, everyMs = Number.POSITIVE_INFINITY) {
      if (due(key, everyMs)) logger.error(format(code, message));
    },
    warnAtMostEvery(key, everyMs, code, message) {
      if (due(key, everyMs)) logger.warn(format(code, message));
    },
  };
}
