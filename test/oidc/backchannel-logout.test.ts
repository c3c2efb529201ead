import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemClock } from '../../src/clock.ts';
import { clientsLibrary } from '../../src/libraries/clients.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { createLogoutDeliveryWorker } from '../../src/oidc/backchannel-logout.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { AuditEvent, Store } from '../../src/store/types.ts';
import { movableClock } from '../helpers/clock.ts';
import type { MovableClock } from '../helpers/clock.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { postLogoutRedirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';
import { cliFor } from '../helpers/run-cli.ts';
import { isPage } from '../helpers/user-agent.ts';

/**
 * Back-channel logout end to end: a real receiving server on loopback gets a logout token signed by
 * Gatehouse whenever a session its client is in ends, through the durable queue and its worker.
 */

/** A relying party's back-channel logout endpoint: records every POST; answers 503 while `down`. */
type Receiver = { url: string; server: Server; down: boolean; attempts: number; tokens: string[] };

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = { url: '', server: createServer(), down: false, attempts: 0, tokens: [] };
  receiver.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      receiver.attempts += 1;
      if (receiver.down) return void res.writeHead(503).end();
      const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('logout_token');
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-www-form-urlencoded' || !token) return void res.writeHead(400).end();
      receiver.tokens.push(token);
      res.writeHead(200, { 'cache-control': 'no-store' }).end();
    });
  });
  receiver.server.listen(0, '127.0.0.1');
  await once(receiver.server, 'listening');
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/backchannel-logout`;
  return receiver;
}

const people = {
  ada: { email: 'ada@example.com', password: 'analytical engine notes' },
  grace: { email: 'grace@example.com', password: 'compiler of the first kind' },
  alan: { email: 'alan@example.com', password: 'on computable numbers' },
  edsger: { email: 'edsger@example.com', password: 'goto considered harmful' },
  barbara: { email: 'barbara@example.com', password: 'abstract data types rule' },
};
const accountIds: Record<string, string> = {};

let clock: MovableClock;
let gatehouse: TestGatehouse;
let receiver: Receiver;
let registered: { clientId: string; clientSecret?: string };
let rp: client.Configuration;
let jwks: ReturnType<typeof createRemoteJWKSet>;
/** The libraries on the server's store, as another part of the same process uses them. */
let libraries: Libraries;
const mails: Array<{ to: string; template: string; data: Record<string, unknown> }> = [];

beforeAll(async () => {
  clock = movableClock();
  gatehouse = await startGatehouse({ clock });
  receiver = await startReceiver();
  registered = await gatehouse.addClient({ name: 'Receiving app', backchannelLogoutUri: receiver.url });
  rp = await relyingParty(gatehouse, registered);
  jwks = createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!));
  for (const [name, person] of Object.entries(people)) accountIds[name] = await gatehouse.addUser(person.email, person.password);
  libraries = createLibraries({
    store: gatehouse.store, config: gatehouse.config, clock, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey,
    outbox: { send: async (to, template, data) => void mails.push({ to, template, data }) },
  });
});

afterAll(async () => {
  await gatehouse?.stop();
  receiver?.server.close();
});

/** Verifies a logout token as a relying party must (OpenID Connect Back-Channel Logout 1.0 §2.6). */
async function verifyLogoutToken(token: string) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: gatehouse.url, audience: registered.clientId, typ: 'logout+jwt', maxTokenAge: '2 minutes' });
  expect(protectedHeader.alg).toBe('RS256');
  expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
  expect(payload).not.toHaveProperty('nonce');
  expect(typeof payload.jti).toBe('string');
  expect(typeof payload.iat).toBe('number');
  return payload;
}

/** The newest audit events of these types, oldest first. */
async function auditOf(types: string[], accountId: string): Promise<AuditEvent[]> {
  return (await gatehouse.store.audit.tail({ limit: 200, accountId })).filter((event) => types.includes(event.type));
}

async function signedIn(person: { email: string; password: string }) {
  const { tokens, ua } = await signIn(gatehouse, rp, person);
  const sid = tokens.claims()!.sid;
  expect(typeof sid).toBe('string');
  return { tokens, ua, sid: sid as string };
}

describe('back-channel logout', () => {
  it('is advertised in discovery', () => {
    const metadata = rp.serverMetadata() as Record<string, unknown>;
    expect(metadata.backchannel_logout_supported).toBe(true);
    expect(metadata.backchannel_logout_session_supported).toBe(true);
  });

  it('after RP-initiated logout, the receiver gets one logout token whose sid is the ID token\'s', async () => {
    const { tokens, ua, sid } = await signedIn(people.ada);
    const before = receiver.tokens.length;

    const endSession = client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutRedirectUri });
    const confirm = await ua.page(endSession.href);
    const done = await ua.submit(confirm, '/session/end/confirm', { logout: 'yes' });
    expect(isPage(done)).toBe(false);
    await gatehouse.deliverLogouts();

    expect(receiver.tokens.slice(before)).toHaveLength(1);
    const payload = await verifyLogoutToken(receiver.tokens.at(-1)!);
    expect(payload.sid).toBe(sid);
    expect(payload.sub).toBe(accountIds.ada);
    expect((await auditOf(['backchannel_logout.queued', 'backchannel_logout.delivered'], accountIds.ada!)).map((event) => [event.type, event.clientId, event.details.sid, event.details.reason]))
      .toEqual([
        ['backchannel_logout.queued', registered.clientId, sid, 'rp_logout'],
        ['backchannel_logout.delivered', registered.clientId, sid, 'rp_logout'],
      ]);
    // Delivered exactly once: later rounds have nothing to send.
    await gatehouse.deliverLogouts();
    expect(receiver.tokens.slice(before)).toHaveLength(1);
  });

  it('after a password reset, every session\'s receiver is told', async () => {
    const first = await signedIn(people.grace);
    const second = await signedIn(people.grace);
    expect(first.sid).not.toBe(second.sid);
    const before = receiver.tokens.length;

    await libraries.recovery.request(people.grace.email, { actor: 'user' });
    const link = new URL(String(mails.findLast((mail) => mail.to === people.grace.email && mail.template === 'reset-password')!.data.link));
    const token = link.searchParams.get('token') ?? link.pathname.split('/').at(-1);
    const outcome = await libraries.recovery.reset({ token, password: 'a brand new passphrase here' }, { actor: 'user' });
    expect(outcome.ok).toBe(true);
    await gatehouse.deliverLogouts();

    const sids = await Promise.all(receiver.tokens.slice(before).map(async (each) => (await verifyLogoutToken(each)).sid));
    expect(sids.sort()).toEqual([first.sid, second.sid].sort());
  });

  it('after `users disable`, the receiver is told', async () => {
    const { sid } = await signedIn(people.alan);
    const before = receiver.tokens.length;

    const run = await cliFor(gatehouse.env)(['users', 'disable', people.alan.email]);
    expect(run.code).toBe(0);
    await gatehouse.deliverLogouts();

    const payloads = await Promise.all(receiver.tokens.slice(before).map(verifyLogoutToken));
    expect(payloads.map((payload) => [payload.sub, payload.sid])).toEqual([[accountIds.alan, sid]]);
    expect((await auditOf(['backchannel_logout.queued'], accountIds.alan!)).map((event) => [event.actor, event.details.reason])).toEqual([['cli', 'account_disabled']]);
  });

  it('after `users sign-out`, with the receiver down: the failure is recorded and retried, and delivered once it is back', async () => {
    const { sid } = await signedIn(people.edsger);
    const cli = cliFor(gatehouse.env);
    receiver.down = true;
    const [attemptsBefore, tokensBefore] = [receiver.attempts, receiver.tokens.length];

    const signOut = await cli(['users', 'sign-out', '--email', people.edsger.email]);
    expect(signOut.code).toBe(0);
    expect(signOut.stdout).toContain('1 session ended, 1 back-channel logout queued');
    await gatehouse.deliverLogouts();

    // One attempt, refused: recorded, logged in the audit trail with its reason, retried later.
    expect(receiver.attempts - attemptsBefore).toBe(1);
    const failed = await auditOf(['backchannel_logout.failed'], accountIds.edsger!);
    expect(failed.map((event) => [event.details.attempt, event.details.sid])).toEqual([[1, sid]]);
    expect(String(failed[0]!.details.error)).toMatch(/503/);
    const status = await cli(['logout', 'status', '--json']);
    const reported = JSON.parse(status.stdout) as { pending: number; recent_failures: Array<{ sid: string; status: string; attempts: number; last_error: string }> };
    expect(reported.pending).toBe(1);
    expect(reported.recent_failures).toEqual([expect.objectContaining({ sid, status: 'pending', attempts: 1, last_error: expect.stringMatching(/503/) })]);
    expect((await cli(['logout', 'status'])).stdout).toMatch(/pending: 1 .*\n[\s\S]*retrying/);

    // Not due before the backoff (30 s) is over.
    await gatehouse.deliverLogouts();
    expect(receiver.attempts - attemptsBefore).toBe(1);

    receiver.down = false;
    clock.advance(31_000);
    await gatehouse.deliverLogouts();
    await gatehouse.deliverLogouts();

    expect(receiver.attempts - attemptsBefore).toBe(2);
    expect(receiver.tokens.slice(tokensBefore)).toHaveLength(1);
    expect((await verifyLogoutToken(receiver.tokens.at(-1)!)).sid).toBe(sid);
    expect((await auditOf(['backchannel_logout.delivered'], accountIds.edsger!)).map((event) => event.details.attempt)).toEqual([2]);
    expect((await auditOf(['account_signed_out'], accountIds.edsger!)).map((event) => [event.actor, event.details.queued])).toEqual([['cli', 1]]);
    expect(JSON.parse((await cli(['logout', 'status', '--json'])).stdout)).toMatchObject({ pending: 0, recent_failures: [] });
  });

  it('gives a delivery up after the configured number of attempts, and says so', async () => {
    const { sid } = await signedIn(people.barbara);
    receiver.down = true;
    try {
      await libraries.sessions.signOut(people.barbara.email, { actor: 'cli' });
      const { maxAttempts, maxRetrySeconds } = gatehouse.config.backchannelLogout;
      for (let attempt = 0; attempt < maxAttempts; attempt += 1) {
        await gatehouse.deliverLogouts();
        clock.advance(maxRetrySeconds * 1000 + 1000);
      }
      await gatehouse.deliverLogouts();
    } finally {
      receiver.down = false;
    }
    const events = await auditOf(['backchannel_logout.failed', 'backchannel_logout.given_up'], accountIds.barbara!);
    expect(events.filter((event) => event.type === 'backchannel_logout.failed')).toHaveLength(gatehouse.config.backchannelLogout.maxAttempts);
    expect(events.at(-1)).toMatchObject({ type: 'backchannel_logout.given_up', details: { sid, attempts: gatehouse.config.backchannelLogout.maxAttempts } });
    const status = JSON.parse((await cliFor(gatehouse.env)(['logout', 'status', '--json'])).stdout) as { failed: number; recent_failures: Array<{ sid: string; status: string }> };
    expect(status.failed).toBeGreaterThanOrEqual(1);
    expect(status.recent_failures).toEqual(expect.arrayContaining([expect.objectContaining({ sid, status: 'failed' })]));
  });

  it('puts the session\'s sid in the ID tokens of a client without a receiver too', async () => {
    const plain = await gatehouse.addClient({ name: 'No receiver' });
    const { tokens } = await signIn(gatehouse, await relyingParty(gatehouse, plain), people.ada);
    expect(typeof tokens.claims()!.sid).toBe('string');
  });

  it('registers receivers from the CLI: sid required unless said, removable, https only in production', async () => {
    const cli = cliFor(gatehouse.env);
    const added = await cli(['clients', 'add', '--name', 'CLI app', '--redirect-uri', 'https://app.example.test/cb', '--backchannel-logout-uri', 'https://app.example.test/bcl', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const metadata = JSON.parse(added.stdout) as { client_id: string; backchannel_logout_uri: string; backchannel_logout_session_required: boolean };
    expect(metadata).toMatchObject({ backchannel_logout_uri: 'https://app.example.test/bcl', backchannel_logout_session_required: true });
    expect((await cli(['clients', 'show', metadata.client_id])).stdout).toContain('back-channel:   https://app.example.test/bcl (sid)');

    const updated = await cli(['clients', 'update', '--id', metadata.client_id, '--backchannel-logout-session-required', 'no', '--json']);
    expect(JSON.parse(updated.stdout)).toMatchObject({ backchannel_logout_uri: 'https://app.example.test/bcl', backchannel_logout_session_required: false });
    const bad = await cli(['clients', 'update', '--id', metadata.client_id, '--backchannel-logout-session-required', 'maybe']);
    expect([bad.code, bad.stderr.trim().split('\n')]).toEqual([1, [expect.stringContaining('--backchannel-logout-session-required takes yes or no')]]);
    const removed = await cli(['clients', 'update', '--id', metadata.client_id, '--backchannel-logout-uri', '', '--json']);
    expect(JSON.parse(removed.stdout)).not.toHaveProperty('backchannel_logout_uri');
    const plainHttp = await cli(['clients', 'add', '--name', 'Plain http', '--redirect-uri', 'https://app.example.test/cb', '--backchannel-logout-uri', 'http://app.example.test/bcl']);
    expect(plainHttp.code).toBe(1);
    expect(plainHttp.stderr).toMatch(/must use https/);

    const production = clientsLibrary({ store: gatehouse.store, clock, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey, config: { ...gatehouse.config, env: 'production' } });
    await expect(production.register({ name: 'Loopback receiver', redirectUris: ['https://app.example.test/cb'], backchannelLogoutUri: receiver.url }, { actor: 'cli' }))
      .rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/must use https in production/) });
  });

  it('two workers on two connections to one database never deliver one row twice', async () => {
    const count = 12;
    const before = receiver.tokens.length;
    // A second instance's store and libraries, on the same database.
    const other: Store = await openStore(gatehouse.config.databaseUrl, { env: gatehouse.config.env, clock });
    try {
      const otherLibraries = createLibraries({ store: other, config: gatehouse.config, clock, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey, outbox: { send: async () => undefined } });
      for (let index = 0; index < count; index += 1) {
        await other.logoutDeliveries.enqueue({ id: `race-${index}`, clientId: registered.clientId, accountId: accountIds.ada!, sid: `race-sid-${index}`, reason: 'sign_out', createdAt: clock() });
      }
      const logger = { warn: () => undefined };
      const workers = [
        createLogoutDeliveryWorker({ provider: gatehouse.provider, sessions: libraries.sessions, logger, batchSize: 8 }),
        createLogoutDeliveryWorker({ provider: gatehouse.provider, sessions: otherLibraries.sessions, logger, batchSize: 8 }),
      ];
      await Promise.all([...workers.map((worker) => worker.deliverDue()), ...workers.map((worker) => worker.deliverDue())]);
      await gatehouse.deliverLogouts();
    } finally {
      await other.close();
    }

    const sids = receiver.tokens.slice(before).map((token) => decodeJwt(token).sid as string);
    expect(sids).toHaveLength(count);
    expect(new Set(sids).size).toBe(count);
  });
});

describe('back-channel logout for a client that registered itself', () => {
  let registering: TestGatehouse;
  afterAll(async () => {
    await registering?.stop();
  });

  it('takes a backchannel_logout_uri at registration and delivers to it', async () => {
    registering = await startGatehouse({ env: { CLIENT_REGISTRATION: 'token' } });
    const ownLibraries = createLibraries({
      store: registering.store, config: registering.config, clock: systemClock,
      keyEncryptionKey: registering.secrets.keyEncryptionKey, outbox: { send: async () => undefined },
    });
    const { token } = await ownLibraries.registrationTokens.create({}, { actor: 'cli' });
    const response = await fetch(`${registering.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        client_name: 'Self-registered', redirect_uris: ['http://127.0.0.1:8080/callback'], token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'], backchannel_logout_uri: receiver.url, backchannel_logout_session_required: true,
      }),
    });
    expect(response.status).toBe(201);
    const body = await response.json() as { client_id: string; client_secret: string; backchannel_logout_uri: string };
    expect(body.backchannel_logout_uri).toBe(receiver.url);
    const selfRegistered = { clientId: body.client_id, clientSecret: body.client_secret };
    const accountId = await registering.addUser(people.ada.email, people.ada.password);
    const { tokens } = await signIn(registering, await relyingParty(registering, selfRegistered), people.ada);
    const before = receiver.tokens.length;

    await ownLibraries.sessions.signOut(accountId, { actor: 'cli' });
    await registering.deliverLogouts();

    const delivered = receiver.tokens.slice(before);
    expect(delivered).toHaveLength(1);
    const { payload } = await jwtVerify(delivered[0]!, createRemoteJWKSet(new URL(`${registering.url}/jwks`)), { issuer: registering.url, audience: body.client_id, typ: 'logout+jwt' });
    expect(payload).toMatchObject({ sub: accountId, sid: tokens.claims()!.sid });
  });
});
