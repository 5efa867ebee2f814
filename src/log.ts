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
}

export function createSafeLogger(logger: Logger, apiKey: string): SafeLogger {
  const secrets = secretForms([apiKey]);
  const lastLoggedAt = new Map<string, number>();
  const format = (code: RetenoInboxErrorCode, message: string) =>
    redact(`express-reteno-inbox ${code}: ${message}`, secrets);
  return {
    warn(code, message) {
      logger.warn(format(code, message));
    },
    configurationError(key, code, message, everyMs = Number.POSITIVE_INFINITY) {
      const last = lastLoggedAt.get(key);
      const now = Date.now();
      if (last !== undefined && now - last < everyMs) return;
      lastLoggedAt.set(key, now);
      logger.error(format(code, message));
    },
  };
}
