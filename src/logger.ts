import { trace } from '@opentelemetry/api';

import { currentRequest } from './request-context.ts';

/**
 * The one log format: JSON lines in production (or LOG_FORMAT=json), readable lines in development
 * and tests (or LOG_FORMAT=text), on stderr. A line written while a request is served carries its
 * request id (`requestId`, the id in the `X-Request-Id` answer header and on error pages), and,
 * when tracing is on, the trace and span it belongs to. Human start-up lines go to stdout apart.
 */
export type Logger = {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
};

export type LogFormat = 'json' | 'text';

export type LoggerOptions = {
  silent?: boolean;
  /** json or text; by default LOG_FORMAT, else json when NODE_ENV is production, else text. */
  format?: LogFormat;
  /** Where each line goes (with its newline); stderr by default. */
  write?: (line: string) => void;
};

/** The format the environment asks for (an unknown LOG_FORMAT is refused by loadConfig). */
export function logFormatFrom(env: NodeJS.ProcessEnv = process.env): LogFormat {
  if (env.LOG_FORMAT === 'json' || env.LOG_FORMAT === 'text') return env.LOG_FORMAT;
  return env.NODE_ENV === 'production' ? 'json' : 'text';
}

function serialize(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!fields) return {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
  }
  return out;
}

/** Where the line was written from: the request's id, and the trace when one is being recorded. */
function context(): Record<string, string> {
  const out: Record<string, string> = {};
  const requestId = currentRequest()?.requestId;
  if (requestId) out.requestId = requestId;
  const span = trace.getActiveSpan()?.spanContext();
  if (span && span.traceFlags & 1) {
    out.traceId = span.traceId;
    out.spanId = span.spanId;
  }
  return out;
}

function readableValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value) ?? String(value);
}

/** `12:00:00.000 WARN  message key=value … [request-id]`; an error's stack follows on its own lines. */
function readable(time: Date, level: string, message: string, fields: Record<string, unknown>, where: Record<string, string>): string {
  const stacks: string[] = [];
  const pairs = Object.entries(fields).map(([key, value]) => {
    const stack = (value as { stack?: unknown } | null)?.stack;
    if (typeof stack === 'string') {
      stacks.push(stack);
      const { stack: _stack, ...rest } = value as Record<string, unknown>;
      return `${key}=${readableValue(rest)}`;
    }
    return `${key}=${readableValue(value)}`;
  });
  const request = where.requestId ? ` [${where.requestId}]` : '';
  const trace = where.traceId ? ` trace=${where.traceId}` : '';
  const head = `${time.toISOString().slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${message}${pairs.length ? ` ${pairs.join(' ')}` : ''}${trace}${request}`;
  return [head, ...stacks.map((stack) => stack.replace(/^/gm, '    '))].join('\n');
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? logFormatFrom();
  const out = options.write ?? ((line: string) => void process.stderr.write(line));
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    if (options.silent) return;
    const time = new Date();
    const where = context();
    const serialized = serialize(fields);
    const line = format === 'json'
      ? JSON.stringify({ time: time.toISOString(), level, message, ...where, ...serialized })
      : readable(time, level, message, serialized, where);
    out(`${line}\n`);
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}
