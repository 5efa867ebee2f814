/** Stable codes for every error and warning the package emits. */
export const errorCodes = {
  /** An option the package does not know (often a typo). */
  unknownOption: 'ERR_RETENO_INBOX_UNKNOWN_OPTION',
  /** A required option is missing. */
  missingOption: 'ERR_RETENO_INBOX_MISSING_OPTION',
  /** An option has a value of the wrong type or shape. */
  invalidOption: 'ERR_RETENO_INBOX_INVALID_OPTION',
  /** `resolveContact` returned a contact with no usable field or malformed values (logged at most every 10 s). */
  invalidContact: 'ERR_RETENO_INBOX_INVALID_CONTACT',
  /** The nonce for a page was not base64-like, so it was not printed (logged once per middleware). */
  invalidNonce: 'ERR_RETENO_INBOX_INVALID_NONCE',
  /** The `csrfToken` option gave a value that is not visible ASCII, or threw; the page has no CSRF header (logged once). */
  invalidCsrfToken: 'ERR_RETENO_INBOX_INVALID_CSRF_TOKEN',
  /** The token route's URL for a page would lead a browser to another origin; that page has no embed (logged once). */
  invalidTokenUrl: 'ERR_RETENO_INBOX_INVALID_TOKEN_URL',
  /** The `language` or `nonce` callback threw; the default was used (logged once per middleware). */
  callbackFailed: 'ERR_RETENO_INBOX_CALLBACK_FAILED',
  /** Reteno refused the API key: a configuration problem, never retried (logged as an error, at most once a minute). */
  upstreamAuth: 'ERR_RETENO_INBOX_UPSTREAM_AUTH',
  /** Reteno failed or was too slow after every retry (per request, logged). */
  upstreamFailed: 'ERR_RETENO_INBOX_UPSTREAM_FAILED',
  /** Reteno answers 429, or too many token requests wait for it: the route answers 503 (logged at most every 10 s). */
  upstreamBusy: 'ERR_RETENO_INBOX_UPSTREAM_BUSY',
  /** `createContact` cannot create a contact that has neither email nor phone (logged once per middleware). */
  contactCreationFailed: 'ERR_RETENO_INBOX_CONTACT_CREATION_FAILED',
  /** A contact went over its token budget: the route answers 429 (logged at most once a minute). */
  tokenBudget: 'ERR_RETENO_INBOX_TOKEN_BUDGET',
  /** Redis stalled or failed: each instance counts on its own for a while (logged at most once a minute). */
  storeUnavailable: 'ERR_RETENO_INBOX_STORE_UNAVAILABLE',
} as const;

export type RetenoInboxErrorCode = (typeof errorCodes)[keyof typeof errorCodes];

/** Marks errors of every copy of the package (its ES module and CommonJS builds), shared through the symbol registry. */
const retenoInboxErrorBrand = Symbol.for('express-reteno-inbox.RetenoInboxError');

/**
 * Thrown by `retenoInbox()` when its options are wrong. `code` is stable; `option` names the culprit.
 *
 * @example
 * try { retenoInbox({ ... }) } catch (error) {
 *   if (error instanceof RetenoInboxError && error.code === 'ERR_RETENO_INBOX_MISSING_OPTION') { ... }
 * }
 */
export class RetenoInboxError extends Error {
  override readonly name = 'RetenoInboxError';
  readonly code: RetenoInboxErrorCode;
  readonly option: string | undefined;

  constructor(code: RetenoInboxErrorCode, message: string, option?: string) {
    super(message);
    this.code = code;
    this.option = option;
  }

  static {
    Object.defineProperty(RetenoInboxError.prototype, retenoInboxErrorBrand, { value: true });
  }

  // A site may load the ES module build in one place and the CommonJS build in another, so two classes exist:
  // each one's `instanceof` also accepts errors carrying the brand, whichever copy made them.
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class `instanceof` asks about, maybe a subclass.
    return isBrandedInstance(this, RetenoInboxError, retenoInboxErrorBrand, value);
  }
}

/**
 * `instanceof` for an error class that each build of the package has a copy of: by the prototype chain, or, when
 * the class asked about is `base` itself (not a subclass), by the brand that every copy of `base` sets.
 */
export function isBrandedInstance(asked: object, base: object, brand: symbol, value: unknown): boolean {
  if (Function.prototype[Symbol.hasInstance].call(asked, value)) return true;
  return asked === base && typeof value === 'object' && value !== null && brand in value;
}
