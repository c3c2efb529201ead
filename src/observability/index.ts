import cluster from 'node:cluster';
import type { RequestListener, Server } from 'node:http';

import { AggregatorRegistry } from 'prom-client';

import type { Clock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import { keySchedule } from '../config/load-config.ts';
import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Transport } from '../mail/transports.ts';
import type { Store } from '../store/types.ts';
import { metricsEndpoint, observeRequests, startMetricsListener } from './http.ts';
import { observeLimits } from './limits.ts';
import { observeTransport } from './mail.ts';
import type { Metrics } from './metrics.ts';
import { createMetrics, registerStoreGauges } from './metrics.ts';
import { signInOf } from './sign-ins.ts';
import { observeStore } from './store.ts';

/**
 * Observability as start-up wires it (src/server.ts): the metrics of this server (when METRICS=on),
 * and the wrappers that feed them and the tracing spans — the store, the abuse limits, the mail
 * transport, the request listener — each applied once, so no store, limit or mail file changes.
 */
export type Observability = {
  /** This server's metrics; undefined when METRICS is off. */
  metrics: Metrics | undefined;
  store(store: Store): Store;
  limits(limits: AbuseLimits): AbuseLimits;
  transport(transport: Transport): Transport;
  /** The request listener with request ids, request metrics and spans (and /metrics on the main port). */
  requests(handler: RequestListener): RequestListener;
  /** Opens the METRICS_PORT listener, if there is one for this process; resolves with its port. */
  listen(): Promise<number | undefined>;
  close(): Promise<void>;
};

export function createObservability(config: Config, clock: Clock): Observability {
  const metrics = config.metrics.enabled ? createMetrics() : undefined;
  const endpoint = metrics ? metricsEndpoint({ collect: () => metrics.registry.metrics(), contentType: metrics.registry.contentType, ...(config.metricsToken ? { token: config.metricsToken } : {}) }) : undefined;
  // A cluster's METRICS_PORT is the primary's (src/main.ts): it asks every worker for its metrics.
  if (metrics && cluster.isWorker) shareWithPrimary(metrics);
  let listener: Server | undefined;
  return {
    metrics,
    store(store) {
      const observed = observeStore(store, {
        ...(metrics ? { metrics, onAudit: (event) => {
          const signIn = signInOf(event);
          if (signIn) metrics.signIns.inc(signIn);
        } } : {}),
      });
      if (metrics) {
        registerStoreGauges(metrics, { mailStatus: () => observed.mail.status(), webhookStatus: () => observed.webhookDeliveries.status(), keyRing: () => observed.signingKeys.read(), schedule: keySchedule(config), clock });
      }
      return observed;
    },
    limits: (limits) => observeLimits(limits, metrics),
    transport: (transport) => observeTransport(transport, metrics),
    requests: (handler) => observeRequests(handler, { ...(metrics ? { metrics } : {}), ...(endpoint && config.metrics.port === null ? { metricsEndpoint: endpoint } : {}) }),
    async listen() {
      if (!endpoint || config.metrics.port === null || cluster.isWorker) return undefined;
      listener = await startMetricsListener({ port: config.metrics.port, host: config.metrics.host, endpoint });
      return (listener.address() as { port: number }).port;
    },
    async close() {
      const closing = listener;
      listener = undefined;
      if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
}

/** In a cluster worker: the primary's aggregating registry asks this registry for its metrics. */
function shareWithPrimary(metrics: Metrics): void {
  // Constructing one installs prom-client's worker side of the exchange (a process message listener).
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([metrics.registry]);
}

/**
 * The primary of a cluster (WORKERS > 1) with METRICS_PORT: one listener whose /metrics is every
 * worker's metrics aggregated by prom-client (counters and histograms summed; the store's gauges,
 * the same in every worker, taken at their maximum). Without METRICS_PORT, /metrics on the main
 * port answers from whichever worker the connection reached: that worker's own numbers.
 */
export async function startClusterMetrics(config: Config): Promise<Server | undefined> {
  if (!config.metrics.enabled || config.metrics.port === null) return undefined;
  const aggregator = new AggregatorRegistry();
  const endpoint = metricsEndpoint({ collect: () => aggregator.clusterMetrics(), contentType: aggregator.contentType, ...(config.metricsToken ? { token: config.metricsToken } : {}) });
  return startMetricsListener({ port: config.metrics.port, host: config.metrics.host, endpoint });
}
