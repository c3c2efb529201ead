import type { Adapter, AdapterPayload } from 'oidc-provider';
import type Provider from 'oidc-provider';

import { GatehouseError } from '../errors.ts';
import type { ClientMetadata, ClientRecord, ClientStore, ModelPayload, OidcStore } from '../store/types.ts';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { previousSecret, providerMetadata } from '../libraries/clients.ts';

/**
 * The account a pending interaction could still sign in as: the one a step in progress names (a
 * registration awaiting its code, a password awaiting its second factor), else the session's. The
 * store indexes it, so revoking an account's state (a reset, a credential change) ends its
 * half-finished sign-ins too. The provider drops the extra field when it loads the interaction.
 */
export function interactionAccountId(payload: ModelPayload): string | undefined {
  const result = payload.result;
  if (result && typeof result === 'object') {
    for (const step of Object.values(result as Record<string, unknown>)) {
      const accountId = (step as { accountId?: unknown } | null)?.accountId;
      if (step && typeof step === 'object' && typeof accountId === 'string') return accountId;
    }
  }
  const sessionAccountId = (payload.session as { accountId?: unknown } | undefined)?.accountId;
  return typeof sessionAccountId === 'string' ? sessionAccountId : undefined;
}

/** oidc-provider's Adapter over our ModelStore: one instance per model name. */
function modelAdapter(oidc: OidcStore, name: string): Adapter {
  const store = oidc.model(name);
  const indexed = name === 'Interaction'
    ? (payload: ModelPayload): ModelPayload => {
      const accountId = interactionAccountId(payload);
      return accountId ? { ...payload, accountId } : payload;
    }
    : (payload: ModelPayload) => payload;
  return {
    upsert: (id, payload, expiresIn) => store.upsert(id, indexed(payload as ModelPayload), expiresIn),
    find: async (id) => (await store.find(id)) as AdapterPayload | undefined,
    findByUid: async (uid) => (await store.findByUid(uid)) as AdapterPayload | undefined,
    findByUserCode: async (userCode) => (await store.findByUserCode(userCode)) as AdapterPayload | undefined,
    consume: (id) => store.consume(id),
    destroy: (id) => store.destroy(id),
    revokeByGrantId: (grantId) => store.revokeByGrantId(grantId),
  };
}

/**
 * Writes the clients that register themselves (RFC 7591) and change or delete themselves (RFC
 * 7592), through the clients library (which seals a secret and marks the client dynamic). An
 * operator's client is never replaced or removed this way.
 */
export type ClientWriter = {
  save(payload: ClientMetadata): Promise<void>;
  remove(clientId: string): Promise<void>;
};

/**
 * Clients come from our client store (written by the CLI), read through the provider's read cache:
 * a client added or removed elsewhere is seen within its staleness bound (1 s, read-cache.ts).
 * With registration on, the provider writes the clients that register themselves through `writer`;
 * a write made here drops the cached copy at once (the store start-up hands the libraries is the
 * read cache's observed one). Without a writer the provider never writes clients.
 */
/**
 * The client adapter also answers, for the secret comparison (client-secret-guesses.ts), a client's
 * secret before its last rotation while its overlap lasts (`clients rotate-secret --overlap-days`).
 * The provider never sees it: it is no client metadata.
 */
export type ClientAdapter = Adapter & { previousSecret(clientId: string): Promise<string | undefined> };

function clientAdapter(clients: Pick<ClientStore, 'find'>, encryptionKey: Buffer, writer: ClientWriter | undefined, clock: Clock): ClientAdapter {
  const readOnly = async () => {
    throw new GatehouseError('internal', 'store.clients_read_only');
  };
  // Opening a sealed secret cost more than all the rest of a client lookup (it was the largest
  // single cost of a userinfo request). A sealed value never changes, so it is opened once per
  // client and provider; a client removed or changed with the CLI is seen within the read cache's
  // bound, and a new secret is opened anew.
  const opened = new Map<string, { sealed: string; secret: unknown }>();
  // One payload object per record object: while the read cache holds a record, every lookup gets
  // the same payload, so the provider's Client for it is found by identity (rememberClientInstances).
  const payloads = new WeakMap<object, AdapterPayload>();
  const payloadOf = (record: ClientRecord): AdapterPayload => {
    const known = payloads.get(record);
    if (known) return known;
    const payload = providerPayload(record);
    payloads.set(record, payload);
    return payload;
  };
  const providerPayload = (record: ClientRecord): AdapterPayload => {
    if (!record.encryptedSecret) return record.metadata as AdapterPayload;
    const cached = opened.get(record.metadata.client_id);
    if (cached?.sealed === record.encryptedSecret) return { ...record.metadata, client_secret: cached.secret } as AdapterPayload;
    const metadata = providerMetadata(record, encryptionKey);
    if (opened.size >= 10_000) opened.clear();
    opened.set(record.metadata.client_id, { sealed: record.encryptedSecret, secret: metadata.client_secret });
    return metadata as AdapterPayload;
  };
  return {
    async find(id) {
      const record = await clients.find(id);
      return record ? payloadOf(record) : undefined;
    },
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    upsert: writer ? (_id, payload) => writer.save(payload as unknown as ClientMetadata) : readOnly,
    consume: readOnly,
    destroy: writer ? (id) => writer.remove(id) : readOnly,
    revokeByGrantId: async () => undefined,
    async previousSecret(clientId) {
      const record = await clients.find(clientId);
      return record ? previousSecret(record, encryptionKey, clock()) : undefined;
    },
  };
}

/**
 * The provider turns a client's metadata into its Client on every lookup, by serializing and
 * hashing the metadata to find the instance it built before (several microseconds, on every token,
 * introspection and userinfo request). The client adapter hands out one payload object per cached
 * record, so the Client built for a payload is remembered by identity: a record read anew (a
 * change, or the read cache's 1 s bound) is a new payload and goes the provider's own way.
 */
export function rememberClientInstances(provider: Provider): void {
  const { Client } = provider;
  const find = Client.find.bind(Client);
  const adapter = (Client as unknown as { adapter: Adapter }).adapter;
  const instances = new WeakMap<object, Awaited<ReturnType<typeof find>>>();
  Client.find = async (id: string) => {
    const payload = typeof id === 'string' && id.length > 0 ? await adapter.find(id) : undefined;
    if (!payload) return find(id);
    const known = instances.get(payload);
    if (known) return known;
    const client = await find(id);
    if (client) instances.set(payload, client);
    return client;
  };
}

export function createAdapterFactory(deps: { oidc: OidcStore; clients: Pick<ClientStore, 'find'>; encryptionKey: Buffer; writer?: ClientWriter; clock?: Clock }) {
  const adapters = new Map<string, Adapter>();
  return (name: string): Adapter => {
    let adapter = adapters.get(name);
    if (!adapter) {
      adapter = name === 'Client' ? clientAdapter(deps.clients, deps.encryptionKey, deps.writer, deps.clock ?? systemClock) : modelAdapter(deps.oidc, name);
      adapters.set(name, adapter);
    }
    return adapter;
  };
}
