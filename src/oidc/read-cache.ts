import type { Clock } from '../clock.ts';
import type { AccountRecord, AccountStore, ApiRecord, ApiStore, ClientRecord, ClientStore, Store } from '../store/types.ts';

/**
 * The provider's hot paths (token, userinfo, introspection) read the same few records on every
 * request: the client, the API (resource server) and the account whose claims are released. They
 * change rarely, so the provider reads them through this cache.
 *
 * The staleness bound: a record read here is at most `maxStaleMs` old (1 s). A change made in this process (through the store `observe` returns, which
 * start-up hands to everything else: libraries, flows) drops the cached copy at once; a change made
 * by another instance or by the CLI is seen within the bound. Only the provider reads through the
 * cache: sign-in pages and libraries always read the store itself, so checks of credentials and
 * pending sign-ins never act on an old copy.
 */
export type ReadCache = {
  /** The store, with every write to accounts, clients and APIs also dropping the cached copy. */
  observe(store: Store): Store;
  /** Cached lookups over `store`: what the provider configuration reads through. */
  accounts: { findById(id: string): Promise<AccountRecord | undefined> };
  clients: { find(clientId: string): Promise<ClientRecord | undefined> };
  apis: { find(identifier: string): Promise<ApiRecord | undefined> };
};

/** How old a cached record may be: a change made by another process takes effect within this. */
export const maxStaleMs = 1000;

type Entry<T> = { value: Promise<T>; readAt: number };

/** One kind of record: entries by key, each fresh for `maxStaleMs` after it was read. */
function cachedLookup<T>(read: (key: string) => Promise<T>, options: { maxStaleMs: number; clock: Clock; maxEntries: number }) {
  const entries = new Map<string, Entry<T>>();
  return {
    get(key: string): Promise<T> {
      const now = options.clock().getTime();
      const entry = entries.get(key);
      if (entry && now - entry.readAt < options.maxStaleMs) return entry.value;
      // Bounded: a burst of distinct keys (unknown client ids, say) starts the cache over.
      if (entries.size >= options.maxEntries) entries.clear();
      const value = read(key);
      entries.set(key, { value, readAt: now });
      // A failed read is not remembered: the next request asks the store again.
      value.catch(() => {
        if (entries.get(key)?.value === value) entries.delete(key);
      });
      return value;
    },
    drop(key: string): void {
      entries.delete(key);
    },
  };
}

export function createReadCache(store: Pick<Store, 'accounts' | 'clients' | 'apis'>, options: { clock: Clock; maxStaleMs?: number; maxEntries?: number }): ReadCache {
  const settings = { clock: options.clock, maxStaleMs: options.maxStaleMs ?? maxStaleMs, maxEntries: options.maxEntries ?? 10_000 };
  const accounts = cachedLookup((id) => store.accounts.findById(id), settings);
  const clients = cachedLookup((clientId) => store.clients.find(clientId), settings);
  const apis = cachedLookup((identifier) => store.apis.find(identifier), settings);

  function observeAccounts(store: Store): AccountStore {
    // Read from the store at each call: a SQLite store may reopen its connection underneath.
    const inner = () => store.accounts;
    return {
      create: async (account) => {
        const created = await inner().create(account);
        accounts.drop(created.id);
        return created;
      },
      findById: (id) => inner().findById(id),
      findByEmail: (email) => inner().findByEmail(email),
      update: async (id, patch, expected) => {
        try {
          return await inner().update(id, patch, expected);
        } finally {
          accounts.drop(id);
        }
      },
      list: () => inner().list(),
      scheduleDeletion: async (id, deleteAfter) => {
        try {
          return await inner().scheduleDeletion(id, deleteAfter);
        } finally {
          accounts.drop(id);
        }
      },
      dueForDeletion: (now, limit) => inner().dueForDeletion(now, limit),
    };
  }

  function observeClients(store: Store): ClientStore {
    const inner = () => store.clients;
    return {
      create: async (client) => {
        try {
          await inner().create(client);
        } finally {
          clients.drop(client.metadata.client_id);
        }
      },
      find: (clientId) => inner().find(clientId),
      list: () => inner().list(),
      remove: async (clientId) => {
        try {
          return await inner().remove(clientId);
        } finally {
          clients.drop(clientId);
        }
      },
      // An operator's change (clients update, rotate-secret) is seen at once.
      replace: async (clientId, change) => {
        try {
          return await inner().replace(clientId, change);
        } finally {
          clients.drop(clientId);
        }
      },
      // A dynamic client registered or changed here (the provider's adapter) is seen at once.
      save: async (record) => {
        try {
          await inner().save(record);
        } finally {
          clients.drop(record.metadata.client_id);
        }
      },
      // When a client was last used changes nothing the provider reads: the cached copy stays.
      touch: (clientId, at) => inner().touch(clientId, at),
      removeUnusedDynamic: async (before, limit) => {
        const removed = await inner().removeUnusedDynamic(before, limit);
        for (const clientId of removed) clients.drop(clientId);
        return removed;
      },
      // Which clients went is not known here: they are gone from the cache within its bound.
      sweepUnusedDynamic: (before, limit) => inner().sweepUnusedDynamic(before, limit),
    };
  }

  function observeApis(store: Store): ApiStore {
    const inner = () => store.apis;
    return {
      create: async (api) => {
        try {
          await inner().create(api);
        } finally {
          apis.drop(api.identifier);
        }
      },
      find: (identifier) => inner().find(identifier),
      list: () => inner().list(),
      replace: async (api) => {
        try {
          return await inner().replace(api);
        } finally {
          apis.drop(api.identifier);
        }
      },
      remove: async (identifier) => {
        try {
          return await inner().remove(identifier);
        } finally {
          apis.drop(identifier);
        }
      },
    };
  }

  return {
    observe(inner) {
      const observed = { accounts: observeAccounts(inner), clients: observeClients(inner), apis: observeApis(inner) };
      // Everything else is the store itself.
      return new Proxy(inner, {
        get(target, property, receiver) {
          if (property === 'accounts' || property === 'clients' || property === 'apis') return observed[property];
          const value = Reflect.get(target, property, receiver) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
    accounts: { findById: (id) => accounts.get(id) },
    clients: { find: (clientId) => clients.get(clientId) },
    apis: { find: (identifier) => apis.get(identifier) },
  };
}
