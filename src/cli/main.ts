#!/usr/bin/env node
import { parseArgs } from 'node:util';

import { describeIssues, isGatehouseError } from '../errors.ts';
import { commands } from './commands.ts';
import { openCliContext } from './context.ts';
import { readSecret } from './stdin.ts';

export type CliIo = {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
};

function usage(group?: string): string {
  const listed = Object.entries(commands).filter(([name]) => !group || name.startsWith(`${group} `));
  return ['usage: gatehouse <command> [options] [--json]', '', 'commands:', ...listed.map(([, command]) => `  ${command.usage}`)].join('\n');
}

// Validation speaks in the names of our input objects; the CLI's user knows the flags.
const flagByField: Record<string, string> = {
  name: '--name', redirectUris: '--redirect-uri', postLogoutRedirectUris: '--post-logout-redirect-uri', grantTypes: '--grant-type',
  scope: '--scope', scopes: '--scope', identifier: '--identifier', signingAlg: '--signing-alg', accessTokenTtl: '--access-token-ttl',
  email: '--email', givenName: '--given-name', familyName: '--family-name', roles: '--role',
};

export function inFlagTerms(message: string): string {
  return message.replace(/(^|; )([A-Za-z]+)(?:\.\d+)*: /g, (whole, lead: string, field: string) => (flagByField[field] ? `${lead}${flagByField[field]}: ` : whole));
}

class UsageError extends Error {}

/** Runs one CLI invocation; returns the exit code (0 ok, 1 failed, 2 usage or configuration). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((arg) => arg !== '--json');
  if (args[0] === '--help' || args[0] === 'help') {
    io.stdout(`${usage()}\n`);
    return 0;
  }
  if (args.length === 0) {
    io.stderr(`${usage()}\n`);
    return 2;
  }
  const name = `${args[0]} ${args[1] ?? ''}`.trim();
  const command = commands[name];
  if (!command && args.length === 1 && Object.keys(commands).some((known) => known.startsWith(`${args[0]} `))) {
    io.stderr(`${usage(args[0])}\n`);
    return 2;
  }
  let store: { close(): Promise<void> } | undefined;
  try {
    if (!command) throw new UsageError(`unknown command "${name}"; run gatehouse --help`);
    let parsed;
    try {
      parsed = parseArgs({ args: args.slice(2), options: command.options, allowPositionals: true, strict: true });
    } catch (error) {
      // parseArgs' own hint matters here: a kid can start with '-', and `-- KID` passes it.
      throw new UsageError(`${(error as Error).message.split('\n')[0]}\nusage: gatehouse ${command.usage}`);
    }
    if (parsed.positionals.length !== command.positionals.length) {
      throw new UsageError(`expected ${command.positionals.join(' ') || 'no arguments'}\nusage: gatehouse ${command.usage}`);
    }
    const ctx = await openCliContext(io.env, readSecret);
    store = ctx.store;
    const result = await command.run(ctx, parsed.values as never, parsed.positionals);
    io.stdout(json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
    return result.exitCode ?? 0;
  } catch (error) {
    const message = error instanceof UsageError
      ? error.message
      : isGatehouseError(error)
        ? inFlagTerms(error.message)
        : (error as { issues?: [] }).issues
          ? describeIssues((error as { issues: [] }).issues)
          : `unexpected error: ${(error as Error).message}`;
    if (json) io.stderr(`${JSON.stringify({ error: isGatehouseError(error) ? error.code : error instanceof UsageError ? 'usage' : 'internal', message })}\n`);
    else io.stderr(`gatehouse: ${message}\n`);
    return error instanceof UsageError || (isGatehouseError(error) && error.code === 'invalid_config') ? 2 : 1;
  } finally {
    await store?.close();
  }
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2), {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}
