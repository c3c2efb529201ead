import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { clientBrand } from '../../src/flows/client-brand.ts';
import { refused, succeeded } from '../helpers/cli-assertions.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { cliFor } from '../helpers/run-cli.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

const alice = { email: 'alice@example.com', password: 'correct horse battery staple' };
const settle = () => new Promise((resolve) => setTimeout(resolve, 1_100));

type ClientJson = Record<string, unknown> & { client_id: string; client_secret?: string };

describe('gatehouse clients update and rotate-secret', () => {
  let gatehouse: TestGatehouse;
  let cli: ReturnType<typeof cliFor>;
  const json = async (args: string[]) => JSON.parse(succeeded(await cli(['--json', ...args]))) as ClientJson;

  beforeAll(async () => {
    gatehouse = await startGatehouse();
    await gatehouse.addUser(alice.email, alice.password);
    cli = cliFor(gatehouse.env);
  });
  afterAll(() => gatehouse?.stop());

  it('changes the name, redirect URIs, links and grant types, keeps the rest, and audits client_updated', async () => {
    const added = await json(['clients', 'add', '--name', 'Shop', '--redirect-uri', 'https://shop.example/cb', '--first-party']);
    const updated = await json([
      'clients', 'update', '--id', added.client_id, '--name', 'Shop 2', '--redirect-uri', 'https://shop.example/cb2', '--redirect-uri', 'https://shop.example/cb3',
      '--logo-uri', 'https://shop.example/logo.png', '--policy-uri', 'https://shop.example/privacy', '--tos-uri', 'https://shop.example/terms',
      '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', '--grant-type', 'client_credentials',
    ]);
    expect(updated).toMatchObject({
      client_id: added.client_id, client_name: 'Shop 2', redirect_uris: ['https://shop.example/cb2', 'https://shop.example/cb3'],
      logo_uri: 'https://shop.example/logo.png', policy_uri: 'https://shop.example/privacy', tos_uri: 'https://shop.example/terms',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], first_party: true, token_endpoint_auth_method: 'client_secret_basic',
    });
    expect(updated.client_secret).toBeUndefined();
    expect(await json(['clients', 'show', added.client_id])).toMatchObject({ client_name: 'Shop 2', logo_uri: 'https://shop.example/logo.png' });

    // An empty link removes it.
    expect(await json(['clients', 'update', '--id', added.client_id, '--logo-uri', ''])).not.toHaveProperty('logo_uri');

    const events = JSON.parse(succeeded(await cli(['--json', 'audit', 'tail']))) as Array<{ type: string; client_id?: string; details: { changed?: string[] } }>;
    const updates = events.filter((event) => event.type === 'client_updated' && event.client_id === added.client_id);
    expect(updates).toHaveLength(2);
    expect(updates[0]!.details.changed).toEqual(['client_name', 'grant_types', 'logo_uri', 'policy_uri', 'redirect_uris', 'tos_uri']);
  });

  it('refuses what a new client would be refused, an unknown client, and links that are not https', async () => {
    const added = await json(['clients', 'add', '--name', 'Shop', '--redirect-uri', 'https://shop.example/cb']);
    refused(await cli(['clients', 'update', '--id', added.client_id, '--policy-uri', 'http://shop.example/privacy']), /https/);
    refused(await cli(['clients', 'update', '--id', added.client_id, '--redirect-uri', 'https://shop.example/cb#frag']), /fragment/);
    refused(await cli(['clients', 'update', '--id', added.client_id, '--auth-method', 'private_key_jwt']), /jwks/);
    refused(await cli(['clients', 'update', '--id', 'no-such-client', '--name', 'X']), /no-such-client|no client|not found/i);
    refused(await cli(['clients', 'update', '--name', 'X']), /--id/);
    expect(await json(['clients', 'show', added.client_id])).toMatchObject({ redirect_uris: ['https://shop.example/cb'] });
  });

  it('gives a secret when a public client becomes confidential, and rotate-secret refuses a client without one', async () => {
    const added = await json(['clients', 'add', '--name', 'SPA', '--redirect-uri', redirectUri, '--public']);
    refused(await cli(['clients', 'rotate-secret', '--id', added.client_id]), /secret/);
    const updated = await json(['clients', 'update', '--id', added.client_id, '--auth-method', 'client_secret_basic']);
    expect(updated.client_secret).toEqual(expect.any(String));
    const rotated = await json(['clients', 'rotate-secret', '--id', added.client_id, '--overlap-days', '7']);
    expect(rotated.client_secret).not.toBe(updated.client_secret);
    refused(await cli(['clients', 'rotate-secret', '--id', added.client_id, '--overlap-days', 'soon']), /whole number/);
    refused(await cli(['clients', 'rotate-secret', '--id', added.client_id, '--overlap-days', '400']), /0 to 90/);

    const events = JSON.parse(succeeded(await cli(['--json', 'audit', 'tail']))) as Array<{ type: string; client_id?: string; details: Record<string, unknown> }>;
    expect(events.find((event) => event.type === 'client_secret_rotated' && event.client_id === added.client_id)?.details).toMatchObject({ overlap_days: 7 });
    // The text output names the end of the overlap and never the old secret.
    const text = succeeded(await cli(['clients', 'rotate-secret', '--id', added.client_id, '--overlap-days', '1']));
    expect(text).toContain('the previous secret keeps working until');
    expect(text).not.toContain(rotated.client_secret);
  });

  it('shows the privacy policy and terms links on the consent page (rel="noopener noreferrer"), and a logo only from our origin', async () => {
    const added = await json(['clients', 'add', '--name', 'Links app', '--redirect-uri', redirectUri,
      '--logo-uri', 'https://cdn.links.example/logo.png', '--policy-uri', 'https://links.example/privacy', '--tos-uri', 'https://links.example/terms']);
    const rp = await relyingParty(gatehouse, { clientId: added.client_id, clientSecret: added.client_secret! });
    const ua = new UserAgent(gatehouse.url);
    const request = await authorizationRequest(rp);
    const login = await ua.navigate(request.url.href);
    if (!isPage(login)) throw new Error('expected the login page');
    const consent = await ua.submit(login, '/login', alice);
    if (!isPage(consent)) throw new Error('expected the consent page');

    const links = [...consent.document.querySelectorAll('.client-brand-links a')].map((a) => ({ href: a.getAttribute('href'), rel: a.getAttribute('rel') }));
    expect(links).toEqual([
      { href: 'https://links.example/privacy', rel: 'noopener noreferrer' },
      { href: 'https://links.example/terms', rel: 'noopener noreferrer' },
    ]);
    // The logo's host cannot be reached from here: no logo, and no other origin may serve an image to the page
    // (a reachable logo is fetched and served from our origin: test/web/client-logo.test.ts).
    expect(consent.document.querySelector('.client-brand-logo')).toBeNull();
    expect(consent.headers.get('content-security-policy')).toContain("img-src 'self' data:;");

    // Without links: none shown.
    const plain = await json(['clients', 'add', '--name', 'Plain app', '--redirect-uri', redirectUri]);
    await settle();
    const plainRp = await relyingParty(gatehouse, { clientId: plain.client_id, clientSecret: plain.client_secret! });
    const second = await ua.navigate((await authorizationRequest(plainRp)).url.href);
    if (!isPage(second)) throw new Error('expected the consent page');
    expect(second.document.querySelector('.client-brand')).toBeNull();
    expect(second.headers.get('content-security-policy')).toContain("img-src 'self' data:;");
  });

  it('links only to web addresses, and asks for a logo only for a client an operator registered', async () => {
    const asked: string[] = [];
    const logos = { addressFor: async (_clientId: string, uri: string) => { asked.push(uri); return '/assets/client-logos/x'; } };
    const https = { clientId: 'c', name: 'App', logoUri: 'https://a.example/l.png', policyUri: 'https://a.example/p', tosUri: 'https://a.example/t' };
    expect(await clientBrand({ ...https, origin: 'operator' }, logos)).toEqual({ name: 'App', logo: '/assets/client-logos/x', policy: https.policyUri, terms: https.tosUri });
    expect(await clientBrand({ ...https, origin: 'self_registered' }, logos)).toEqual({ name: 'App', policy: https.policyUri, terms: https.tosUri });
    expect(asked).toEqual([https.logoUri]);
    expect(await clientBrand({ clientId: 'c', name: 'App', logoUri: 'ftp://a.example/l.png', policyUri: 'javascript:alert(1)', tosUri: 'https://user:pw@a.example/t', origin: 'operator' }, logos)).toEqual({ name: 'App' });
    expect(await clientBrand({ clientId: 'c', name: 'App', logoUri: 42, origin: 'operator' }, logos)).toEqual({ name: 'App' });
  });
});
