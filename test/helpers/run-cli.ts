import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * Runs `gatehouse <args…>` as a real separate Node process (src/cli/main.ts) with the given
 * environment on top of this process's. `input` is written to its stdin, which is then closed, so
 * a command that reads stdin never waits on the test runner's terminal.
 */
export function runCli(args: string[], options: { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<CliRun> {
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

/** A `gatehouse` bound to one environment (DATA_DIR, DATABASE_URL, …). */
export function cliFor(env: NodeJS.ProcessEnv) {
  return (args: string[], input?: string) => runCli(args, { env, ...(input !== undefined ? { input } : {}) });
}
