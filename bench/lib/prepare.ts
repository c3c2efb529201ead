import { createAccount, passwordSettingsFrom } from '../../src/libraries/accounts.ts';
import type { Config } from '../../src/config/load-config.ts';
import { registerApi } from '../../src/libraries/apis.ts';
import { providerMetadata, registerClient } from '../../src/libraries/clients.ts';
import { accountClaims } from '../../src/libraries/accounts.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { BaselineSetup, BenchClients } from './fixture.ts';
import { benchApis, benchUser, redirectUri } from './fixture.ts';

export type Prepared = {
  clients: BenchClients;
  accountId: string;
  /** The baseline's mirror of this set-up (clients with their secrets, the account with its hash). */
  baseline: Pick<BaselineSetup, 'clients' | 'account' | 'apis'>;
};

/**
 * Creates the schema (what `gatehouse db migrate` does: production refuses to start without it)
 * and the bench's user, clients and APIs, through the same functions the CLI uses.
 */
export async function prepareDatabase(config: Config, keyEncryptionKey: Buffer): Promise<Prepared> {
  const store = await openStore(config.databaseUrl);
  try {
    await store.migrate();
    const account = await createAccount(store, { email: benchUser.email, password: benchUser.password, name: benchUser.name, emailVerified: true }, passwordSettingsFrom(config));
    const web = await registerClient(store, keyEncryptionKey, { name: 'Bench web app', redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] });
    const spa = await registerClient(store, keyEncryptionKey, { name: 'Bench single-page app', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] });
    const service = await registerClient(store, keyEncryptionKey, { name: 'Bench service', grantTypes: ['client_credentials'] });
    const apis = [];
    for (const api of benchApis) apis.push(await registerApi(store, { identifier: api.identifier, scopes: [...api.scopes], signingAlg: api.signingAlg }));

    const clientMetadata = [];
    for (const id of [web.metadata.client_id, spa.metadata.client_id, service.metadata.client_id]) {
      const record = await store.clients.find(id);
      clientMetadata.push(providerMetadata(record!, keyEncryptionKey));
    }
    return {
      accountId: account.id,
      clients: {
        web: { clientId: web.metadata.client_id, clientSecret: web.clientSecret! },
        spa: { clientId: spa.metadata.client_id },
        service: { clientId: service.metadata.client_id, clientSecret: service.clientSecret! },
      },
      baseline: {
        clients: clientMetadata,
        account: { id: account.id, email: account.email, passwordHash: account.passwordHash!, claims: accountClaims(account) },
        apis: apis.map((api) => ({ identifier: api.identifier, signingAlg: api.signingAlg, scopes: api.scopes, accessTokenTtl: Math.min(api.accessTokenTtl, config.ttl.apiAccessTokenMax) })),
      },
    };
  } finally {
    await store.close();
  }
}
