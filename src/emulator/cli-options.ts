import { parseArgs } from 'node:util';
import type { Contact } from '../contact-type.js';
import type { RetenoEmulatorOptions } from './types.js';

export const defaultCliPort = 8089;
export const defaultCliApiKey = 'emulator-api-key';
export const defaultCliScriptId = '00000000-0000-4000-8000-000000000000';

export const cliUsage = `Usage: reteno-emulator [options]

Runs a local Reteno: the contact token route, the contact API, the App Inbox API and a development widget.

Options (flags win over environment variables):
  --port <n>              port to listen on (env PORT; default ${defaultCliPort}; 0 for any free port)
  --host <address>        interface to listen on (env RETENO_EMULATOR_HOST; default 127.0.0.1); whatever it
                          is, only loopback host names and this one are served
  --api-key <key>         password of the token route's Basic auth
                          (env RETENO_EMULATOR_API_KEY; default ${defaultCliApiKey})
  --script-id <id>        the widget is served at /scripts/<id>.js
                          (env RETENO_EMULATOR_SCRIPT_ID; default ${defaultCliScriptId})
  --contact <contact>     a known contact, repeatable: an e-mail, phone=<phone> or externalCustomerId=<id>
                          (env RETENO_EMULATOR_CONTACTS, comma-separated); each gets a welcome message
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
  -h, --help              show this help`;

export type CliCommand =
  { kind: 'help' } | { kind: 'start'; options: RetenoEmulatorOptions & { port: number } };

/** Reads the command line and the environment; throws an Error that names the bad flag. */
export function parseCliArguments(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CliCommand {
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
    contacts: contacts.map(parseContact),
  };
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

/** `anna@example.com`, `email=…`, `phone=…` or `externalCustomerId=…`. */
export function parseContact(text: string): Contact {
  const value = text.trim();
  const match = /^(email|phone|externalCustomerId)=(.+)$/.exec(value);
  if (match?.[1] !== undefined && match[2] !== undefined) return { [match[1]]: match[2] };
  if (value.includes('@')) return { email: value };
  throw new Error(
    `--contact ${JSON.stringify(text)}: give an e-mail, phone=<phone> or externalCustomerId=<id>.`,
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

function integer(flag: string, text: string | undefined, fallback: number): number {
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
