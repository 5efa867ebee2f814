import type { Contact } from '../contact-type.js';
import { ControlApi } from './control-api.js';
import { FaultQueue } from './faults.js';
import { parseEmulatorOptions } from './options.js';
import { RequestLog } from './request-log.js';
import { EmulatorServer } from './server.js';
import { contactKeyOrThrow, InboxStore } from './store.js';
import type {
  EmulatorFault,
  LoggedRequest,
  NewInboxMessage,
  RetenoEmulator,
  RetenoEmulatorOptions,
} from './types.js';
import { readWidgetSource } from './widget.js';

/**
 * Starts a local Reteno: the contact token route, the contact API, the App Inbox API and a development widget
 * served in place of Reteno's website script, and with `controlApi` the control API under `/_emulator/`. Listens
 * on loopback unless `host` says otherwise.
 *
 * @example
 * const emulator = await createRetenoEmulator({
 *   apiKey: 'test-api-key',
 *   scriptId: '00000000-0000-4000-8000-000000000000',
 *   contacts: [{ email: 'anna@example.com' }],
 * });
 * emulator.pushMessage({ email: 'anna@example.com' }, { title: 'Welcome', content: 'Your first message' });
 * // Point the site at emulator.url (token route and script), then:
 * await emulator.close();
 */
export async function createRetenoEmulator(options: RetenoEmulatorOptions): Promise<RetenoEmulator> {
  const config = parseEmulatorOptions(options);
  const store = new InboxStore(config.tokenTtlMs, config.maxStoreBytes);
  // A Set: two entries of `contacts` that share a field are one contact, with one welcome message.
  const initial = new Set(config.contacts.map((contact) => store.add(contact, 'createRetenoEmulator()')));
  const { welcomeMessage } = config;
  if (welcomeMessage) {
    for (const contact of initial) store.pushMessage(contact, welcomeMessage, 'createRetenoEmulator()');
  }
  const faults = new FaultQueue();
  const log = new RequestLog(config.maxLoggedRequests, config.maxLoggedBytes);
  const controlApi = config.controlApi ? new ControlApi(store, faults) : null;
  const server = new EmulatorServer(config, store, faults, log, await readWidgetSource(), controlApi);
  const url = await server.listen();

  return {
    url,
    get requests(): readonly LoggedRequest[] {
      return log.entries;
    },
    addContact(contact: Contact): void {
      store.add(contactKeyOrThrow(contact, 'addContact'));
    },
    contacts: () => store.list(),
    pushMessage: (contact: Contact, message: NewInboxMessage) =>
      store.pushMessage(store.findOrThrow(contact, 'pushMessage'), message),
    messagesOf: (contact: Contact) =>
      store.findOrThrow(contact, 'messagesOf').messages.map((message) => ({ ...message })),
    invalidateTokens(contact?: Contact): void {
      store.invalidateTokens(
        contact === undefined ? undefined : store.findOrThrow(contact, 'invalidateTokens'),
      );
    },
    fail: (fault: EmulatorFault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    clearRequests: () => log.clear(),
    close: () => server.close(),
  };
}
