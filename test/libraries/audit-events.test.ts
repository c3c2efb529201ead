import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AuditEvent } from '../../src/store/types.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn } from '../helpers/relying-party.ts';
import { runCli } from '../helpers/run-cli.ts';
import { UserAgent } from '../helpers/user-agent.ts';

const person = { email: 'audited@example.com', password: 'an audited long passphrase' };

let gatehouse: TestGatehouse;
let rp: client.Configuration;
let clientId: string;
let accountId: string;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  accountId = await gatehouse.addUser(person.email, person.password);
  const registered = await gatehouse.addClient({ name: 'Audited app', public: true });
  clientId = registered.clientId;
  rp = await relyingParty(gatehouse, registered);
});
afterAll(() => gatehouse?.stop());

type Printed = { at: string; type: string; actor: string; account_id?: string; client_id?: string; source_address?: string; details: Record<string, unknown> };

/** The trail as `gatehouse audit tail --account E --json` prints it. */
async function trail(): Promise<AuditEvent[]> {
  const run = await runCli(['audit', 'tail', '--account', person.email, '--json'], { env: gatehouse.env });
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as Printed[]).map((event) => ({
    at: new Date(event.at), type: event.type, actor: event.actor as AuditEvent['actor'], details: event.details,
    ...(event.account_id ? { accountId: event.account_id } : {}), ...(event.client_id ? { clientId: event.client_id } : {}),
    ...(event.source_address ? { sourceAddress: event.source_address } : {}),
  }));
}

describe('the audit trail of a person', () => {
  it('records failed and successful logins, consent and a refresh token reuse, with time, client and source address', async () => {
    const started = Date.now();
    const ua = new UserAgent(gatehouse.url);
    const login = await ua.page((await authorizationRequest(rp)).url.href);
    await ua.submit(login, '/login', { email: person.email, password: 'not the password at all' });

    const { tokens } = await signIn(gatehouse, rp, person, { scope: 'openid offline_access', prompt: 'consent' });
    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toThrow();
    await expect.poll(async () => (await trail()).map((event) => event.type)).toContain('token_reuse_detected');
    expect(refreshed.access_token).toBeTruthy();

    const events = await trail();
    const byType = (type: string) => events.find((event) => event.type === type);
    expect(byType('login_failed')).toMatchObject({ actor: 'user', clientId, sourceAddress: expect.stringMatching(/127\.0\.0\.1/), details: { reason: 'invalid_credentials' } });
    expect(byType('login')).toMatchObject({ actor: 'user', accountId, clientId, details: { amr: ['pwd'] } });
    expect(byType('consent_given')).toMatchObject({ accountId, clientId, details: { scope: 'openid offline_access' } });
    expect(byType('token_reuse_detected')).toMatchObject({ actor: 'system', accountId, clientId, details: { grantType: 'refresh_token' } });
    for (const event of events) {
      expect(event.at.getTime()).toBeGreaterThanOrEqual(started - 1000);
      expect(event.accountId === accountId || event.type === 'login_failed').toBe(true);
    }
    // Never a password, code or token.
    const everything = JSON.stringify(await gatehouse.store.audit.tail({ limit: 1000 }));
    for (const secret of [person.password, 'not the password at all', tokens.refresh_token!, tokens.access_token, refreshed.refresh_token!]) {
      expect(everything).not.toContain(secret);
    }
  });
});
