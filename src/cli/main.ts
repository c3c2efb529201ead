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

type CommandShape = { options: Record<string, { type: 'string' | 'boolean' }>; positionals: string[] };

/**
 * The arguments for parseArgs with every positional argument after a `--`, so that a positional
 * argument may begin with '-' (a kid is base64url: it can), as in `gatehouse keys revoke -Xa3…`.
 * An argument that is not one of the command's options fills the next free positional slot; a `--`
 * ends the options as usual. Once the positionals are all filled, an unknown option is left for
 * parseArgs to report.
 */
export function positionalsLast(args: string[], command: CommandShape): string[] {
  const options: string[] = [];
  const positionals: string[] = [];
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (arg === '--') {
      positionals.push(...args.slice(index + 1));
      break;
    }
    const option = arg.startsWith('--') ? command.options[arg.slice(2).split('=')[0]!] : undefined;
    if (option) {
      const value = args[index + 1];
      // `--name -x` as `--name=-x`: a value may begin with '-' too.
      if (option.type === 'string' && !arg.includes('=') && value !== undefined && value !== '--') {
        options.push(`${arg}=${value}`);
        index += 1;
      } else {
        options.push(arg);
      }
    } else if (arg.startsWith('-') && arg !== '-' && positionals.length >= command.positionals.length) {
      options.push(arg);
    } else {
      positionals.push(arg);
    }
  }
  return [...options, '--', ...positionals];
}

/** `--json` anywhere before a `--`; after it, every argument is the command's own. */
function splitJsonFlag(argv: string[]): { json: boolean; args: string[] } {
  const end = argv.indexOf('--');
  const head = end === -1 ? argv : argv.slice(0, end);
  const tail = end === -1 ? [] : argv.slice(end);
  return { json: head.includes('--json'), args: [...head.filter((arg) => arg !== '--json'), ...tail] };
}

/** Runs one CLI invocation; returns the exit code (0 ok, 1 failed, 2 usage or configuration). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const { json, args } = splitJsonFlag(argv);
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
      parsed = parseArgs({ args: positionalsLast(args.slice(2), command), options: command.options, allowPositionals: true, strict: true });
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
