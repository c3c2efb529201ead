import { describe, expect, it } from 'vitest';

import { submittedIdentity, unlinkVerdict } from '../../../src/flows/account/identities.ts';
import { identityRows } from '../../../src/flows/account/view.ts';

describe('the "Signed in with" section', () => {
  it('takes a submitted identity only as well-formed text', () => {
    expect(submittedIdentity('acme', 'u1')).toEqual({ connectionId: 'acme', subject: 'u1' });
    expect(submittedIdentity('acme', 's'.repeat(255))).toEqual({ connectionId: 'acme', subject: 's'.repeat(255) });
    for (const [connection, subject] of [[undefined, 'u1'], ['acme', undefined], ['a/b', 'u1'], ['acme', ''], ['acme', 's'.repeat(256)], [['acme'], 'u1'], ['acme', ['u1']]]) {
      expect(submittedIdentity(connection, subject), JSON.stringify([connection, subject])).toBeUndefined();
    }
  });

  const linked = [{ connectionId: 'acme', subject: 'u1' }, { connectionId: 'github', subject: '42' }];
  type Case = { known: boolean; fresh: boolean; canUnlink: boolean };
  const cases: Case[] = [false, true].flatMap((known) => [false, true].flatMap((fresh) => [false, true].map((canUnlink) => ({ known, fresh, canUnlink }))));

  it.each(cases)('unlinks one of the account\'s: known $known, fresh $fresh, another way in $canUnlink', ({ known, fresh, canUnlink }) => {
    const identity = known ? { connectionId: 'github', subject: '42' } : { connectionId: 'github', subject: '43' };
    const expected = !known ? { ok: false, reason: 'unknown' } : !fresh ? { ok: false, reason: 'stale' } : !canUnlink ? { ok: false, reason: 'last_way_in' } : { ok: true };
    expect(unlinkVerdict({ linked, identity, fresh, canUnlink })).toEqual(expected);
  });

  it('lists identities oldest first with the provider, email and times in words', () => {
    const rows = identityRows([
      { connectionId: 'github', subject: '42', connectionName: 'GitHub', email: null, linkedAt: new Date('2030-01-02T10:00:00Z'), lastUsedAt: null },
      { connectionId: 'acme', subject: 'u1', connectionName: null, email: 'a@example.com', linkedAt: new Date('2030-01-01T10:00:00Z'), lastUsedAt: new Date('2030-01-03T09:30:00Z') },
    ], 'en');
    expect(rows.map((row) => row.connectionId)).toEqual(['acme', 'github']);
    expect(rows[0]).toMatchObject({ name: 'A provider no longer available (acme)', email: 'a@example.com' });
    // Dates as the page's language writes them (Intl), in UTC.
    expect(rows[0]!.linked.text).toMatch(/^Linked Jan 1, 2030, 10:00\sAM UTC$/);
    expect(rows[0]!.lastUsed.text).toMatch(/^last used Jan 3, 2030, 9:30\sAM UTC$/);
    expect(rows[1]).toMatchObject({ name: 'GitHub', email: '', lastUsed: { iso: undefined, text: 'never used' } });
  });
});
