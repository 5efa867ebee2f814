#!/usr/bin/env node
import {
  type ControlCommand,
  isControlCommandName,
  parseControlCommand,
  runControlCommand,
} from './cli-control.js';
import {
  cliUsage,
  defaultCliApiKey,
  defaultCliPort,
  parseCliArguments,
  type StartCommand,
} from './cli-options.js';
import { controlPathPrefix } from './control-api.js';
import { createRetenoEmulator } from './emulator.js';
import { defaultContactPath } from './options.js';

/** `reteno-emulator [start] …` or `reteno-emulator <command> …`, read from the arguments and the environment. */
function parseCommandLine(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { kind: 'help' } | StartCommand | ControlCommand {
  const [first = '', ...rest] = args;
  if (first === 'start') return parseCliArguments(rest, env);
  if (isControlCommandName(first)) return parseControlCommand(first, rest, env);
  if (first !== '' && !first.startsWith('-')) throw new Error(`unknown command ${JSON.stringify(first)}.`);
  return parseCliArguments(args, env);
}

async function main(): Promise<void> {
  let command: ReturnType<typeof parseCommandLine>;
  try {
    command = parseCommandLine(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`reteno-emulator: ${(error as Error).message}\n\n${cliUsage}`);
    process.exitCode = 2;
    return;
  }
  if (command.kind === 'help') {
    console.log(cliUsage);
    return;
  }
  if (command.kind === 'control') {
    const { exitCode, output } = await runControlCommand(command);
    if (exitCode === 0) console.log(output);
    else console.error(output);
    process.exitCode = exitCode;
    return;
  }
  await start(command);
}

async function start({ options }: StartCommand): Promise<void> {
  // Nothing reads the request log of a stand-alone emulator, so it keeps none.
  const emulator = await createRetenoEmulator({ ...options, maxLoggedRequests: 0 });

  const contacts = (options.contacts ?? []).map((contact) => Object.values(contact).join(' ')).join(', ');
  const welcome = options.welcomeMessage && contacts !== '' ? ' (a welcome message each)' : '';
  console.log(
    [
      `Reteno emulator listening on ${emulator.url}`,
      `  token route: POST ${emulator.url}/v1/auth/contact/token (Basic auth; the password is the API key${
        options.apiKey === defaultCliApiKey ? ` "${defaultCliApiKey}"` : ''
      })`,
      `  contact API: POST ${emulator.url}${options.contactPath ?? defaultContactPath} (same Basic auth)`,
      `  script:      ${emulator.url}/scripts/${encodeURIComponent(options.scriptId)}.js`,
      `  control API: ${emulator.url}${controlPathPrefix} (for this machine's programs, not web pages)`,
      `  contacts:    ${contacts || 'none (add some with --contact)'}${welcome}`,
      `Push a message: reteno-emulator push${
        emulator.url === `http://127.0.0.1:${defaultCliPort}` ? '' : ` --url ${emulator.url}`
      } --to <contact> --title <text>`,
      'Press Ctrl+C to stop.',
    ].join('\n'),
  );

  const stop = () => {
    void emulator.close().then(() => console.log('Reteno emulator stopped.'));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`reteno-emulator: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
