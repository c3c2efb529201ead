import { SpanKind } from '@opentelemetry/api';

import type { AuditEvent, Store } from '../store/types.ts';
import type { Metrics } from './metrics.ts';
import { failed, tracer, tracingEnabled } from './tracing.ts';

export type StoreObservers = {
  metrics?: Metrics;
  /** Called with every audit event the store has appended (the libraries' one trail). */
  onAudit?: (event: AuditEvent) => void;
};

/**
 * The store, observed once at start-up instead of in every store file: each method of each table
 * (and the store's own: ping, probeWrite, migrate) is timed into
 * gatehouse_store_operation_duration_seconds{table,method}, counted as an error when it throws or
 * rejects, and, when tracing is on, is a client span (`store <table>.<method>`) under the request's.
 * Audit events appended are handed to `onAudit` (the sign-in metrics are derived from them).
 */
export function observeStore(store: Store, observers: StoreObservers): Store {
  const { metrics } = observers;
  if (!metrics && !observers.onAudit && !tracingEnabled()) return store;
  const system = store.kind;
  const tables = new Map<PropertyKey, unknown>();

  const wrap = (table: string, method: string, target: object, fn: (...args: unknown[]) => unknown) => {
    const labels = { table, method };
    const name = `store ${table}.${method}`;
    const settle = (started: bigint, span: ReturnType<ReturnType<typeof tracer>['startSpan']> | undefined, error?: unknown) => {
      metrics?.storeDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      if (error !== undefined) {
        metrics?.storeErrors.inc(labels);
        if (span) failed(span, error);
      }
      span?.end();
    };
    return function observed(...args: unknown[]) {
      const started = process.hrtime.bigint();
      const span = tracingEnabled()
        ? tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': system, 'db.collection.name': table, 'db.operation.name': method } })
        : undefined;
      let result: unknown;
      try {
        result = fn.apply(target, args);
      } catch (error) {
        settle(started, span, error);
        throw error;
      }
      if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
        return (result as Promise<unknown>).then(
          (value) => {
            settle(started, span);
            if (observers.onAudit && table === 'audit' && method === 'append') observers.onAudit(args[0] as AuditEvent);
            return value;
          },
          (error: unknown) => {
            settle(started, span, error ?? new Error('rejected'));
            throw error;
          },
        );
      }
      settle(started, span);
      return result;
    };
  };

  const observeTable = (name: string, table: object) => {
    const methods = new Map<PropertyKey, unknown>();
    return new Proxy(table, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== 'function' || typeof key !== 'string') return value;
        let wrapped = methods.get(key);
        if (!wrapped) {
          wrapped = wrap(name, key, target, value as (...args: unknown[]) => unknown);
          methods.set(key, wrapped);
        }
        return wrapped;
      },
    });
  };

  const own = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof key !== 'string') return value;
      if (typeof value === 'function') {
        // close() is not an operation worth timing; the rest (ping, probeWrite, migrate) are.
        if (key === 'close') return value.bind(target);
        let wrapped = own.get(key);
        if (!wrapped) {
          wrapped = wrap('store', key, target, value as (...args: unknown[]) => unknown);
          own.set(key, wrapped);
        }
        return wrapped;
      }
      if (value && typeof value === 'object') {
        let table = tables.get(key);
        if (!table) {
          table = observeTable(key, value);
          tables.set(key, table);
        }
        return table;
      }
      return value;
    },
  });
}
