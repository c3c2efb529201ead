import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { configDefaults, loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/load-config.ts';
import { endSessions, logoutRetryDelaySeconds, onLogoutQueued, sessionsLibrary } from '../../src/libraries/sessions.ts';
import type { SessionsLibrary } from '../../src/libraries/sessions.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { ClientRecord, Store } from '../../src/store/types.ts';
import { movableClock } from '../helpers/clock.ts';
import type { MovableClock } from '../helpers/clock.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';

let dir: string;
let store: Store;
let clock: MovableClock;
let config: Config;
let sessions: SessionsLibrary;

function client(clientId: string, backchannel: boolean): ClientRecord {
  return {
    metadata: {
      client_id: clientId, redirect_uris: ['https://app.example.test/callback'], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none',
      ...(backchannel ? { backchannel_logout_uri: `https://${clientId}.example.test/backchannel-logout`, backchannel_logout_session_required: true } : {}),
    },
    createdAt: new Date(), dynamic: false, lastUsedAt: null,
  };
}

/** A provider session as oidc-provider stores it: the clients signed in within it, each with its sid. */
async function session(id: string, accountId: string, clients: Record<string, string>) {
  const authorizations = Object.fromEntries(Object.entries(clients).map(([clientId, sid]) => [clientId, { sid, grantId: `grant-${id}-${clientId}` }]));
  await store.oidc.model('Session').upsert(id, { jti: id, uid: `uid-${id}`, accountId, authorizations }, 3600);
  for (const clientId of Object.keys(clients)) await store.oidc.model('Grant').upsert(`grant-${id}-${clientId}`, { jti: `grant-${id}-${clientId}`, accountId, clientId }, 3600);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-sessions-'));
  clock = movableClock();
  store = openSqliteStore(join(dir, 'gatehouse.db'), () => clock().getTime());
  config = loadConfig(testEnvironment(dir));
  sessions = sessionsLibrary({ store, config, clock });
  await store.clients.create(client('notified', true));
  await store.clients.create(client('also-notified', true));
  await store.clients.create(client('silent', false));
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('endSessions', () => {
  it('queues one notification per (client with a receiver, sid) in every session, then revokes them all', async () => {
    await session('s-1', 'acct-1', { notified: 'sid-a', silent: 'sid-b', 'also-notified': 'sid-c' });
    await session('s-2', 'acct-1', { notified: 'sid-d' });
    await session('s-other', 'acct-2', { notified: 'sid-e' });
    const woken: string[] = [];
    const stop = onLogoutQueued(() => woken.push('woken'));

    const ended = await sessions.endSessions('acct-1', { source: { actor: 'cli' }, reason: 'account_disabled' });
    stop();

    expect(ended).toMatchObject({ sessions: 2, queued: 3 });
    expect(ended.revoked).toBeGreaterThanOrEqual(6);
    expect(woken.length).toBeGreaterThan(0);
    const due = await store.logoutDeliveries.claimDue(clock(), 60, 10);
    expect(due.map((each) => [each.clientId, each.sid, each.accountId, each.reason]).sort()).toEqual([
      ['also-notified', 'sid-c', 'acct-1', 'account_disabled'],
      ['notified', 'sid-a', 'acct-1', 'account_disabled'],
      ['notified', 'sid-d', 'acct-1', 'account_disabled'],
    ]);
    expect(await store.oidc.listByAccountId('Session', 'acct-1', 10)).toEqual([]);
    expect(await store.oidc.listByAccountId('Session', 'acct-2', 10)).toHaveLength(1);
    const queuedEvents = (await store.audit.tail({ limit: 10, accountId: 'acct-1' })).filter((event) => event.type === 'backchannel_logout.queued');
    expect(queuedEvents.map((event) => [event.actor, event.clientId, event.details.sid]).sort()).toEqual([
      ['cli', 'also-notified', 'sid-c'], ['cli', 'notified', 'sid-a'], ['cli', 'notified', 'sid-d'],
    ]);
  });

  it('with keep, spares that session and tells only the others\' clients', async () => {
    await session('s-here', 'acct-1', { notified: 'sid-here' });
    await session('s-there', 'acct-1', { notified: 'sid-there' });

    const ended = await endSessions({ store, clock }, 'acct-1', { source: { actor: 'user' }, reason: 'password_change', keep: { sessionId: 's-here', grantIds: ['grant-s-here-notified'] } });

    expect(ended).toMatchObject({ sessions: 1, queued: 1 });
    expect((await store.logoutDeliveries.claimDue(clock(), 60, 10)).map((each) => each.sid)).toEqual(['sid-there']);
    expect((await store.oidc.listByAccountId('Session', 'acct-1', 10)).map((each) => each.id)).toEqual(['s-here']);
  });

  it('tells a session\'s end once, however often it is ended', async () => {
    await session('s-1', 'acct-1', { notified: 'sid-a' });
    expect(await sessions.queueLogout({ clientId: 'notified', accountId: 'acct-1', sid: 'sid-a', reason: 'rp_logout' }, { actor: 'user' })).toBe(true);

    expect(await sessions.endSessions('acct-1', { source: { actor: 'cli' }, reason: 'sign_out' })).toMatchObject({ sessions: 1, queued: 0 });
    expect(await sessions.queueLogout({ clientId: 'notified', accountId: 'acct-1', sid: 'sid-a', reason: 'rp_logout' }, { actor: 'user' })).toBe(false);
    expect(await store.logoutDeliveries.status(10)).toMatchObject({ pending: 1 });
  });

  it('revokes the sessions even when the queue cannot be written, and then says why', async () => {
    await session('s-1', 'acct-1', { notified: 'sid-a' });
    const broken = new Proxy(store, {
      get(target, property) {
        if (property === 'logoutDeliveries') return { ...target.logoutDeliveries, enqueue: async () => { throw new Error('disk full'); } };
        return Reflect.get(target, property) as unknown;
      },
    });

    await expect(endSessions({ store: broken, clock }, 'acct-1', { source: { actor: 'cli' }, reason: 'account_disabled' })).rejects.toThrow('disk full');

    expect(await store.oidc.listByAccountId('Session', 'acct-1', 10)).toEqual([]);
  });

  it('signOut finds the person by email, ends everything and is audited; an unknown person is not_found', async () => {
    const account = await store.accounts.create({ id: 'acct-ada', email: 'ada@example.com', passwordHash: null, emailVerified: true, profile: {}, roles: [], disabled: false });
    await session('s-1', account.id, { notified: 'sid-a' });

    expect(await sessions.signOut('ADA@example.com', { actor: 'cli' })).toMatchObject({ accountId: 'acct-ada', email: 'ada@example.com', sessions: 1, queued: 1 });

    const [event] = (await store.audit.tail({ limit: 10, accountId: 'acct-ada' })).filter((each) => each.type === 'account_signed_out');
    expect(event).toMatchObject({ actor: 'cli', details: { email: 'ada@example.com', sessions: 1, queued: 1 } });
    await expect(sessions.signOut('nobody@example.com', { actor: 'cli' })).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('the delivery queue', () => {
  it('retries with a doubling backoff up to the cap', () => {
    const policy = { firstRetrySeconds: 30, maxRetrySeconds: 3600, maxAttempts: 10 };
    expect([1, 2, 3, 4, 7, 8, 20].map((attempts) => logoutRetryDelaySeconds(policy, attempts))).toEqual([30, 60, 120, 240, 1920, 3600, 3600]);
    expect(configDefaults().backchannelLogout).toMatchObject({ firstRetrySeconds: 30, maxRetrySeconds: 3600, maxAttempts: 10 });
  });

  it('records each attempt: failed and rescheduled, delivered, or given up (permanently or after maxAttempts)', async () => {
    for (const sid of ['sid-ok', 'sid-gone', 'sid-stubborn']) {
      await sessions.queueLogout({ clientId: 'notified', accountId: 'acct-1', sid, reason: 'sign_out' }, { actor: 'cli' });
    }
    const bySid = async () => new Map((await sessions.claimDue(10)).map((each) => [each.sid, each]));

    let due = await bySid();
    expect(await sessions.recordAttempt(due.get('sid-ok')!, { ok: false, error: new Error('connect ECONNREFUSED 127.0.0.1:9') })).toBe('retried');
    expect(await sessions.recordAttempt(due.get('sid-gone')!, { ok: false, error: new Error('the client no longer exists'), permanent: true })).toBe('given_up');
    expect(await sessions.recordAttempt(due.get('sid-stubborn')!, { ok: false, error: new Error('expected 200 OK, got: 500') })).toBe('retried');
    expect(await sessions.claimDue(10)).toEqual([]);

    clock.advance(30_000);
    due = await bySid();
    expect([...due.keys()].sort()).toEqual(['sid-ok', 'sid-stubborn']);
    expect(await sessions.recordAttempt(due.get('sid-ok')!, { ok: true })).toBe('delivered');
    let outcome = await sessions.recordAttempt(due.get('sid-stubborn')!, { ok: false, error: new Error('expected 200 OK, got: 500') });
    for (let attempt = 3; attempt <= config.backchannelLogout.maxAttempts; attempt += 1) {
      expect(outcome).toBe('retried');
      clock.advance(config.backchannelLogout.maxRetrySeconds * 1000);
      const [stubborn] = await sessions.claimDue(10);
      outcome = await sessions.recordAttempt(stubborn!, { ok: false, error: new Error('expected 200 OK, got: 500') });
    }
    expect(outcome).toBe('given_up');

    const status = await sessions.status();
    expect(status).toMatchObject({ pending: 0, delivered: 1, failed: 2 });
    expect(status.recentFailures.map((each) => [each.sid, each.attempts])).toEqual([['sid-stubborn', config.backchannelLogout.maxAttempts], ['sid-gone', 1]]);
    const types = (await store.audit.tail({ limit: 100, accountId: 'acct-1' })).map((event) => event.type);
    expect(types.filter((type) => type === 'backchannel_logout.given_up')).toHaveLength(2);
    expect(types.filter((type) => type === 'backchannel_logout.delivered')).toHaveLength(1);
    expect(types.filter((type) => type === 'backchannel_logout.failed')).toHaveLength(2 + config.backchannelLogout.maxAttempts);
  });

  it('prunes finished deliveries after the retention period', async () => {
    await sessions.queueLogout({ clientId: 'notified', accountId: 'acct-1', sid: 'sid-a', reason: 'sign_out' }, { actor: 'cli' });
    const [delivery] = await sessions.claimDue(10);
    await sessions.recordAttempt(delivery!, { ok: true });

    expect(await sessions.prune(100)).toBe(0);
    clock.advance(config.backchannelLogout.retentionDays * 86_400_000 + 1000);
    expect(await sessions.prune(100)).toBe(1);
    expect(await sessions.status()).toMatchObject({ pending: 0, delivered: 0, failed: 0 });
  });
});
