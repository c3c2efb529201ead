import type Provider from 'oidc-provider';

export type SeedRequest = {
  clientId: string;
  accountId: string;
  /** The scope each grant covers (and each token carries). */
  scope: string;
  sessions: number;
  tokens: number;
  /** How many session ids and token values to hand back, to use them over HTTP. */
  sample?: number;
};

export type SeedResult = { sessions: string[]; tokens: string[] };

/**
 * Creates `sessions` logged-in sessions, each with its own grant for the client, and `tokens`
 * opaque access tokens spread over those grants — through the provider's own models, so they are
 * exactly what logins and code exchanges store, written through whatever adapter the provider has
 * (Gatehouse's store, or the library's in-memory adapter).
 */
export async function seedModels(provider: Provider, request: SeedRequest): Promise<SeedResult> {
  const sample = request.sample ?? 1000;
  const client = await provider.Client.find(request.clientId);
  if (!client) throw new Error(`no client ${request.clientId}`);
  const sessionTtl = 14 * 86_400;
  const grants: { grantId: string; sessionUid: string }[] = [];
  const sessions: string[] = [];
  for (let index = 0; index < request.sessions; index += 1) {
    const grant = new provider.Grant({ clientId: request.clientId, accountId: request.accountId });
    grant.addOIDCScope(request.scope);
    const grantId = await grant.save();
    const session = new provider.Session();
    session.loginAccount({ accountId: request.accountId, amr: ['pwd'] });
    session.ensureClientContainer(request.clientId);
    session.grantIdFor(request.clientId, grantId);
    await session.save(sessionTtl);
    grants.push({ grantId, sessionUid: session.uid });
    if (sessions.length < sample) sessions.push(session.jti);
  }
  const tokens: string[] = [];
  for (let index = 0; index < request.tokens; index += 1) {
    const { grantId, sessionUid } = grants[index % grants.length]!;
    const token = new provider.AccessToken({ accountId: request.accountId, client, grantId, sessionUid, scope: request.scope, gty: 'authorization_code' });
    const value = await token.save();
    if (tokens.length < sample) tokens.push(value);
  }
  return { sessions, tokens };
}
