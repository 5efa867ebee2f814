import { isBrandedInstance } from '../errors.js';

const retenoEmulatorErrorBrand = Symbol.for('express-reteno-inbox.RetenoEmulatorError');

/** Stable codes of the errors the emulator throws. */
export const emulatorErrorCodes = {
  /** `createRetenoEmulator` received an unknown option or a value of the wrong type or shape. */
  invalidOption: 'ERR_RETENO_EMULATOR_INVALID_OPTION',
  /** A contact has none of email, phone, externalCustomerId, or a field that is not a string. */
  invalidContact: 'ERR_RETENO_EMULATOR_INVALID_CONTACT',
  /** `pushMessage`, `messagesOf` or `invalidateTokens` named a contact the emulator does not know. */
  unknownContact: 'ERR_RETENO_EMULATOR_UNKNOWN_CONTACT',
  /** `pushMessage` received a message without a string title and content, or with a non-string link or image. */
  invalidMessage: 'ERR_RETENO_EMULATOR_INVALID_MESSAGE',
  /** `fail` received a fault it cannot play. */
  invalidFault: 'ERR_RETENO_EMULATOR_INVALID_FAULT',
  /**
   * A contact or message would take the emulator's contacts and messages past `maxStoreBytes`; nothing was
   * changed. The contact API and the control API answer 507.
   */
  storeFull: 'ERR_RETENO_EMULATOR_STORE_FULL',
} as const;

export type RetenoEmulatorErrorCode = (typeof emulatorErrorCodes)[keyof typeof emulatorErrorCodes];

/**
 * Thrown by the emulator's factory and methods when they are called wrongly. `code` is stable.
 *
 * @example
 * try { emulator.pushMessage({ email: 'nobody@example.com' }, { title: 'Hi', content: '' }) } catch (error) {
 *   if (error instanceof RetenoEmulatorError && error.code === 'ERR_RETENO_EMULATOR_UNKNOWN_CONTACT') { ... }
 * }
 */
export class RetenoEmulatorError extends Error {
  override readonly name = 'RetenoEmulatorError';
  readonly code: RetenoEmulatorErrorCode;

  constructor(code: RetenoEmulatorErrorCode, message: string) {
    super(message);
    this.code = code;
  }

  static {
    Object.defineProperty(RetenoEmulatorError.prototype, retenoEmulatorErrorBrand, { value: true });
  }

  // As for RetenoInboxError: the ES module and CommonJS builds each have a copy of this class.
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class `instanceof` asks about, maybe a subclass.
    return isBrandedInstance(this, RetenoEmulatorError, retenoEmulatorErrorBrand, value);
  }
}
