/**
 * The baseline: bare oidc-provider with its in-memory adapter, in a minimal Koa host, configured
 * with the same features, key types, clients, APIs, lifetimes and argon2id password check as the
 * Gatehouse it is compared with — and nothing else (no store, no templates, no security headers,
 * no audit, no key ring). Started by bench/run.ts with BENCH_BASELINE (JSON, see BaselineSetup).
 */
import { createServer } from 'node:http';

import argon2 from 'argon2';
import { exportJWK, generateKeyPair } from 'jose';
import Koa from 'koa';
import mount from 'koa-mount';
import Provider, { errors } from 'oidc-provider';
import type { Configuration, InteractionResults, UnknownObject } from 'oidc-provider';

import { claimsByScope, supportedScopes } from '../src/oidc/scopes.ts';
import type { BaselineSetup } from './lib/fixture.ts';
import { seedModels } from './lib/seed-models.ts';

const setup = JSON.parse(process.env.BENCH_BASELINE ?? '') as BaselineSetup;

/** One key per algorithm Gatehouse signs with: RS256 (ID tokens), ES256 and EdDSA. */
async function signingKeys() {
  const keys = [];
  for (const [alg, generate] of [['RS256', 'RS256'], ['ES256', 'ES256'], ['EdDSA', 'Ed25519']] as const) {
    const { privateKey } = await generateKeyPair(generate, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
    keys.push({ ...(await exportJWK(privateKey)), alg, use: 'sig', kid: `baseline-${alg}` });
  }
  return { keys };
}

const apis = new Map(setup.apis.map((api) => [api.identifier, api]));

const configuration: Configuration = {
  clients: setup.clients as unknown as Configuration['clients'],
  jwks: (await signingKeys()) as Configuration['jwks'],
  cookies: {
    keys: setup.cookieKeys,
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  async findAccount(_ctx, sub) {
    if (sub !== setup.account.id) return undefined;
    return { accountId: sub, claims: () => ({ ...setup.account.claims, sub }) as { sub: string } };
  },
  claims: Object.fromEntries(Object.entries(claimsByScope).map(([scope, claims]) => [scope, [...claims]])),
  scopes: [...supportedScopes],
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  clientDefaults: { grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'RS256' },
  extraClientMetadata: { properties: ['first_party', 'pkce_exempt'] },
  pkce: { required: (_ctx, client) => !(client.clientAuthMethod !== 'none' && (client as unknown as UnknownObject).pkce_exempt === true) },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    pushedAuthorizationRequests: { enabled: true },
    registration: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async getResourceServerInfo(_ctx, indicator) {
        const api = apis.get(indicator);
        if (!api) throw new errors.InvalidTarget(`${indicator} is not a registered API`);
        return { scope: api.scopes.join(' '), audience: api.identifier, accessTokenTTL: api.accessTokenTtl, accessTokenFormat: 'jwt', jwt: { sign: { alg: api.signingAlg as 'ES256' } } };
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? setup.ttl.accessToken,
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? setup.ttl.clientCredentials,
    AuthorizationCode: setup.ttl.authorizationCode,
    IdToken: setup.ttl.idToken,
    RefreshToken: setup.ttl.refreshToken,
    Grant: setup.ttl.grant,
    Session: setup.ttl.session,
    Interaction: setup.ttl.interaction,
  },
};

const provider = new Provider(setup.issuer, configuration);

async function readForm(req: Koa.Request['req']): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

const page = (body: string) => `<!doctype html><html><head><meta charset="utf-8"><title>Baseline</title></head><body>${body}</body></html>`;

const app = new Koa();
app.keys = setup.cookieKeys;
app.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|consent))?$/.exec(ctx.path);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const [, uid, action] = match;
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    ctx.body = details.prompt.name === 'login'
      ? page(`<form method="post" action="/interaction/${uid}/login"><input name="email"><input type="password" name="password"><button>Sign in</button></form>`)
      : page(`<form method="post" action="/interaction/${uid}/consent"><button name="decision" value="allow">Allow</button></form>`);
    return;
  }
  if (ctx.method !== 'POST') return next();
  const form = await readForm(ctx.req);
  if (action === 'login') {
    const valid = form.get('email') === setup.account.email
      && (await argon2.verify(setup.account.passwordHash, (form.get('password') ?? '').normalize('NFKC')).catch(() => false));
    if (!valid) ctx.throw(401, 'wrong email or password');
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: setup.account.id } }, { mergeWithLastSubmission: false });
    return;
  }
  const prompt = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined)
    ?? new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
  if (prompt.missingOIDCScope?.length) grant.addOIDCScope(prompt.missingOIDCScope.join(' '));
  if (prompt.missingOIDCClaims?.length) grant.addOIDCClaims(prompt.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const result: InteractionResults = { consent: { grantId: await grant.save() } };
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
});
// Bench only: fills the in-memory adapter for the memory measurement (see bench/lib/seed-models.ts).
app.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/__bench/seed') return next();
  const form = await readForm(ctx.req);
  ctx.body = await seedModels(provider, {
    clientId: form.get('client_id')!, accountId: setup.account.id, scope: form.get('scope')!,
    sessions: Number(form.get('sessions')), tokens: Number(form.get('tokens')),
  });
});
app.use(mount(provider));

const server = createServer(app.callback());
server.listen(setup.port, '127.0.0.1', () => console.log(`baseline listening at ${setup.issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
