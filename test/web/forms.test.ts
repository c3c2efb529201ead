import type { Context } from 'koa';
import { describe, expect, it } from 'vitest';

import { isGatehouseError } from '../../src/errors.ts';
import { keyedHash } from '../../src/keys/encryption.ts';
import { sameToken } from '../../src/keys/encryption.ts';
import { field } from '../../src/flows/interaction.ts';
import { createFormProtection } from '../../src/web/forms.ts';

const key = Buffer.alloc(32, 7);

function request(method: string, body?: unknown): Context {
  return { method, state: {}, request: { body } } as unknown as Context;
}

describe('createFormProtection', () => {
  const forms = createFormProtection(key);

  it('gives each scope its own stable token, keyed from KEY_ENCRYPTION_KEY', () => {
    expect(forms.token('interaction:abc')).toBe(forms.token('interaction:abc'));
    expect(forms.token('interaction:abc')).not.toBe(forms.token('interaction:abd'));
    expect(forms.token('account:sid-1')).not.toBe(forms.token('interaction:sid-1'));
    expect(createFormProtection(Buffer.alloc(32, 8)).token('interaction:abc')).not.toBe(forms.token('interaction:abc'));
    // The same token the interaction pages always used: forms opened before an upgrade still post.
    expect(forms.token('interaction:abc')).toBe(keyedHash(key, 'csrf', 'interaction:abc'));
  });

  it('hands the token to the templates on every request, and lets a GET through', () => {
    const ctx = request('GET');
    forms.protect(ctx, 'link:token-1');
    expect(ctx.state.csrf).toBe(forms.token('link:token-1'));
    expect(forms.check(request('GET'), 'link:token-1')).toBe(true);
  });

  it('accepts a POST carrying the scope’s token', () => {
    const ctx = request('POST', { csrf: forms.token('account:sid-1') });
    expect(() => forms.protect(ctx, 'account:sid-1')).not.toThrow();
    expect(forms.check(request('POST', { csrf: forms.token('account:sid-1') }), 'account:sid-1')).toBe(true);
  });

  it('refuses a POST without the token, with another scope’s, or with a malformed one', () => {
    const bodies = [undefined, {}, { csrf: '' }, { csrf: forms.token('account:sid-2') }, { csrf: [forms.token('account:sid-1')] }, { csrf: `${forms.token('account:sid-1')}x` }];
    for (const body of bodies) {
      expect(forms.check(request('POST', body), 'account:sid-1')).toBe(false);
      let thrown: unknown;
      try {
        forms.protect(request('POST', body), 'account:sid-1');
      } catch (error) {
        thrown = error;
      }
      expect(isGatehouseError(thrown) && thrown.code).toBe('forbidden');
      expect((thrown as Error).message).toBe('This form has expired or did not come from this site. Go back, reload the page and try again.');
    }
  });
});

describe('form helpers', () => {
  it('reads one field of a parsed body', () => {
    expect(field({ a: 'x' }, 'a')).toBe('x');
    expect(field({ a: 'x' }, 'b')).toBeUndefined();
    expect(field(undefined, 'a')).toBeUndefined();
    expect(field('text', 'a')).toBeUndefined();
  });

  it('compares tokens exactly', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    expect(sameToken('abc', 'abd')).toBe(false);
    expect(sameToken('abc', 'ab')).toBe(false);
    expect(sameToken('abc', undefined)).toBe(false);
    expect(sameToken('abc', ['abc'])).toBe(false);
  });
});
