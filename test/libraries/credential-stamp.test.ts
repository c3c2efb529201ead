import { describe, expect, it } from 'vitest';

import { credentialStamp } from '../../src/libraries/credential-stamp.ts';

const key = Buffer.alloc(32, 7);
const account = { id: 'acct-1', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA' };
const stamp = credentialStamp(key, account);

describe('credentialStamp', () => {
  it('changes with the password hash and the account, and is not the hash itself', () => {
    expect(credentialStamp(key, account)).toBe(stamp);
    expect(credentialStamp(key, { ...account, passwordHash: `${account.passwordHash}x` })).not.toBe(stamp);
    expect(credentialStamp(key, { ...account, id: 'acct-2' })).not.toBe(stamp);
    expect(credentialStamp(key, { ...account, passwordHash: null })).not.toBe(stamp);
    expect(credentialStamp(Buffer.alloc(32, 8), account)).not.toBe(stamp);
    expect(stamp).not.toContain(account.passwordHash);
  });
});
