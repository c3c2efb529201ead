import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { changePassword } from '../../src/libraries/password-change.ts';
import { requestedAcrValues } from '../../src/oidc/claims-parameter.ts';
import { defaultPasswordSettings } from '../../src/libraries/accounts.ts';
import { hashOptionsFrom } from '../../src/libraries/passwords.ts';
import { succeeded } from '../helpers/cli-assertions.ts';
import type { MovableClock } from '../helpers/clock.ts';
import { movableClock } from '../helpers/clock.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn } from '../helpers/relying-party.ts';
import { cliFor } from '../helpers/run-cli.ts';
import { asPage, isPage, UserAgent } from '../helpers/user-agent.ts';

const password = 'correct horse battery staple';
const alice = { email: 'alice@example.com', password };
const carol = { email: 'carol@example.com', password };
const bob = { email: 'bob@example.com', password };

/** Alice's whole profile, as `users update` sets it. */
const aliceFlags = [
  '--name', 'Alice Liddell', '--given-name', 'Alice', '--family-name', 'Liddell', '--middle-name', 'Pleasance', '--nickname', 'Al',
  '--preferred-username', 'alice', '--profile-url', 'https://alice.example/', '--picture', 'https://alice.example/me.png',
  '--website', 'https://alice.example/blog', '--gender', 'female', '--birthdate', '1852-05-04', '--zoneinfo', 'Europe/London', '--locale', 'en-GB',
  '--phone-number', '+44 1865 270000', '--phone-number-verified', 'yes',
  '--address-street', '1 Rabbit Hole', '--address-locality', 'Oxford', '--address-region', 'Oxfordshire', '--address-postal-code', 'OX1 1DP', '--address-country', 'United Kingdom',
];

const aliceProfile = {
  name: 'Alice Liddell', given_name: 'Alice', family_name: 'Liddell', middle_name: 'Pleasance', nickname: 'Al', preferred_username: 'alice',
  profile: 'https://alice.example/', picture: 'https://alice.example/me.png', website: 'https://alice.example/blog', gender: 'female',
  birthdate: '1852-05-04', zoneinfo: 'Europe/London', locale: 'en-GB',
};
const aliceAddress = { street_address: '1 Rabbit Hole', locality: 'Oxford', region: 'Oxfordshire', postal_code: 'OX1 1DP', country: 'United Kingdom' };

describe('claims: the address and phone scopes, the full profile, the claims request parameter, updated_at', () => {
  let gatehouse: TestGatehouse;
  let clock: MovableClock;
  let cli: ReturnType<typeof cliFor>;
  let firstParty: client.Configuration;
  let thirdParty: client.Configuration;
  let thirdPartyId: string;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  const ids: Record<string, string> = {};

  /** Lets the provider's account cache (at most 1 s old) see a change made by the CLI. */
  const settle = () => clock.advance(2_000);

  beforeAll(async () => {
    clock = movableClock();
    gatehouse = await startGatehouse({ clock });
    cli = cliFor(gatehouse.env);
    ids.alice = await gatehouse.addUser(alice.email, alice.password);
    ids.carol = await gatehouse.addUser(carol.email, carol.password);
    // Bob's account was created an hour ago (his updated_at then).
    clock.advance(-3_600_000);
    ids.bob = await gatehouse.addUser(bob.email, bob.password, { name: 'Bob' });
    clock.rewind();
    succeeded(await cli(['users', 'update', '--email', alice.email, ...aliceFlags]));
    settle();
    firstParty = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'First', firstParty: true, grantTypes: ['authorization_code'] }));
    const registered = await gatehouse.addClient({ name: 'Elsewhere', grantTypes: ['authorization_code'] });
    thirdPartyId = registered.clientId;
    thirdParty = await relyingParty(gatehouse, registered);
    jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
  });
  afterAll(() => gatehouse?.stop());

  const idToken = async (token: string | undefined, audience: string): Promise<JWTPayload> => (await jwtVerify(token!, jwks, { issuer: gatehouse.url, audience })).payload;

  it('says so in discovery: the claims parameter, the address and phone scopes, every claim', async () => {
    const metadata = await (await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata.claims_parameter_supported).toBe(true);
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'address', 'phone']));
    expect(metadata.claims_supported).toEqual(expect.arrayContaining([
      'sub', 'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender',
      'birthdate', 'zoneinfo', 'locale', 'updated_at', 'email', 'email_verified', 'address', 'phone_number', 'phone_number_verified',
    ]));
  });

  it('releases the full profile, the address and the phone number at userinfo for the profile, address and phone scopes (not in the ID token)', async () => {
    const { tokens } = await signIn(gatehouse, firstParty, alice, { scope: 'openid profile address phone' });
    const userinfo = await client.fetchUserInfo(firstParty, tokens.access_token, ids.alice!);
    expect(userinfo).toEqual({
      sub: ids.alice, ...aliceProfile, updated_at: expect.any(Number),
      address: aliceAddress, phone_number: '+441865270000', phone_number_verified: true,
    });
    // Without the email scope, no email; the ID token carries no profile claims of a code flow.
    const payload = await idToken(tokens.id_token, firstParty.clientMetadata().client_id);
    for (const claim of ['name', 'address', 'phone_number', 'email', 'birthdate']) expect(payload, claim).not.toHaveProperty(claim);
  });

  it('leaves out every claim the account does not have (never an empty string)', async () => {
    const { tokens } = await signIn(gatehouse, firstParty, carol, { scope: 'openid profile address phone' });
    const userinfo = await client.fetchUserInfo(firstParty, tokens.access_token, ids.carol!);
    expect(userinfo).toEqual({ sub: ids.carol, updated_at: expect.any(Number) });
  });

  it('puts email and email_verified in the ID token when the claims parameter asks for them (essential or not)', async () => {
    const claims = JSON.stringify({ id_token: { email: { essential: true }, email_verified: null } });
    const { tokens } = await signIn(gatehouse, firstParty, alice, { scope: 'openid', claims });
    const payload = await idToken(tokens.id_token, firstParty.clientMetadata().client_id);
    expect(payload).toMatchObject({ sub: ids.alice, email: alice.email, email_verified: true });
    // Asked for in the ID token only: userinfo has nothing more than sub.
    expect(await client.fetchUserInfo(firstParty, tokens.access_token, ids.alice!)).toEqual({ sub: ids.alice });
  });

  it('releases at userinfo the claims the claims parameter asks for there, and only those', async () => {
    const claims = JSON.stringify({ userinfo: { phone_number: null, address: { essential: true }, birthdate: null } });
    const { tokens } = await signIn(gatehouse, firstParty, alice, { scope: 'openid', claims });
    expect(await client.fetchUserInfo(firstParty, tokens.access_token, ids.alice!)).toEqual({
      sub: ids.alice, phone_number: '+441865270000', address: aliceAddress, birthdate: '1852-05-04',
    });
    expect(await idToken(tokens.id_token, firstParty.clientMetadata().client_id)).not.toHaveProperty('phone_number');
  });

  it("lists the claims asked for by name on another application's consent page, and releases them once allowed", async () => {
    const ua = new UserAgent(gatehouse.url);
    const claims = JSON.stringify({ id_token: { email: { essential: true }, email_verified: null }, userinfo: { phone_number: null } });
    const request = await authorizationRequest(thirdParty, { scope: 'openid address', claims });
    const consent = asPage(await ua.submit(asPage(await ua.navigate(request.url.href)), '/login', alice));
    const permissions = [...consent.document.querySelectorAll('.permissions li')].map((item) => item.textContent?.trim());
    expect(permissions).toEqual([
      'Know who you are (a stable identifier for your account)',
      'See your postal address',
      'See your email address',
      'See your email address’s verification status',
      'See your phone number',
    ]);
    const callback = await ua.submit(consent, '/consent', { decision: 'allow' });
    if (isPage(callback)) throw new Error(`expected the redirect to the client, got ${callback.url}`);
    const tokens = await client.authorizationCodeGrant(thirdParty, new URL(callback.redirectedTo), {
      pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state, idTokenExpected: true,
    });
    expect(await idToken(tokens.id_token, thirdPartyId)).toMatchObject({ email: alice.email, email_verified: true });
    expect(await client.fetchUserInfo(thirdParty, tokens.access_token, ids.alice!)).toEqual({ sub: ids.alice, address: aliceAddress, phone_number: '+441865270000' });

    // The same claims again: granted already, no consent page.
    const again = await authorizationRequest(thirdParty, { scope: 'openid address', claims });
    expect(await ua.navigate(again.url.href)).toMatchObject({ redirectedTo: expect.stringContaining('code=') });
  });

  it('does not list a claim again that a scope on the same consent page already says', async () => {
    const ua = new UserAgent(gatehouse.url);
    const claims = JSON.stringify({ id_token: { email: null, phone_number: null } });
    const request = await authorizationRequest(thirdParty, { scope: 'openid email', claims });
    const consent = asPage(await ua.submit(asPage(await ua.navigate(request.url.href)), '/login', carol));
    const permissions = [...consent.document.querySelectorAll('.permissions li')].map((item) => item.textContent?.trim());
    expect(permissions).toEqual([
      'Know who you are (a stable identifier for your account)',
      'See your email address and whether it is verified',
      'See your phone number',
    ]);
    // Denied: nothing is released, the application hears access_denied.
    const denied = await ua.submit(consent, '/consent', { decision: 'deny' });
    if (isPage(denied)) throw new Error('expected the redirect to the client');
    expect(new URL(denied.redirectedTo).searchParams.get('error')).toBe('access_denied');
  });

  it('refuses a claims parameter that is not JSON, not an object, or malformed with invalid_request (never a 500)', async () => {
    for (const claims of ['not json', '[1]', '"text"', '{"id_token": 5}', '{"userinfo": {"email": true}}', '{}']) {
      const request = await authorizationRequest(firstParty, { claims });
      const response = await fetch(request.url, { redirect: 'manual' });
      expect(response.status, claims).toBe(303);
      const location = new URL(response.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`, claims).toBe(redirectUri);
      expect(location.searchParams.get('error'), claims).toBe('invalid_request');
      expect(location.searchParams.get('error_description'), claims).toMatch(/claims/);
    }
    // The same through a pushed authorization request: a JSON error.
    const { client_id: clientId } = firstParty.clientMetadata();
    const pushed = await fetch(`${gatehouse.url}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${firstParty.clientMetadata().client_secret as string}`).toString('base64')}` },
      body: new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', claims: '{nope' }),
    });
    expect(pushed.status).toBe(400);
    expect(await pushed.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/claims/) });
  });

  it('asks for a second factor when an essential acr claim names the mfa level (not the login page again)', async () => {
    const dave = { email: 'dave@example.com', password };
    await gatehouse.addUser(dave.email, dave.password);
    const ua = new UserAgent(gatehouse.url);
    const claims = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:gatehouse:loa:mfa'] } } });
    const request = await authorizationRequest(firstParty, { scope: 'openid', claims });
    const next = asPage(await ua.submit(asPage(await ua.navigate(request.url.href)), '/login', dave));
    // Dave has no second factor: he is led through setting one up.
    expect(next.document.querySelector('h1')?.textContent).toBe('Set up two-step verification');
  });

  it('moves updated_at when users update changes the profile, not when the password changes', async () => {
    const { tokens } = await signIn(gatehouse, firstParty, bob, { scope: 'openid profile' });
    const read = async () => (await client.fetchUserInfo(firstParty, tokens.access_token, ids.bob!)) as { updated_at: number; nickname?: string };
    const created = (await read()).updated_at;
    expect(created).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) - 3_590);

    const changed = await changePassword(
      { store: gatehouse.store, outbox: gatehouse.outbox, passwords: { ...defaultPasswordSettings, hash: hashOptionsFrom(gatehouse.config.passwords.argon2) }, clock },
      { accountId: ids.bob!, currentPassword: password, newPassword: 'a different long passphrase' },
    );
    expect(changed.ok).toBe(true);
    settle();
    expect((await read()).updated_at).toBe(created);

    // The same name again changes nothing; a nickname does.
    succeeded(await cli(['users', 'update', '--email', bob.email, '--name', 'Bob']));
    settle();
    expect((await read()).updated_at).toBe(created);
    const before = Math.floor(Date.now() / 1000);
    succeeded(await cli(['users', 'update', '--email', bob.email, '--nickname', 'Bobby']));
    settle();
    const after = await read();
    expect(after.nickname).toBe('Bobby');
    expect(after.updated_at).toBeGreaterThanOrEqual(before);
    expect(after.updated_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });
});

describe('requestedAcrValues', () => {
  it('adds the values of an essential acr claim to acr_values, and ignores anything else', () => {
    const essential = (values: unknown) => JSON.stringify({ id_token: { acr: { essential: true, values } } });
    expect(requestedAcrValues({})).toBeUndefined();
    expect(requestedAcrValues({ acr_values: 'a b' })).toBe('a b');
    expect(requestedAcrValues({ claims: essential(['urn:gatehouse:loa:mfa']) })).toBe('urn:gatehouse:loa:mfa');
    expect(requestedAcrValues({ acr_values: 'a', claims: essential(['a', 'b']) })).toBe('a b');
    // Voluntary, without values, misplaced, malformed: nothing.
    expect(requestedAcrValues({ claims: JSON.stringify({ id_token: { acr: { values: ['b'] } } }) })).toBeUndefined();
    expect(requestedAcrValues({ claims: JSON.stringify({ id_token: { acr: { essential: true } } }) })).toBeUndefined();
    expect(requestedAcrValues({ claims: JSON.stringify({ userinfo: { acr: { essential: true, values: ['b'] } } }) })).toBeUndefined();
    expect(requestedAcrValues({ claims: essential('b') })).toBeUndefined();
    expect(requestedAcrValues({ claims: essential([1, 'has space', 'c']) })).toBe('c');
    for (const claims of ['not json', 'null', '[]', '{"id_token": null}', '{"id_token": {"acr": null}}', 42]) expect(requestedAcrValues({ claims }), String(claims)).toBeUndefined();
  });
});
