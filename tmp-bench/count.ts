// temporary: count store calls per request type
import { startGatehouse } from '../test/helpers/gatehouse.ts';
import { authorizationCodeFlow, Browser } from '../bench/lib/flows.ts';
import { basicAuth, webScope, refreshScope } from '../bench/lib/fixture.ts';
import { form, send } from '../bench/lib/http.ts';

const counts = new Map<string, number>();
const gh = await startGatehouse();
const wrap = (name: string, obj: Record<string, unknown>) => {
  for (const key of Object.keys(obj)) {
    const fn = obj[key];
    if (typeof fn !== 'function') continue;
    obj[key] = (...args: unknown[]) => { counts.set(`${name}.${key}`, (counts.get(`${name}.${key}`) ?? 0) + 1); return (fn as (...a: unknown[]) => unknown).apply(obj, args); };
  }
};
const store = gh.store as unknown as Record<string, Record<string, unknown>>;
for (const name of ['accounts', 'clients', 'apis', 'signingKeys', 'audit']) wrap(name, store[name]!);
const model = store.oidc!.model as (n: string) => Record<string, unknown>;
store.oidc!.model = (n: string) => { const m = model(n); wrap(`oidc.${n}`, m); return m; };
await gh.reloadKeys().catch(() => {});
await gh.addUser('bench.user@example.com', 'quiet harbor lantern ferry 7291');
const web = await gh.addClient({ name: 'web', redirectUris: ['http://127.0.0.1:9/callback'] });
const spa = await gh.addClient({ name: 'spa', public: true, redirectUris: ['http://127.0.0.1:9/callback'] });
const svc = await gh.addClient({ name: 'svc', grantTypes: ['client_credentials'], redirectUris: [] });
await gh.addApi({ identifier: 'https://es.test', scopes: ['read'], signingAlg: 'ES256' });
const base = gh.url;
// force provider rebuild so adapter wrapping applies
(gh as unknown as { reloadKeys(): Promise<boolean> });
const show = (label: string) => { console.log(label, JSON.stringify(Object.fromEntries(counts))); counts.clear(); };
const tokens = await authorizationCodeFlow(new Browser(base), { clientId: web.clientId, clientSecret: web.clientSecret! }, webScope);
show('flow(login,consent,token)');
const b = new Browser(base);
const rt = await authorizationCodeFlow(b, { clientId: spa.clientId }, refreshScope, { prompt: 'consent' });
counts.clear();
await send(`${base}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } }); show('userinfo');
await send(`${base}/token/introspection`, { method: 'POST', headers: { authorization: basicAuth({ clientId: web.clientId, clientSecret: web.clientSecret! }) }, body: form({ token: tokens.access_token }) }); show('introspection');
await send(`${base}/token`, { method: 'POST', headers: { authorization: basicAuth({ clientId: svc.clientId, clientSecret: svc.clientSecret! }) }, body: form({ grant_type: 'client_credentials', scope: 'read', resource: 'https://es.test' }) }); show('cc');
const r = await send(`${base}/token`, { method: 'POST', body: form({ grant_type: 'refresh_token', client_id: spa.clientId, refresh_token: rt.refresh_token! }) }); show(`refresh ${r.status}`);
await send(`${base}/.well-known/openid-configuration`); show('discovery');
await send(`${base}/jwks`); show('jwks');
await gh.stop();
process.exit(0);
