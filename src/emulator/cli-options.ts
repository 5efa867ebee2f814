import { parseArgs } from 'node:util';
import type { Contact } from '../contact-type.js';
import type { NewInboxMessage, RetenoEmulatorOptions } from './types.js';

export const defaultCliPort = 8089;
export const defaultCliApiKey = 'emulator-api-key';
export const defaultCliScriptId = '00000000-0000-4000-8000-000000000000';
/** What each `--contact` finds in its inbox, unless `--no-welcome-message`. */
export const cliWelcomeMessage: Readonly<NewInboxMessage> = {
  title: 'Welcome to the Reteno emulator',
  content: 'Messages pushed to this contact appear here: reteno-emulator push --to <contact> --title <text>',
};

export const cliUsage = `Usage: reteno-emulator [start] [options]
       reteno-emulator <command> [--url <emulator url>] [options]

Runs a local Reteno: the contact token route, the contact API, the App Inbox API, a development widget and a
control API for the commands below.

Options of start (flags win over environment variables):
  --port <n>              port to listen on (env PORT; default ${defaultCliPort}; 0 for any free port)
  --host <address>        interface to listen on (env RETENO_EMULATOR_HOST; default 127.0.0.1); whatever it
                          is, only loopback host names and this one are served
  --api-key <key>         password of the token route's Basic auth
                          (env RETENO_EMULATOR_API_KEY; default ${defaultCliApiKey})
  --script-id <id>        the widget is served at /scripts/<id>.js
                          (env RETENO_EMULATOR_SCRIPT_ID; default ${defaultCliScriptId})
  --contact <contact>     a known contact, repeatable: an e-mail, phone=<phone> or externalCustomerId=<id>
                          (env RETENO_EMULATOR_CONTACTS, comma-separated)
  --no-welcome-message    give the --contact contacts an empty inbox (default: a welcome message each)
  --bell-selector <css>   element the bell is appended to (default: fixed in the top-right corner)
  --poll-interval-ms <n>  how often the widget refreshes the unread count (default 5000)
  --token-ttl-ms <n>      how long an unused token works (default 3600000, an hour)
  --cors-origin <origin>  an origin allowed to call the App Inbox API, repeatable (default: any)
  --contact-path <path>   path of the contact API (default /api/v1/contact)
  --contact-repeat-window-ms <n>
                          how long the contact API answers 409 to the same body again (default 60000;
                          0: never)
  --contact-rate-limit <requests>/<ms>
                          contact API requests answered per window before 429 (default 200/1000)
  -h, --help              show this help

Commands for a running emulator, through its control API:
  push --to <contact> --title <text> [--content <text>] [--link <url>] [--image <url>]
                          put an unread message in the contact's inbox
  messages --contact <contact> [--json]
                          list the contact's messages, newest first
  contacts [--json]       list the known contacts
  add-contact --contact <contact>
                          make a contact known
  invalidate-tokens (--contact <contact> | --all)
                          end the contact's tokens (or everyone's): the App Inbox API answers 401 to them
  fail --kind <kind> [--status <n>] [--times <n>] [--route token|inbox|contact|all]
       [--retry-after <seconds or date>] [--delay-ms <n>]
                          queue a fault: status, timeout, reset, garbage, malformed-json, trickle, oversize
  clear-faults            drop every queued fault
  --url <url>             the emulator (env RETENO_EMULATOR_URL; default http://127.0.0.1:${defaultCliPort})

A <contact> is an e-mail, phone=<phone> or externalCustomerId=<id>.`;

export type StartCommand = { kind: 'start'; options: RetenoEmulatorOptions & { port: number } };

/**
 * Reads the command line of `reteno-emulator [start]` and the environment; throws an Error that names the bad
 * flag.
 */
export function parseCliArguments(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { kind: 'help' } | StartCommand {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'api-key': { type: 'string' },
      'script-id': { type: 'string' },
      contact: { type: 'string', multiple: true },
      'bell-selector': { type: 'string' },
      'poll-interval-ms': { type: 'string' },
      'token-ttl-ms': { type: 'string' },
      'cors-origin': { type: 'string', multiple: true },
      'contact-path': { type: 'string' },
      'contact-repeat-window-ms': { type: 'string' },
      'contact-rate-limit': { type: 'string' },
      'no-welcome-message': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { kind: 'help' };

  const contacts = values.contact ?? splitList(env.RETENO_EMULATOR_CONTACTS);
  const options: RetenoEmulatorOptions & { port: number } = {
    port: integer('--port', values.port ?? env.PORT, defaultCliPort),
    host: values.host ?? env.RETENO_EMULATOR_HOST ?? '127.0.0.1',
    apiKey: values['api-key'] ?? env.RETENO_EMULATOR_API_KEY ?? defaultCliApiKey,
    scriptId: values['script-id'] ?? env.RETENO_EMULATOR_SCRIPT_ID ?? defaultCliScriptId,
    contacts: contacts.map((text) => parseContact(text)),
    controlApi: true,
  };
  if (!values['no-welcome-message']) options.welcomeMessage = { ...cliWelcomeMessage };
  if (values['bell-selector'] !== undefined) options.bellSelector = values['bell-selector'];
  if (values['poll-interval-ms'] !== undefined) {
    options.pollIntervalMs = integer('--poll-interval-ms', values['poll-interval-ms'], 5000);
  }
  if (values['token-ttl-ms'] !== undefined) {
    options.tokenTtlMs = integer('--token-ttl-ms', values['token-ttl-ms'], 60 * 60 * 1000);
  }
  if (values['cors-origin'] !== undefined) options.corsOrigins = values['cors-origin'];
  if (values['contact-path'] !== undefined) options.contactPath = values['contact-path'];
  if (values['contact-repeat-window-ms'] !== undefined) {
    options.contactRepeatWindowMs = integer(
      '--contact-repeat-window-ms',
      values['contact-repeat-window-ms'],
      60_000,
    );
  }
  if (values['contact-rate-limit'] !== undefined) {
    options.contactRateLimit = parseRateLimit(values['contact-rate-limit']);
  }
  return { kind: 'start', options };
}

/** `anna@example.com`, `email=…`, `phone=…` or `externalCustomerId=…`; `flag` names it in the error. */
export function parseContact(text: string, flag = '--contact'): Contact {
  const value = text.trim();
  const match = /^(email|phone|externalCustomerId)=(.+)$/.exec(value);
  if (match?.[1] !== undefined && match[2] !== undefined) return { [match[1]]: match[2] };
  if (value.includes('@')) return { email: value };
  throw new Error(
    `${flag} ${JSON.stringify(text)}: give an e-mail, phone=<phone> or externalCustomerId=<id>.`,
  );
}

/** `<requests>/<ms>`, e.g. `200/1000`. */
function parseRateLimit(text: string): { requests: number; perMs: number } {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) {
    throw new Error(
      `--contact-rate-limit must be <requests>/<ms>, e.g. 200/1000 (received ${JSON.stringify(text)}).`,
    );
  }
  return { requests: Number(match[1]), perMs: Number(match[2]) };
}

export function integer(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text.trim() === '') return fallback;
  if (!/^\d+$/.test(text.trim()))
    throw new Error(`${flag} must be a whole number (received ${JSON.stringify(text)}).`);
  return Number(text);
}

function splitList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
