#!/usr/bin/env node
import { cliUsage, defaultCliApiKey, parseCliArguments } from './cli-options.js';
import { createRetenoEmulator } from './emulator.js';
import { defaultContactPath } from './options.js';

async function main(): Promise<void> {
  let command: ReturnType<typeof parseCliArguments>;
  try {
    command = parseCliArguments(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`reteno-emulator: ${(error as Error).message}\n\n${cliUsage}`);
    process.exitCode = 2;
    return;
  }
  if (command.kind === 'help') {
    console.log(cliUsage);
    return;
  }

  const { options } = command;
  // Nothing reads the request log of a stand-alone emulator, so it keeps none.
  const emulator = await createRetenoEmulator({ ...options, maxLoggedRequests: 0 });
  for (const contact of options.contacts ?? []) {
    emulator.pushMessage(contact, {
      title: 'Welcome to the Reteno emulator',
      content: 'Messages pushed to this contact appear here.',
    });
  }

  const contacts = (options.contacts ?? []).map((contact) => Object.values(contact).join(' ')).join(', ');
  console.log(
    [
      `Reteno emulator listening on ${emulator.url}`,
      `  token route: POST ${emulator.url}/v1/auth/contact/token (Basic auth; the password is the API key${
        options.apiKey === defaultCliApiKey ? ` "${defaultCliApiKey}"` : ''
      })`,
      `  contact API: POST ${emulator.url}${options.contactPath ?? defaultContactPath} (same Basic auth)`,
      `  script:      ${emulator.url}/scripts/${encodeURIComponent(options.scriptId)}.js`,
      `  contacts:    ${contacts || 'none (add some with --contact)'}`,
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
