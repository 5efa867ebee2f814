#!/usr/bin/env node
import { doctorUsage, parseDoctorArguments, secretsIn, UsageError } from './arguments.js';
import { runChecks } from './checks.js';
import { redact, secretForms } from '../credentials.js';
import { formatJson, formatReport, printable } from './report.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const secrets = secretForms(secretsIn(args, process.env));
  // Everything printed goes through here, so no output can hold the API key, whatever goes wrong.
  const print = (stream: NodeJS.WriteStream, text: string) => stream.write(`${redact(text, secrets)}\n`);
  try {
    const command = parseDoctorArguments(args, process.env);
    if (command.kind === 'help') {
      print(process.stdout, doctorUsage);
      return;
    }
    const { settings } = command;
    const checks = await runChecks(settings);
    print(process.stdout, settings.json ? formatJson(checks) : formatReport(checks, settings.site !== null));
    process.exitCode = checks.every((check) => check.ok) ? 0 : 1;
  } catch (error) {
    if (error instanceof UsageError) {
      print(process.stderr, `reteno-inbox-doctor: ${error.message}\n\n${doctorUsage}`);
      process.exitCode = 2;
      return;
    }
    // The message only: a stack trace could quote a request and its headers.
    print(
      process.stderr,
      `reteno-inbox-doctor: ${printable(error instanceof Error ? error.message : String(error))}`,
    );
    process.exitCode = 1;
  }
}

void main();
