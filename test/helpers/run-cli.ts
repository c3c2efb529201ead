import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { runCli as runCliMain } from '../../src/cli/main.ts';

/** The repository root: the CLI runs from there, as `gatehouse` would after `npm link`. */
const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Node's on-disk compile cache halves the start-up time of each CLI process (entries are keyed by
 * source hash, so an edited file is simply compiled again). Behaviour is unchanged.
 */
const compileCache = process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'gatehouse-test-compile-cache');

export type CliRun = {
  /** Exit code; null only if the process was killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
};

export type CliOptions = { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number };

/**
 * Runs `gatehouse <args…>` as a real separate Node process (src/cli/main.ts) with the given
 * environment on top of this process's. `input` is written to its stdin, which is then closed, so
 * a command that reads stdin never waits on the test runner's terminal.
 *
 * Costs a Node start-up (about a second on a small machine): keep it for tests whose subject is the
 * process itself (the binary, exit codes as the shell sees them, several processes at once).
 */
export function runCliProcess(args: string[], options: CliOptions): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, NODE_COMPILE_CACHE: compileCache, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse ${args.join(' ')} did not finish within ${options.timeoutMs ?? 20_000} ms`));
    }, options.timeoutMs ?? 20_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    // A closed pipe (EPIPE) when the CLI exits before reading stdin is not the test's concern.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

// --- in this process -----------------------------------------------------------------------------

/** The standard streams of one in-process CLI run. */
type CliStreams = { stdin: Readable; stdout: Writable; stderr: Writable };

const currentRun = new AsyncLocalStorage<CliStreams>();
let streamsRouted = false;

/**
 * Makes process.stdin, process.stdout and process.stderr, read from inside an in-process CLI run
 * (and whatever it awaits), the streams of that run: as in a process of its own, the CLI reads its
 * stdin (src/cli/stdin.ts) and a command may write to process.stderr (keys revoke's warning).
 * Everywhere else, and for runs going on at the same time, each sees its own or the real ones.
 */
function routeStandardStreams(): void {
  if (streamsRouted) return;
  streamsRouted = true;
  for (const name of ['stdin', 'stdout', 'stderr'] as const) {
    const real = Object.getOwnPropertyDescriptor(process, name)!;
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: real.enumerable ?? true,
      get() {
        return currentRun.getStore()?.[name] ?? real.get!.call(process);
      },
    });
  }
}

/**
 * Runs `gatehouse <args…>` in this process: runCli of src/cli/main.ts, the function the binary runs,
 * with the given environment on top of this process's (as runCliProcess gives a child; process.env
 * itself is left alone), `input` as its whole stdin (a pipe, not a terminal), and its stdout and
 * stderr collected. Same result as runCliProcess, without a Node start-up per command.
 */
export async function runCli(args: string[], options: CliOptions): Promise<CliRun> {
  routeStandardStreams();
  const out: string[] = [];
  const err: string[] = [];
  const collect = (into: string[]) => new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      into.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      done();
    },
  });
  const streams: CliStreams = {
    stdin: Readable.from(options.input ? [Buffer.from(options.input, 'utf8')] : []),
    stdout: collect(out),
    stderr: collect(err),
  };
  const env = { ...process.env, ...options.env };
  const ms = options.timeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gatehouse ${args.join(' ')} did not finish within ${ms} ms`)), ms);
  });
  try {
    const code = await Promise.race([
      currentRun.run(streams, () => runCliMain([...args], { env, stdout: (text) => out.push(text), stderr: (text) => err.push(text) })),
      timeout,
    ]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    clearTimeout(timer);
  }
}

/** A `gatehouse` bound to one environment (DATA_DIR, DATABASE_URL, …), run in this process. */
export function cliFor(env: NodeJS.ProcessEnv) {
  return (args: string[], input?: string) => runCli(args, { env, ...(input !== undefined ? { input } : {}) });
}

/** A `gatehouse` bound to one environment, each command a real separate process. */
export function cliProcessFor(env: NodeJS.ProcessEnv) {
  return (args: string[], input?: string) => runCliProcess(args, { env, ...(input !== undefined ? { input } : {}) });
}
