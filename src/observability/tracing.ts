import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ConsoleSpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Sampler, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';

/**
 * OpenTelemetry tracing: off unless the standard environment asks for it. On, every HTTP request
 * is a server span (named by its route), with child spans for store calls, outgoing HTTP (the
 * provider's fetch and, through the undici instrumentation, openid-client's calls to upstream
 * providers) and SMTP sends. The spans go to an OTLP/HTTP collector; the exporter reads its own
 * standard variables (OTEL_EXPORTER_OTLP_ENDPOINT, …_TRACES_ENDPOINT, …_HEADERS, …_TIMEOUT).
 */

const tracerName = 'gatehouse';

/** The tracer Gatehouse's own spans come from: a no-op until tracing is started. */
export function tracer(): Tracer {
  return trace.getTracer(tracerName);
}

let started: { provider: TracerProvider; instrumentation: UndiciInstrumentation } | undefined;

/** Whether spans are being recorded in this process (the instrumentation skips its work otherwise). */
export function tracingEnabled(): boolean {
  return started !== undefined;
}

/** Whether the environment turns tracing on: an OTLP endpoint, or OTEL_TRACES_EXPORTER (not `none`). */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false;
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  if (exporter === 'none') return false;
  return Boolean(exporter || env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, as the specification names them. */
export function samplerFrom(env: NodeJS.ProcessEnv): Sampler {
  const ratio = () => {
    const value = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
    return Number.isFinite(value) && value >= 0 && value <= 1 ? value : 1;
  };
  switch ((env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase()) {
    case 'always_on': return new AlwaysOnSampler();
    case 'always_off': return new AlwaysOffSampler();
    case 'traceidratio': return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default: return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** `key=value,key=value` (OTEL_RESOURCE_ATTRIBUTES), values percent-decoded. */
function resourceAttributes(value: string | undefined): Attributes {
  const out: Attributes = {};
  for (const pair of (value ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    try {
      out[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      // A malformed pair is skipped, as the specification asks.
    }
  }
  return out;
}

export type TracingOptions = {
  env?: NodeJS.ProcessEnv;
  /** Where spans go instead of the environment's exporter (tests pass an InMemorySpanExporter). */
  exporter?: SpanExporter;
  /** Export each span when it ends (tests), instead of in batches. */
  simple?: boolean;
};

/**
 * Starts tracing for this process when the environment asks for it (or an exporter is given);
 * returns whether it is on. Once per process: a second call changes nothing.
 */
export function startTracing(options: TracingOptions = {}): boolean {
  if (started) return true;
  const env = options.env ?? process.env;
  if (!options.exporter && !tracingRequested(env)) return false;
  const exporter = options.exporter ?? exporterFrom(env);
  const processor: SpanProcessor = options.simple ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter });
  const resource = defaultResource()
    .merge(resourceFromAttributes(resourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES)))
    .merge(resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || resourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES)['service.name'] || 'gatehouse' }));
  const provider = new TracerProvider({ resource, sampler: samplerFrom(env), spanProcessors: [processor] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  // Requests made with the global fetch (openid-client's calls to upstream providers) get client
  // spans and carry the trace on (traceparent), through Node's undici diagnostics channels.
  const instrumentation = new UndiciInstrumentation();
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  started = { provider, instrumentation };
  return true;
}

function exporterFrom(env: NodeJS.ProcessEnv): SpanExporter {
  const kind = (env.OTEL_TRACES_EXPORTER ?? 'otlp').split(',')[0]!.trim().toLowerCase();
  if (kind === 'console') return new ConsoleSpanExporter();
  // The exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION itself.
  return new OTLPTraceExporter();
}

/** Sends the spans still buffered (at shutdown). */
export async function flushTracing(): Promise<void> {
  await started?.provider.forceFlush().catch(() => undefined);
}

/**
 * Runs `work` in a span of its own (a child of the active one) when tracing is on; a failure
 * marks the span as an error and is rethrown. Off, it is `work()` itself.
 */
export async function inSpan<T>(name: string, options: { kind?: SpanKind; attributes?: Attributes }, work: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!started) return work(undefined);
  return tracer().startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks a span as failed with what was thrown. */
export function failed(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  if (error instanceof Error) span.recordException(error);
}

export { SpanKind };
