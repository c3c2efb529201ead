import { describe, expect, it } from 'vitest';

import { displayUserCode, normalizeUserCode } from '../../src/oidc/device-sign-in.ts';

describe('user codes as people type them', () => {
  it('ignores case, spaces, dashes and other separators', () => {
    for (const typed of ['bcdf-ghjk', 'BCDF GHJK', ' bcdfghjk ', 'b.c.d.f-g h j k', 'BcDf–GhJk']) {
      expect(normalizeUserCode(typed), typed).toBe('BCDFGHJK');
    }
  });

  it('shows a whole code in two groups of four, and anything else as typed (normalised)', () => {
    expect(displayUserCode('bcdfghjk')).toBe('BCDF-GHJK');
    expect(displayUserCode('bcd fg')).toBe('BCDFG');
    expect(displayUserCode('<script>')).toBe('SCRIPT');
    expect(displayUserCode('')).toBe('');
  });
});
