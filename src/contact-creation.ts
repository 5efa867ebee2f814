import type { Request } from 'express';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { ValidContact } from './contact.js';
import { errorCodes } from './errors.js';
import type { Guarded, TokenGuard, Visit } from './token-guard.js';
import type { SafeLogger } from './log.js';
import type { RetenoClient, TokenOutcome } from './reteno-client.js';
import { publishContactCreation } from './tracing.js';
import type { Config, ContactDetails } from './types.js';

/** How long to wait before asking again for the token of a contact Reteno is still creating; doubled each time. */
const askAgainMs = 300;
/** The most times one route call asks again for a new contact's token, each counted against its budget. */
const maxAskAgain = 3;
/** Reteno answers 409 to a repeated creation within a minute: one creation per contact and minute. */
const creationWindowSeconds = 60;
const detailFields = ['firstName', 'lastName', 'languageCode', 'timeZone'] as const;
const maxDetailLength = 256;

/**
 * Reteno's `Contact` for a signed-in visitor: the e-mail and phone as channels, `externalCustomerId`, and the
 * site's details. `undefined` when the contact has neither e-mail nor phone: Reteno requires a channel.
 */
export function contactBody(contact: ValidContact, details: ContactDetails): object | undefined {
  const channels = [
    ...(contact.email ? [{ type: 'email', value: contact.email }] : []),
    ...(contact.phone ? [{ type: 'sms', value: contact.phone }] : []),
  ];
  if (channels.length === 0) return undefined;
  const body: Record<string, unknown> = { channels };
  if (contact.externalCustomerId) body.externalCustomerId = contact.externalCustomerId;
  for (const field of detailFields) {
    const value = details[field];
    if (typeof value === 'string' && value !== '' && value.length <= maxDetailLength) body[field] = value;
  }
  return body;
}

/** A new contact's token: Reteno's answer, the guard's, or the contact's budget spent while asking again. */
export type NewContactOutcome = Guarded<TokenOutcome> | { kind: 'over-budget'; retryAfterSeconds: number };

export type TokenForNewContact = (
  req: Request,
  contact: ValidContact,
  visit: Visit,
) => Promise<NewContactOutcome>;

/**
 * For a contact Reteno does not know: creates it through Reteno's contact API (at most once a minute per contact,
 * shared by the instances with `redis`, within the token guard like every call to Reteno), then asks for its token
 * again, at most 3 times, 300, 600 and 1,200 ms apart, each counted against the contact's budget. Reteno's 409 means
 * the contact is being created already: its token is asked for too. A 400 (Reteno refuses the contact) ends creation
 * for that contact for the minute: its calls then get 404 without asking again.
 */
export function createContactCreation(
  config: Pick<Config, 'createContact'>,
  client: RetenoClient,
  guard: TokenGuard,
  log: SafeLogger,
): TokenForNewContact | undefined {
  const details = config.createContact;
  if (details === false) return undefined;
  // One point a minute per contact: the call that takes it creates the contact.
  const creations = guard.store.counter('creation', 1, creationWindowSeconds);
  // Set for a minute when Reteno refused to create the contact (400).
  const refusals = guard.store.counter('creation-refused', 1, creationWindowSeconds);

  const detailsFor = async (req: Request, contact: ValidContact): Promise<ContactDetails> => {
    try {
      return (await details(req, { ...contact })) ?? {};
    } catch {
      log.configurationError(
        'createContact-threw',
        errorCodes.callbackFailed,
        'The createContact option threw; the contact was created without details.',
      );
      return {};
    }
  };

  /** `create` when this call creates the contact, `created` when one did within the minute, `refused` after a 400. */
  const claim = async (visit: Visit): Promise<'create' | 'created' | 'refused'> => {
    const refused = await refusals.run(visit.contactKey, visit.deadline, (counter, key) => counter.get(key));
    if (refused !== null && refused.consumedPoints > 0) return 'refused';
    try {
      await creations.run(visit.contactKey, visit.deadline, (counter, key) => counter.consume(key));
      return 'create';
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      return 'created';
    }
  };

  return async function tokenForNewContact(req, contact, visit) {
    const body = contactBody(contact, await detailsFor(req, contact));
    if (body === undefined) {
      log.configurationError(
        'createContact-no-channel',
        errorCodes.contactCreationFailed,
        'A contact with neither email nor phone cannot be created in Reteno (it needs a channel); the token route answers 404 for it.',
      );
      return { kind: 'not-found', attempts: 0 };
    }
    const claimed = await claim(visit);
    if (claimed === 'refused') return { kind: 'not-found', attempts: 0 };
    if (claimed === 'create') {
      const created = await visit.call('contact', () => client.upsertContact(body, visit.deadline));
      publishContactCreation(
        created.kind === 'auth-refused' ? 'refused' : created.kind,
        'attempts' in created ? created.attempts : 0,
      );
      if (created.kind === 'busy' || (created.kind === 'timeout' && created.attempts === 0)) {
        // It never reached Reteno (a back-off, a full line): the next call may create the contact.
        await creations.run(visit.contactKey, visit.deadline, (counter, key) => counter.delete(key));
      }
      if (created.kind === 'failed' && created.status === 400) {
        // Reteno refuses this contact: asking again within the minute would get the same answer.
        await refusals.run(visit.contactKey, visit.deadline, (counter, key) =>
          counter.block(key, creationWindowSeconds),
        );
      }
      if (created.kind === 'failed') return { ...created, detail: `creating the contact: ${created.detail}` };
      if (created.kind !== 'upserted' && created.kind !== 'repeated') return created;
    }
    let outcome: NewContactOutcome = { kind: 'not-found', attempts: 0 };
    for (let asked = 0; asked < maxAskAgain; asked++) {
      const pauseMs = askAgainMs * 2 ** asked;
      if (Date.now() + pauseMs >= visit.deadline) break;
      // The global timer, so that tests can fake it.
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      const overBudgetMs = await visit.spendBudget();
      if (overBudgetMs > 0) return { kind: 'over-budget', retryAfterSeconds: Math.ceil(overBudgetMs / 1000) };
      outcome = await visit.call('token', () => client.requestContactToken(contact, visit.deadline));
      if (outcome.kind !== 'not-found') break;
    }
    return outcome;
  };
}
