export { createRetenoEmulator } from './emulator.js';
export { emulatorErrorCodes, RetenoEmulatorError, type RetenoEmulatorErrorCode } from './errors.js';
export type {
  AuthorizationCheck,
  EmulatorContact,
  EmulatorFault,
  EmulatorFaultKind,
  EmulatorFaultRoute,
  InboxMessage,
  LoggedRequest,
  NewInboxMessage,
  RetenoEmulator,
  RetenoEmulatorOptions,
} from './types.js';
