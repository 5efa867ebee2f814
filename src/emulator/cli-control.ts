import { parseArgs } from 'node:util';
import type { Contact } from '../contact-type.js';
import { parseJson } from './api-request.js';
import { defaultCliPort, integer, parseContact } from './cli-options.js';
import type { EmulatorContact, EmulatorFault, InboxMessage } from './types.js';

/** The commands that act on a running emulator through its control API. */
export const controlCommandNames = [
  'push',
  'messages',
  'contacts',
  'add-contact',
  'invalidate-tokens',
  'fail',
  'clear-faults',
] as const;
export type ControlCommandName = (typeof controlCommandNames)[number];

/** One call to the control API, and how its answer is printed. */
export interface ControlCall {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path and query, e.g. `/_emulator/messages?email=anna%40example.com`. */
  path: string;
  /** Sent as JSON; absent for GET and DELETE. */
  body?: unknown;
  /** What to print for a successful answer (its JSON value, `undefined` for 204). */
  show(answer: unknown): string;
}

export interface ControlCommand {
  kind: 'control';
  name: ControlCommandName;
  /** The emulator's base URL, without a trailing slash. */
  url: string;
  call: ControlCall;
}

export function isControlCommandName(name: string): name is ControlCommandName {
  return (controlCommandNames as readonly string[]).includes(name);
}

/** Reads a command's flags (`args` is what follows its name); throws an Error that names the bad flag. */
export function parseControlCommand(
  name: ControlCommandName,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ControlCommand | { kind: 'help' } {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      to: { type: 'string' },
      title: { type: 'string' },
      content: { type: 'string' },
      link: { type: 'string' },
      image: { type: 'string' },
      contact: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
      kind: { type: 'string' },
      status: { type: 'string' },
      times: { type: 'string' },
      route: { type: 'string' },
      'retry-after': { type: 'string' },
      'delay-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { kind: 'help' };
  const used = Object.keys(values).filter((flag) => flag !== 'url');
  const allowed = new Set(commandFlags[name]);
  const stray = used.find((flag) => !allowed.has(flag));
  if (stray !== undefined) throw new Error(`${name} takes no --${stray}.`);

  const url = emulatorUrl(values.url ?? env.RETENO_EMULATOR_URL);
  const required = (flag: 'to' | 'title' | 'contact' | 'kind'): string => {
    const value = values[flag];
    if (value === undefined || value.trim() === '') throw new Error(`${name} needs --${flag}.`);
    return value;
  };
  const json = values.json === true;
  switch (name) {
    case 'push': {
      const to = parseContact(required('to'), '--to');
      const message = {
        title: required('title'),
        content: values.content ?? '',
        ...(values.link === undefined ? {} : { link: values.link }),
        ...(values.image === undefined ? {} : { image: values.image }),
      };
      return control(name, url, {
        method: 'POST',
        path: '/_emulator/messages',
        body: { contact: to, message },
        show: (answer) =>
          json
            ? JSON.stringify(answer, null, 2)
            : `Pushed ${JSON.stringify(message.title)} to ${contactText(to)} (message ${(answer as InboxMessage).id}).`,
      });
    }
    case 'messages': {
      const contact = parseContact(required('contact'));
      return control(name, url, {
        method: 'GET',
        path: `/_emulator/messages?${new URLSearchParams(contact as Record<string, string>)}`,
        show: (answer) => (json ? JSON.stringify(answer, null, 2) : messagesText(answer as InboxMessage[])),
      });
    }
    case 'contacts':
      return control(name, url, {
        method: 'GET',
        path: '/_emulator/contacts',
        show: (answer) =>
          json ? JSON.stringify(answer, null, 2) : contactsText(answer as EmulatorContact[]),
      });
    case 'add-contact': {
      const contact = parseContact(required('contact'));
      return control(name, url, {
        method: 'POST',
        path: '/_emulator/contacts',
        body: contact,
        show: (answer) => `Contact ${contactsText([answer as EmulatorContact])}`,
      });
    }
    case 'invalidate-tokens': {
      if ((values.contact === undefined) === (values.all !== true)) {
        throw new Error('invalidate-tokens needs --contact <contact> or --all.');
      }
      const contact = values.contact === undefined ? undefined : parseContact(values.contact);
      return control(name, url, {
        method: 'POST',
        path: '/_emulator/invalidate-tokens',
        body: contact === undefined ? {} : { contact },
        show: () =>
          contact === undefined
            ? "Every contact's tokens ended."
            : `The tokens of ${contactText(contact)} ended.`,
      });
    }
    case 'fail': {
      const fault = faultOf(required('kind'), values);
      return control(name, url, {
        method: 'POST',
        path: '/_emulator/faults',
        body: fault,
        show: () => `Fault queued: ${JSON.stringify(fault)}.`,
      });
    }
    case 'clear-faults':
      return control(name, url, {
        method: 'DELETE',
        path: '/_emulator/faults',
        show: () => 'Faults cleared.',
      });
  }
}

/** The flags each command takes, besides --url and --help. */
const commandFlags: Readonly<Record<ControlCommandName, readonly string[]>> = {
  push: ['to', 'title', 'content', 'link', 'image', 'json'],
  messages: ['contact', 'json'],
  contacts: ['json'],
  'add-contact': ['contact'],
  'invalidate-tokens': ['contact', 'all'],
  fail: ['kind', 'status', 'times', 'route', 'retry-after', 'delay-ms'],
  'clear-faults': [],
};

/**
 * Sends the command's call; returns what to print and the exit code. Never throws: an emulator that is not there,
 * or something else at its URL, is told in words.
 */
export async function runControlCommand(
  command: ControlCommand,
  timeoutMs = 10_000,
): Promise<{ exitCode: number; output: string }> {
  const { name, url, call } = command;
  const target = `${url}${call.path}`;
  let response: Response;
  try {
    response = await fetch(target, {
      method: call.method,
      ...(call.body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(call.body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return {
      exitCode: 1,
      output:
        `reteno-emulator ${name}: no Reteno emulator answers at ${url} (${causeOf(error)}). Start one with ` +
        '`npx reteno-emulator`, or pass --url.',
    };
  }
  const isJson = response.headers.get('content-type')?.startsWith('application/json') === true;
  const answer = isJson ? parseJson(await response.text()) : undefined;
  if (response.status === 204 || (response.ok && answer !== undefined)) {
    return { exitCode: 0, output: call.show(answer) };
  }
  if (isControlError(answer)) {
    const message = answer.message.replace(/\.$/, '');
    return { exitCode: 1, output: `reteno-emulator ${name}: ${message} (HTTP ${response.status}).` };
  }
  return {
    exitCode: 1,
    output:
      `reteno-emulator ${name}: ${target} answered HTTP ${response.status}, not as a Reteno emulator's control ` +
      'API does. Is a Reteno emulator running there (`npx reteno-emulator`, or createRetenoEmulator with ' +
      '`controlApi: true`)?',
  };
}

function control(name: ControlCommandName, url: string, call: ControlCall): ControlCommand {
  return { kind: 'control', name, url, call };
}

function emulatorUrl(text: string | undefined): string {
  const given = text ?? `http://127.0.0.1:${defaultCliPort}`;
  let url: URL | undefined;
  try {
    url = new URL(given);
  } catch {
    url = undefined;
  }
  if (
    !url ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new Error(
      `--url must be the emulator's base URL, e.g. http://127.0.0.1:${defaultCliPort} (received ${JSON.stringify(given)}).`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

function faultOf(
  kind: string,
  values: { status?: string; times?: string; route?: string; 'retry-after'?: string; 'delay-ms'?: string },
): EmulatorFault {
  const fault: Record<string, unknown> = { kind };
  if (values.status !== undefined) fault.status = integer('--status', values.status, 500);
  if (values.times !== undefined) fault.times = integer('--times', values.times, 1);
  if (values.route !== undefined) fault.route = values.route;
  if (values['delay-ms'] !== undefined) fault.delayMs = integer('--delay-ms', values['delay-ms'], 0);
  const retryAfter = values['retry-after'];
  if (retryAfter !== undefined) fault.retryAfter = /^\d+$/.test(retryAfter) ? Number(retryAfter) : retryAfter;
  // The emulator checks the rest (kind, route, which fields a kind takes) and says what is wrong.
  return fault as unknown as EmulatorFault;
}

function contactText(contact: Contact): string {
  return Object.values(contact).join(' ');
}

function contactsText(contacts: EmulatorContact[]): string {
  if (contacts.length === 0) return 'No contacts.';
  return contacts
    .map((contact) => {
      const fields = (['email', 'phone', 'externalCustomerId'] as const).flatMap((field) =>
        contact[field] === null ? [] : [field === 'email' ? contact[field] : `${field}=${contact[field]}`],
      );
      return `${contact.id}: ${fields.join(' ')} (${contact.createdBy})`;
    })
    .join('\n');
}

function messagesText(messages: InboxMessage[]): string {
  if (messages.length === 0) return 'No messages.';
  return messages
    .map((message) => {
      const when = new Date(message.createdDate).toISOString();
      const content = message.content === '' ? '' : `: ${message.content}`;
      return `${message.status === 'UNOPENED' ? 'unread' : 'read  '}  ${when}  ${message.title}${content}`;
    })
    .join('\n');
}

function isControlError(answer: unknown): answer is { error: string; message: string } {
  return (
    typeof answer === 'object' &&
    answer !== null &&
    typeof (answer as { error?: unknown }).error === 'string' &&
    typeof (answer as { message?: unknown }).message === 'string'
  );
}

/** `ECONNREFUSED`, `no answer in time`, …: why a request got no answer. */
function causeOf(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.message;
  return error instanceof Error ? error.message : String(error);
}
