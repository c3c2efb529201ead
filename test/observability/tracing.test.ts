import { request } from 'node:http';

import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createOutgoingFetch } from '../../src/oidc/outgoing-requests.ts';
import { startTracing, tracer, tracingRequested } from '../../src/observability/tracing.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startMailSink } from '../helpers/mail-sink.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';

/** OpenTelemetry spans of a real server, caught by an in-memory exporter (this file's process only). */

const exporter = new InMemorySpanExporter();
let gatehouse: TestGatehouse;
let sink: MailSink;

beforeAll(async () => {
  expect(startTracing({ exporter, simple: true, env: {} })).toBe(true);
  sink = await startMailSink();
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url } });
});

afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

const spans = () => exporter.getFinishedSpans();
const childrenOf = (parent: { spanContext(): { spanId: string } }) => spans().filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId);
const serverSpan = (name: string) => spans().filter((span) => span.kind === SpanKind.SERVER && span.name === name);

describe('tracing', () => {
  it('is on only when the standard environment asks for it', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(tracingRequested({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
  });

  it('a sign-in: one server span per request, named by route, with the store calls as child spans', async () => {
    const registered = await gatehouse.addClient();
    await gatehouse.addUser('traced@example.com', 'correct horse battery staple');
    const rp = await relyingParty(gatehouse, registered);
    exporter.reset();
    await signIn(gatehouse, rp, { email: 'traced@example.com', password: 'correct horse battery staple' });

    const [login] = serverSpan('POST /interaction/:uid/login');
    expect(login).toBeDefined();
    expect(login!.attributes['http.route']).toBe('/interaction/:uid/login');
    expect(login!.attributes['http.response.status_code']).toBe(303);
    expect(typeof login!.attributes['gatehouse.request_id']).toBe('string');
    const storeCalls = childrenOf(login!).filter((span) => span.name.startsWith('store '));
    expect(storeCalls.map((span) => span.name)).toEqual(expect.arrayContaining(['store accounts.findByEmail', 'store audit.append']));
    for (const call of storeCalls) {
      expect(call.kind).toBe(SpanKind.CLIENT);
      expect(call.attributes['db.system.name']).toBe('sqlite');
      expect(call.spanContext().traceId).toBe(login!.spanContext().traceId);
    }
    const [token] = serverSpan('POST token');
    expect(token).toBeDefined();
    expect(childrenOf(token!).some((span) => span.name.startsWith('store oidc.'))).toBe(true);
    expect(serverSpan('GET authorization').length).toBeGreaterThanOrEqual(1);
    expect(resourceName(login!)).toBe('gatehouse');
  });

  it('continues a trace from an incoming W3C traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    // node:http, not fetch: the undici instrumentation would put its own span in between.
    await new Promise<void>((resolve, reject) => {
      request(`${gatehouse.url}/healthz`, { headers: { traceparent: `00-${traceId}-${parentId}-01` } }, (response) => response.resume().on('end', resolve)).on('error', reject).end();
    });
    const span = serverSpan('GET /healthz').find((candidate) => candidate.spanContext().traceId === traceId);
    expect(span).toBeDefined();
    expect(span!.parentSpanContext?.spanId).toBe(parentId);
  });

  it('a mail send is a client span', async () => {
    exporter.reset();
    await gatehouse.outbox.send('someone@example.com', 'reset-password', { link: `${gatehouse.url}/reset/x`, minutes: 30 });
    await gatehouse.deliverMail();
    await sink.waitFor((mail) => mail.to === 'someone@example.com');
    const send = spans().find((span) => span.name === 'smtp send');
    expect(send).toBeDefined();
    expect(send!.kind).toBe(SpanKind.CLIENT);
    expect(send!.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it("outgoing HTTP: the provider's fetch and the global fetch (undici) are client spans, and the trace goes on to the server", async () => {
    exporter.reset();
    const parent = tracer().startSpan('test');
    await context.with(trace.setSpan(context.active(), parent), async () => {
      const outgoing = createOutgoingFetch({ allowLoopback: true, timeoutMs: 5000, maxResponseBytes: 100_000 });
      expect((await outgoing(`${gatehouse.url}/healthz?x=1`)).status).toBe(200);
      expect((await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).status).toBe(200);
    });
    parent.end();
    const clients = childrenOf(parent).filter((span) => span.kind === SpanKind.CLIENT);
    const ours = clients.find((span) => span.instrumentationScope.name === 'gatehouse');
    expect(ours?.attributes['url.full']).toBe(`${gatehouse.url}/healthz`);
    expect(ours?.attributes['http.response.status_code']).toBe(200);
    const undici = clients.find((span) => span.instrumentationScope.name.includes('undici'));
    expect(undici).toBeDefined();
    // The undici instrumentation sent a traceparent: the provider's server span is its child.
    const [discovery] = serverSpan('GET discovery').filter((span) => span.parentSpanContext?.spanId === undici!.spanContext().spanId);
    expect(discovery).toBeDefined();
  });
});

function resourceName(span: ReadableSpan): unknown {
  return span.resource.attributes['service.name'];
}
