import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export type ServerProcess = {
  name: string;
  base: string;
  child: ChildProcess;
  /** The last lines it printed, for a failure report. */
  output(): string;
  /** Error lines it logged (Gatehouse's JSON logs at level error), the first few kept. */
  errors: { count: number; first: string[] };
  stop(): Promise<void>;
};

/** Ports already handed out: the kernel may offer a closed one again, and two servers cannot share it. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/**
 * Starts `node <script>` (the same Node that runs the bench) with only the given environment, and
 * waits until `readyPath` answers 200.
 */
export async function startServerProcess(name: string, script: string, env: NodeJS.ProcessEnv, base: string, readyPath: string, execArgv: string[] = []): Promise<ServerProcess> {
  return startCommand(name, process.execPath, [...execArgv, script], env, base, readyPath);
}

/**
 * Starts any program with only the given environment (and PATH), and waits until `readyPath`
 * answers 200. `isErrorLine` picks the lines counted as errors (default: Gatehouse's JSON logs).
 */
export async function startCommand(
  name: string, command: string, args: string[], env: NodeJS.ProcessEnv, base: string, readyPath: string,
  options: { isErrorLine?: (line: string) => boolean; cwd?: string } = {},
): Promise<ServerProcess> {
  const isErrorLine = options.isErrorLine ?? ((line: string) => line.includes('"level":"error"'));
  const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const errors = { count: 0, first: [] as string[] };
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    for (const line of text.split('\n')) {
      if (!isErrorLine(line)) continue;
      errors.count += 1;
      if (errors.first.length < 3) errors.first.push(line.slice(0, 500));
    }
    output = (output + text).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited during start-up:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not become ready:\n${output}`);
    }
    const ready = await fetch(`${base}${readyPath}`, { signal: AbortSignal.timeout(2000) }).then((response) => response.ok, () => false);
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    name,
    base,
    child,
    output: () => output,
    errors,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
