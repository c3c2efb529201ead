import { describe, expect, it } from 'vitest';

import { startGatehouse } from './helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from './helpers/relying-party.ts';
import { UserAgent } from './helpers/user-agent.ts';

describe('graceful shutdown', () => {
  it('finishes a request in flight, then refuses new connections and closes the store', async () => {
    // Production hashing: the login must still be running (an argon2id verification) when close() starts.
    const gatehouse = await startGatehouse({ passwordHashing: 'production' });
    await gatehouse.addUser('ivy@example.com', 'ivy has a long password');
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Shutdown app' }));
    const ua = new UserAgent(gatehouse.url);
    const login = await ua.page((await authorizationRequest(rp)).url.href);
    const action = new URL(login.document.querySelector('form')!.getAttribute('action')!, gatehouse.url).href;

    // A login takes an argon2id verification (tens of milliseconds): close as soon as it arrives.
    const arrived = new Promise((resolve) => gatehouse.httpServer.once('request', resolve));
    const csrf = login.document.querySelector('form input[name=csrf]')!.getAttribute('value')!;
    const inFlight = ua.request(action, { method: 'POST', body: new URLSearchParams({ csrf, email: 'ivy@example.com', password: 'ivy has a long password' }) });
    await arrived;
    const closing = gatehouse.close();

    const response = await inFlight;
    expect(response.status).toBe(303); // the login completed and redirected back to the provider
    await closing;
    await expect(fetch(`${gatehouse.url}/jwks`)).rejects.toThrow();
    await expect(gatehouse.store.accounts.list()).rejects.toThrow();
    await gatehouse.stop();
  });
});
