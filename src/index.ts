export { errorCodes, RetenoInboxError, type RetenoInboxErrorCode } from './errors.js';
export { retenoInbox } from './middleware.js';
export type {
  Contact,
  ContactResult,
  Logger,
  RetenoFlags,
  RetenoInboxMiddleware,
  RetenoInboxOptions,
  RetenoInboxShorthandOptions,
} from './types.js';
export {
  type CspDirectives,
  type CspSource,
  type RetenoInboxCspOptions,
  retenoHosts,
  retenoInboxCsp,
} from './csp.js';
export {
  type BackoffMessage,
  type BudgetMessage,
  channelNames,
  type TokenCallContext,
  type TokenCallOutcome,
} from './tracing.js';
