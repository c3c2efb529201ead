import { describe, expect, it } from 'vitest';

import { interactionAccountId } from '../../src/oidc/adapter.ts';

describe('interactionAccountId', () => {
  it('names the account a pending step would sign in as, before the session\'s', () => {
    expect(interactionAccountId({ result: { registration: { email: 'a@example.com', accountId: 'acct-new' } }, session: { accountId: 'acct-old' } })).toBe('acct-new');
    expect(interactionAccountId({ result: { passwordVerified: { accountId: 'acct-2', at: 1 } } })).toBe('acct-2');
    expect(interactionAccountId({ session: { accountId: 'acct-3' } })).toBe('acct-3');
  });

  it('names none for a decoy, an anonymous interaction or malformed state', () => {
    expect(interactionAccountId({ result: { registration: { accountId: null } } })).toBeUndefined();
    expect(interactionAccountId({ params: { client_id: 'web' } })).toBeUndefined();
    expect(interactionAccountId({ result: { consent: { grantId: 'g' } }, session: { accountId: 42 } })).toBeUndefined();
    expect(interactionAccountId({ result: 'nonsense' })).toBeUndefined();
    expect(interactionAccountId({ result: { step: null } })).toBeUndefined();
  });
});
