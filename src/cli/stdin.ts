import { GatehouseError } from '../errors.ts';

/** Reads all of stdin as UTF-8. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads a secret: on a terminal, prompts on stderr without echoing and asks twice (a typo at a
 * hidden prompt would set a password nobody knows); from a pipe, takes stdin up to the first line
 * break. Never from argv, where it would land in shell history and `ps`.
 */
export async function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return (await readStdin()).split(/\r?\n/, 1)[0] ?? '';
  const first = await promptHidden(prompt);
  if (!first) return first;
  const second = await promptHidden('Repeat it: ');
  if (first !== second) throw new GatehouseError('invalid_input', 'cli.passwords_differ');
  return first;
}

function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      // An escape sequence (arrow keys, …) is not part of a password.
      if (chunk.startsWith('\u001b')) return;
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          finish();
          return resolve(value);
        }
        if (char === '\u0003') {
          finish();
          return reject(new GatehouseError('invalid_input', 'cli.cancelled'));
        }
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else if (char >= ' ') value += char;
      }
    };
    stdin.on('data', onData);
  });
}
