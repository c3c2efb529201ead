/** Structured one-line JSON logs on stderr; a human line for start-up messages on stdout. */
export type Logger = {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
};

function serialize(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!fields) return {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
  }
  return out;
}

export function createLogger(options: { silent?: boolean } = {}): Logger {
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    if (options.silent) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...serialize(fields) })}\n`);
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}
