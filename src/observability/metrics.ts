import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { Clock } from '../clock.ts';
import type { Schedule } from '../config/key-schedule.ts';
import type { KeyRing, MailQueueStatus, WebhookQueueStatus } from '../store/types.ts';

/**
 * Gatehouse's Prometheus metrics (prom-client), one registry per running server. Every label is
 * bounded: routes are patterns or the provider's route names, never raw paths; store labels are
 * table and method names; sign-in methods, outcomes and limits are fixed sets. The list with what
 * each means is in docs/observability.md.
 */
export type Metrics = {
  registry: Registry;
  /** Requests by route pattern, method and status; `_count` is the number of requests. */
  httpRequestDuration: Histogram<'route' | 'method' | 'status'>;
  signIns: Counter<'method' | 'outcome'>;
  limitRefusals: Counter<'limit' | 'reason'>;
  storeDuration: Histogram<'table' | 'method'>;
  storeErrors: Counter<'table' | 'method'>;
  mailSends: Counter<'outcome'>;
  mailSendDuration: Histogram<'outcome'>;
};

export const httpBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const storeBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  // Event-loop lag, CPU, memory, handles, GC: prom-client's standard process and Node.js metrics.
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'gatehouse_http_request_duration_seconds', help: 'HTTP requests by route (pattern or provider route name), method and status, and how long they took',
      labelNames: ['route', 'method', 'status'], buckets: httpBuckets, registers,
    }),
    signIns: new Counter({
      name: 'gatehouse_sign_ins_total', help: 'Sign-ins by method and outcome (from the audit events of the sign-in trail)',
      labelNames: ['method', 'outcome'], registers,
    }),
    limitRefusals: new Counter({
      name: 'gatehouse_limit_refusals_total', help: 'Requests refused by an abuse limit, by limit and reason',
      labelNames: ['limit', 'reason'], registers,
    }),
    storeDuration: new Histogram({
      name: 'gatehouse_store_operation_duration_seconds', help: 'Store calls by table and method, and how long they took',
      labelNames: ['table', 'method'], buckets: storeBuckets, registers,
    }),
    storeErrors: new Counter({
      name: 'gatehouse_store_operation_errors_total', help: 'Store calls that failed, by table and method',
      labelNames: ['table', 'method'], registers,
    }),
    mailSends: new Counter({
      name: 'gatehouse_mail_sends_total', help: 'Messages handed to the mail transport (SMTP), by outcome (sent, failed)',
      labelNames: ['outcome'], registers,
    }),
    mailSendDuration: new Histogram({
      name: 'gatehouse_mail_send_duration_seconds', help: 'How long handing one message to the mail transport took, by outcome',
      labelNames: ['outcome'], buckets: httpBuckets, registers,
    }),
  };
}

/**
 * A value read from the store for a scrape, at most once per `maxAgeMs`: scrapes arriving together
 * share one read, and a scraper polling every second costs the store one read per interval.
 */
export function cachedRead<T>(read: () => Promise<T>, maxAgeMs: number, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const at = now();
    if (!last || at - last.at >= maxAgeMs || at < last.at) {
      const value = read();
      last = { at, value };
      // A failed read is not kept: the next scrape tries again.
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}

export type StoreGaugeSources = {
  mailStatus: () => Promise<MailQueueStatus>;
  /** The webhook delivery queue (src/libraries/webhooks.ts); without it, no webhook gauges. */
  webhookStatus?: () => Promise<WebhookQueueStatus>;
  keyRing: () => Promise<KeyRing>;
  schedule: Schedule;
  clock: Clock;
  /** How old a store read may be when a scrape asks again (5 s by default). */
  maxAgeMs?: number;
};

/**
 * The gauges read from the store when scraped: the mail queue, and the signing keys' ages and the
 * time to the next rotation. They describe the shared database, so every instance (and worker)
 * reports the same value: in a cluster they are aggregated with `max`, not summed.
 */
export function registerStoreGauges(metrics: Metrics, sources: StoreGaugeSources): void {
  const now = () => sources.clock().getTime();
  const maxAgeMs = sources.maxAgeMs ?? 5000;
  const mailStatus = cachedRead(sources.mailStatus, maxAgeMs, now);
  const keyRing = cachedRead(sources.keyRing, maxAgeMs, now);
  const registers = [metrics.registry];

  new Gauge({
    name: 'gatehouse_mail_queue_messages', help: 'Messages in the outgoing mail queue by status (pending: waiting to be sent or retried; failed: given up; sent)',
    labelNames: ['status'], registers, aggregator: 'max',
    async collect() {
      const status = await mailStatus().catch(() => undefined);
      if (!status) return;
      for (const state of ['pending', 'failed', 'sent'] as const) this.set({ status: state }, status[state]);
    },
  });
  new Gauge({
    name: 'gatehouse_mail_queue_oldest_pending_age_seconds', help: 'Seconds since the oldest message still pending in the mail queue was queued (0 when none is)',
    registers, aggregator: 'max',
    async collect() {
      const status = await mailStatus().catch(() => undefined);
      if (!status) return;
      this.set(status.oldestPendingAt ? Math.max(0, (now() - status.oldestPendingAt.getTime()) / 1000) : 0);
    },
  });

  const { webhookStatus: readWebhookStatus } = sources;
  if (readWebhookStatus) {
    const webhookStatus = cachedRead(readWebhookStatus, maxAgeMs, now);
    new Gauge({
      name: 'gatehouse_webhook_queue_deliveries', help: 'Webhook deliveries in the queue by status (pending: waiting to be sent or retried; failed: given up; delivered)',
      labelNames: ['status'], registers, aggregator: 'max',
      async collect() {
        const status = await webhookStatus().catch(() => undefined);
        if (!status) return;
        for (const state of ['pending', 'failed', 'delivered'] as const) this.set({ status: state }, status[state]);
      },
    });
    new Gauge({
      name: 'gatehouse_webhook_queue_oldest_pending_age_seconds', help: 'Seconds since the oldest webhook delivery still pending was queued (0 when none is)',
      registers, aggregator: 'max',
      async collect() {
        const status = await webhookStatus().catch(() => undefined);
        if (!status) return;
        this.set(status.oldestPendingAt ? Math.max(0, (now() - status.oldestPendingAt.getTime()) / 1000) : 0);
      },
    });
  }

  const ages = new Gauge({
    name: 'gatehouse_signing_key_age_seconds', help: 'Seconds since each signing key was published, by alg and state (the oldest key of each)',
    labelNames: ['alg', 'state'], registers, aggregator: 'max',
    async collect() {
      const ring = await keyRing().catch(() => undefined);
      if (!ring) return;
      ages.reset();
      for (const [labels, value] of keyAges(ring, new Date(now()))) this.set(labels, value);
    },
  });
  const rotation = new Gauge({
    name: 'gatehouse_signing_key_next_rotation_seconds', help: 'Seconds until each alg signs with a new key on the schedule (negative: overdue)',
    labelNames: ['alg'], registers, aggregator: 'max',
    async collect() {
      const ring = await keyRing().catch(() => undefined);
      if (!ring) return;
      rotation.reset();
      for (const [alg, seconds] of nextRotations(ring, sources.schedule, new Date(now()))) this.set({ alg }, seconds);
    },
  });
}

/** The age of the oldest key of each alg and state, in seconds since it was published. */
export function keyAges(ring: KeyRing, now: Date): Array<[{ alg: string; state: string }, number]> {
  const oldest = new Map<string, { alg: string; state: string; createdAt: number }>();
  for (const key of ring.keys) {
    const id = `${key.alg}|${key.state}`;
    const seen = oldest.get(id);
    if (!seen || key.createdAt.getTime() < seen.createdAt) oldest.set(id, { alg: key.alg, state: key.state, createdAt: key.createdAt.getTime() });
  }
  return [...oldest.values()].map(({ alg, state, createdAt }) => [{ alg, state }, (now.getTime() - createdAt) / 1000]);
}

/**
 * When each alg's signing key is replaced on the schedule (src/keys/rotation.ts): a next key
 * already published signs once it has been published a JWKS cache lifetime plus the margin (and
 * not before its activatesAt); without one, the current key is replaced a rotation interval after
 * it started signing (its successor is published ahead of that).
 */
export function nextRotations(ring: KeyRing, schedule: Schedule, now: Date): Array<[string, number]> {
  const byAlg = new Map<string, { current?: KeyRing['keys'][number]; next?: KeyRing['keys'][number] }>();
  const older = (a: KeyRing['keys'][number] | undefined, b: KeyRing['keys'][number]) => (!a || b.createdAt < a.createdAt ? b : a);
  for (const key of ring.keys) {
    const entry = byAlg.get(key.alg) ?? {};
    if (key.state === 'current') entry.current = older(entry.current, key);
    if (key.state === 'next') entry.next = older(entry.next, key);
    byAlg.set(key.alg, entry);
  }
  const out: Array<[string, number]> = [];
  for (const [alg, { current, next }] of byAlg) {
    let at: number | undefined;
    if (next) {
      const published = next.createdAt.getTime() + (schedule.jwksCacheSeconds + schedule.marginSeconds) * 1000;
      at = Math.max(published, next.activatesAt?.getTime() ?? 0);
    } else if (current) {
      at = (current.activatedAt ?? current.createdAt).getTime() + schedule.rotationIntervalSeconds * 1000;
    }
    if (at !== undefined) out.push([alg, (at - now.getTime()) / 1000]);
  }
  return out;
}
