import { setTimeout as sleep } from 'node:timers/promises';
import type { Request } from 'express';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { ValidContact } from './contact.js';
import { errorCodes } from './errors.js';
import type { SafeLogger } from './log.js';
import type { RetenoAnswer, RetenoClient, TokenOutcome } from './reteno-client.js';
import { contactKey, type Guarded, type TokenGuard } from './token-guard.js';
import { publishContactCreation } from './tracing.js';
import type { Config, ContactDetails } from './types.js';

/** How long to wait before asking again for the token of a contact Reteno is still creating. */
const askAgainMs = 300;
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

/** Wraps a call to Reteno (to time it for a trace) or gives it back as it is. */
export type TimeReteno = <Answer extends RetenoAnswer>(call: () => Promise<Answer>) => () => Promise<Answer>;

export type TokenForNewContact = (
  req: Request,
  contact: ValidContact,
  deadline: number,
  timed: TimeReteno,
) => Promise<Guarded<TokenOutcome>>;

/**
 * For a contact Reteno does not know: creates it through Reteno's contact API (at most once a minute per contact
 * and instance, within the token guard like every call to Reteno), then asks for its token again until Reteno has
 * one or the deadline comes. Reteno's 409 means the contact is being created already: its token is asked for too.
 */
export function createContactCreation(
  config: Pick<Config, 'createContact'>,
  client: RetenoClient,
  guard: TokenGuard,
  log: SafeLogger,
): TokenForNewContact | undefined {
  const details = config.createContact;
  if (details === false) return undefined;
  const recentlyCreated = new RateLimiterMemory({
    keyPrefix: 'reteno-inbox:creation',
    points: 1,
    duration: 60,
  });

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

  return async function tokenForNewContact(req, contact, deadline, timed) {
    const body = contactBody(contact, await detailsFor(req, contact));
    if (body === undefined) {
      log.configurationError(
        'createContact-no-channel',
        errorCodes.contactCreationFailed,
        'A contact with neither email nor phone cannot be created in Reteno (it needs a channel); the token route answers 404 for it.',
      );
      return { kind: 'not-found', attempts: 0 };
    }
    const first = await recentlyCreated.consume(contactKey(contact)).then(
      () => true,
      () => false,
    );
    if (first) {
      const created = await guard.callReteno(
        deadline,
        timed(() => client.upsertContact(body, deadline)),
      );
      publishContactCreation(
        created.kind === 'auth-refused' ? 'refused' : created.kind,
        'attempts' in created ? created.attempts : 0,
      );
      if (created.kind === 'failed') return { ...created, detail: `creating the contact: ${created.detail}` };
      if (created.kind !== 'upserted' && created.kind !== 'repeated') return created;
    }
    for (;;) {
      const outcome = await guard.callReteno(
        deadline,
        timed(() => client.requestContactToken(contact, deadline)),
      );
      if (outcome.kind !== 'not-found' || Date.now() + askAgainMs >= deadline) return outcome;
      await sleep(askAgainMs);
    }
  };
}
