#!/usr/bin/env node
import { parseArgs } from 'node:util';

import { isGatehouseError } from '../errors.ts';
import type { Issue } from '../libraries/validation.ts';
import { issuesOf } from '../libraries/validation.ts';
import { message } from '../messages/messages.ts';
import { commands } from './commands.ts';
import { openCliContext } from './context.ts';
import { readSecret } from './stdin.ts';

export type CliIo = {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads a password (stdin, or a hidden prompt on a terminal); tests running the CLI in-process pass their own. */
  readSecret?(prompt: string): Promise<string>;
};

function usage(group?: string): string {
  const listed = Object.entries(commands).filter(([name]) => !group || name.startsWith(`${group} `));
  return ['usage: gatehouse <command> [options] [--json]', '', 'commands:', ...listed.map(([, command]) => `  ${command.usage}`)].join('\n');
}

// Validation names the fields of the libraries' inputs; the CLI's user knows the flags.
const flagByField: Record<string, string> = {
  name: '--name', redirectUris: '--redirect-uri', postLogoutRedirectUris: '--post-logout-redirect-uri', grantTypes: '--grant-type',
  scope: '--scope', scopes: '--scope', identifier: '--identifier', signingAlg: '--signing-alg', accessTokenTtl: '--access-token-ttl',
  email: '--email', givenName: '--given-name', familyName: '--family-name', roles: '--role',
  type: '--type', id: '--id', issuer: '--issuer', tenant: '--tenant', clientId: '--client-id', clientSecret: '--client-secret',
  authorizationUrl: '--authorization-url', tokenUrl: '--token-url', apiUrl: '--api-url',
};

/**
 * The field an issue is about, as the operator typed it: the flag for a field that has one (an item
 * of a repeated flag is the flag: ["roles", 0] is --role), else the field's path ("password").
 */
function fieldLabel(path: Issue['path']): string {
  const [field, ...rest] = path;
  const flag = typeof field === 'string' ? flagByField[field] : undefined;
  if (flag && rest.every((key) => typeof key === 'number')) return flag;
  // A connection's claim mapping is given as --claim CLAIM=UPSTREAM_CLAIM: named by its claim.
  if (field === 'claimMapping') return ['--claim', ...rest.map(String)].join(' ');
  return path.map(String).join('.');
}

/** Field problems in flag terms, on one line: "--email: must be a valid email address; --role: …". */
export function inFlagTerms(issues: readonly Issue[]): string {
  return issues.map((issue) => (issue.path.length ? `${fieldLabel(issue.path)}: ${issue.message}` : issue.message)).join('; ');
}

class UsageError extends Error {}

/** What the operator is told about a failure: validation in flag terms, our errors as they are, anything else as unexpected. */
function describeFailure(error: unknown): string {
  if (error instanceof UsageError) return error.message;
  const issues = issuesOf(error) ?? (error as { issues?: Issue[] } | undefined)?.issues;
  if (Array.isArray(issues)) return inFlagTerms(issues);
  if (isGatehouseError(error)) return error.message;
  return message('cli.unexpected_error', { problem: (error as Error).message });
}

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
  // Commands are named by two words (`clients add`) or three (`registration tokens create`).
  const three = args.slice(0, 3).join(' ');
  const words = args.length >= 3 && commands[three] ? 3 : 2;
  const name = args.slice(0, words).join(' ');
  const command = commands[name];
  const group = args.join(' ');
  if (!command && args.length <= 2 && Object.keys(commands).some((known) => known.startsWith(`${group} `))) {
    io.stderr(`${usage(group)}\n`);
    return 2;
  }
  let store: { close(): Promise<void> } | undefined;
  try {
    if (!command) throw new UsageError(message('cli.unknown_command', { name }));
    let parsed;
    try {
      parsed = parseArgs({ args: positionalsLast(args.slice(words), command), options: command.options, allowPositionals: true, strict: true });
    } catch (error) {
      // parseArgs' own hint matters here: a kid can start with '-', and `-- KID` passes it.
      throw new UsageError(`${(error as Error).message.split('\n')[0]}\nusage: gatehouse ${command.usage}`);
    }
    if (parsed.positionals.length !== command.positionals.length) {
      const expected = command.positionals.length ? message('cli.expected_arguments', { arguments: command.positionals.join(' ') }) : message('cli.expected_no_arguments');
      throw new UsageError(`${expected}\nusage: gatehouse ${command.usage}`);
    }
    const ctx = await openCliContext(io.env, { readSecret: io.readSecret ?? readSecret, warn: (text) => io.stderr(`${text}\n`) });
    store = ctx.store;
    const result = await command.run(ctx, parsed.values as never, parsed.positionals);
    io.stdout(json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
    return result.exitCode ?? 0;
  } catch (error) {
    const described = describeFailure(error);
    if (json) io.stderr(`${JSON.stringify({ error: isGatehouseError(error) ? error.code : error instanceof UsageError ? 'usage' : 'internal', message: described })}\n`);
    else io.stderr(`gatehouse: ${described}\n`);
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
