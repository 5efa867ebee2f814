export { errorCodes, RetenoInboxError, type RetenoInboxErrorCode } from './errors.js';
export { retenoInbox } from './middleware.js';
export {
  type RetenoInboxTokenCallOptions,
  retenoInboxTokenCall,
  type TokenCallRequest,
} from './token-path.js';
export type {
  Contact,
  ContactDetails,
  ContactResult,
  Logger,
  RetenoFlags,
  RetenoInboxMiddleware,
  RetenoInboxOptions,
  RetenoInboxShorthandOptions,
  TokenBudget,
} from './types.js';
export {
  type CspDirectives,
  type CspSource,
  type HelmetCspDirectives,
  type RetenoInboxCspOptions,
  retenoHosts,
  retenoInboxCsp,
} from './csp.js';
export {
  type BackoffMessage,
  type BudgetMessage,
  type ContactCreationMessage,
  channelNames,
  type TokenCallContext,
  type TokenCallOutcome,
} from './tracing.js';
