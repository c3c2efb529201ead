#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { isGatehouseError } from '../errors.ts';
import type { Issue } from '../libraries/validation.ts';
import { issuesOf } from '../libraries/validation.ts';
import { message } from '../messages/messages.ts';
import { commands } from './commands.ts';
import { openCliContext, openFileContext } from './context.ts';
import type { Command, Result } from './output.ts';
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

/** The whole help: every command, then how to ask for more and what the exit codes mean. */
function help(group?: string): string {
  return `${usage(group)}\n\n${message('cli.help_more')}`;
}

/** One command's help: its usage line and its options. */
function commandHelp(name: string, command: Command): string {
  const options = Object.entries(command.options).map(([option, { type, multiple }]) => `  --${option}${type === 'string' ? ' VALUE' : ''}${multiple ? '   (repeatable)' : ''}`);
  return [message('cli.usage_line', { usage: command.usage }), '', 'options:', ...options, '  --json   (the result as JSON)', '  --help'].join('\n');
}

/** Whether `group` names a group of commands (`clients`, `registration tokens`). */
function isGroup(group: string): boolean {
  return group !== '' && Object.keys(commands).some((known) => known.startsWith(`${group} `));
}

/** This Gatehouse's version, from its package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** What `gatehouse --version` prints. */
export function version(): string {
  return `gatehouse ${packageVersion()} (Node ${process.version})`;
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

const characters = (count: string) => `${count} character${count === '1' ? '' : 's'}`;
const times = (count: string) => (count === '1' ? 'once' : `${count} times`);
const kinds: Record<string, string> = { int: 'a whole number', number: 'a number', string: 'text', boolean: 'true or false', array: 'a list', object: 'an object' };

/**
 * zod's own words for a rule that a schema states without words of its own ("Too big: expected
 * string to have <=200 characters"), said as the CLI says things ("must be at most 200
 * characters"). Words a schema chose are left as they are.
 */
const zodWords: ReadonlyArray<[RegExp, (...groups: string[]) => string]> = [
  [/^Invalid input: expected (\w+), received undefined$/, () => 'is required'],
  [/^Invalid input: expected (\w+), received \w+$/, (kind) => `must be ${kinds[kind] ?? kind}`],
  [/^Invalid option: expected one of (.+)$/, (choices) => `must be one of ${choices.replaceAll('"', '').split('|').join(', ')}`],
  [/^Invalid input: expected (".*")$/, (value) => `must be ${value}`],
  [/^Too big: expected string to have <=(\d+) characters?$/, (max) => `must be at most ${characters(max)}`],
  [/^Too small: expected string to have >=(\d+) characters?$/, (min) => (min === '1' ? 'must not be empty' : `must be at least ${characters(min)}`)],
  [/^Too big: expected array to have <=(\d+) items?$/, (max) => `may be given at most ${times(max)}`],
  [/^Too small: expected array to have >=(\d+) items?$/, (min) => `must be given at least ${times(min)}`],
  [/^Too big: expected (?:number|int|bigint) to be <=(\S+)$/, (max) => `must be at most ${max}`],
  [/^Too big: expected (?:number|int|bigint) to be <(\S+)$/, (max) => `must be less than ${max}`],
  [/^Too small: expected (?:number|int|bigint) to be >=(\S+)$/, (min) => `must be at least ${min}`],
  [/^Too small: expected (?:number|int|bigint) to be >0$/, () => 'must be more than 0'],
  [/^Too small: expected (?:number|int|bigint) to be >(\S+)$/, (min) => `must be more than ${min}`],
  [/^Invalid email address$/, () => 'must be an email address'],
  [/^Invalid URL$/, () => 'must be an absolute URL'],
  [/^Invalid string: must match pattern .*$/, () => 'is not in the expected form'],
  [/^Unrecognized keys?: (.+)$/, (keys) => `unknown field ${keys}`],
  [/^Invalid input$/, () => 'is not valid'],
];

/** A problem in the CLI's words: zod's generic sentences rephrased, every other left as written. */
export function inCliWords(problem: string): string {
  for (const [pattern, say] of zodWords) {
    const match = pattern.exec(problem);
    if (match) return say(...match.slice(1));
  }
  return problem;
}

/** Field problems in flag terms, on one line: "--email: Enter a valid email address.; --role: …". */
export function inFlagTerms(issues: readonly Issue[]): string {
  return issues.map((issue) => (issue.path.length ? `${fieldLabel(issue.path)}: ${inCliWords(issue.message)}` : inCliWords(issue.message))).join('; ');
}

/** A command line the CLI cannot run (exit 2); `prefixed`: the message already names the command. */
class UsageError extends Error {
  readonly prefixed: boolean;
  constructor(text: string, prefixed = false) {
    super(text);
    this.prefixed = prefixed;
  }
}

/**
 * parseArgs' refusal in the CLI's words: "clients add: unknown option --foo (see gatehouse clients
 * add --help)". A command that takes arguments adds how one beginning with '-' is given.
 */
function optionProblem(error: unknown, name: string, command: Command): UsageError {
  const { code, message: text } = error as { code?: string; message: string };
  const option = /'(-{1,2}[^' ]+)/.exec(text)?.[1] ?? '';
  const id = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 'cli.unknown_option'
    : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && /argument missing|argument is ambiguous/.test(text) ? 'cli.option_needs_value'
      : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? 'cli.option_takes_no_value'
        : undefined;
  if (!id) return new UsageError(`${text.split('\n')[0]}\n${message('cli.usage_line', { usage: command.usage })}`);
  // A kid can start with '-': `-- KID` passes it as the argument.
  const hint = id === 'cli.unknown_option' && command.positionals.length ? `\n${message('cli.usage_line', { usage: `${name} [options] -- ${command.positionals.join(' ')}` })}` : '';
  return new UsageError(`gatehouse ${message(id, { command: name, option })}${hint}`, true);
}

/** What the operator is told about a failure: validation in flag terms, our errors as they are, anything else as unexpected. */
function describeFailure(error: unknown): string {
  if (error instanceof UsageError) return error.message;
  const issues = issuesOf(error) ?? (error as { issues?: Issue[] } | undefined)?.issues;
  if (Array.isArray(issues)) return inFlagTerms(issues);
  // Several configuration problems, a line each at start-up, are one line here: "…: A; B".
  if (isGatehouseError(error)) return error.message.replace(/:\n {2}/, ': ').replaceAll('\n  ', '; ');
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

/** Whether an argument asks for help: `--help`, `-h` (and `help` as the first word). */
const asksHelp = (arg: string) => arg === '--help' || arg === '-h';

/** The command `args` name: two words (`clients add`), three (`registration tokens create`) or one (`apply`). */
function commandIn(args: string[]): { name: string; words: number } {
  const three = args.slice(0, 3).join(' ');
  const words = args.length >= 3 && commands[three] ? 3 : !commands[args.slice(0, 2).join(' ')] && Object.hasOwn(commands, args[0] ?? '') ? 1 : 2;
  return { name: args.slice(0, words).join(' '), words };
}

/**
 * Help and version, which need no configuration: `--version`, `--help`, `help [GROUP [COMMAND]]`,
 * `GROUP --help`, `GROUP COMMAND --help`. Undefined when `args` asks for neither.
 */
function helpOrVersion(args: string[]): string | undefined {
  if (args[0] === '--version' || args[0] === '-V' || args[0] === 'version') return version();
  const wanted = args[0] === 'help' ? args.slice(1) : args.includes('--') ? undefined : args.some(asksHelp) ? args.filter((arg) => !asksHelp(arg)) : undefined;
  if (!wanted) return undefined;
  if (wanted.length === 0) return help();
  const { name } = commandIn(wanted);
  const command = commands[name];
  if (command) return commandHelp(name, command);
  // Only the group's words (any options after them are ignored): the group's commands.
  const group = wanted.filter((arg) => !arg.startsWith('-')).join(' ');
  if (isGroup(group)) return help(group);
  return undefined;
}

/** Runs one CLI invocation; returns the exit code (0 ok, 1 failed, 2 usage or configuration). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const { json, args } = splitJsonFlag(argv);
  const answer = helpOrVersion(args);
  if (answer !== undefined) {
    const asJson = json && ['--version', '-V', 'version'].includes(args[0]!);
    io.stdout(asJson ? `${JSON.stringify({ version: packageVersion(), node: process.version })}\n` : `${answer}\n`);
    return 0;
  }
  if (args.length === 0) {
    io.stderr(`${help()}\n`);
    return 2;
  }
  const { name, words } = commandIn(args);
  const command = commands[name];
  const group = args.join(' ');
  if (!command && args.length <= 2 && isGroup(group)) {
    io.stderr(`${usage(group)}\n`);
    return 2;
  }
  let store: { close(): Promise<void> } | undefined;
  try {
    if (!command) {
      // `help nope`, `nope --help`: the unknown name is what was asked about.
      const asked = args[0] === 'help' ? args.slice(1) : args.some(asksHelp) ? args.filter((arg) => !asksHelp(arg)) : undefined;
      throw new UsageError(message('cli.unknown_command', { name: asked ? asked.join(' ') : name }));
    }
    let parsed;
    try {
      parsed = parseArgs({ args: positionalsLast(args.slice(words), command), options: command.options, allowPositionals: true, strict: true });
    } catch (error) {
      throw optionProblem(error, name, command);
    }
    if (parsed.positionals.length !== command.positionals.length) {
      const expected = command.positionals.length ? message('cli.expected_arguments', { arguments: command.positionals.join(' ') }) : message('cli.expected_no_arguments');
      throw new UsageError(`${expected}\n${message('cli.usage_line', { usage: command.usage })}`);
    }
    const warn = (text: string) => io.stderr(`${text}\n`);
    let result: Result;
    if (command.fileOnly) {
      result = await command.run({ config: openFileContext(io.env), warn }, parsed.values as never, parsed.positionals);
    } else {
      const ctx = await openCliContext(io.env, { readSecret: io.readSecret ?? readSecret, warn });
      store = ctx.store;
      result = await command.run(ctx, parsed.values as never, parsed.positionals);
    }
    io.stdout(json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
    return result.exitCode ?? 0;
  } catch (error) {
    const described = describeFailure(error);
    if (json) io.stderr(`${JSON.stringify({ error: isGatehouseError(error) ? error.code : error instanceof UsageError ? 'usage' : 'internal', message: described })}\n`);
    else io.stderr(error instanceof UsageError && error.prefixed ? `${described}\n` : `gatehouse: ${described}\n`);
    return exitCodeOf(error);
  } finally {
    await store?.close();
  }
}

/**
 * The exit code of a failure: 2 for a command line or a configuration the CLI cannot run (a usage
 * error, an invalid variable, a command this store does not offer), 1 for a command that ran and failed.
 */
function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return 2;
  return isGatehouseError(error) && (error.code === 'invalid_config' || error.code === 'unsupported_database') ? 2 : 1;
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2), {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}
