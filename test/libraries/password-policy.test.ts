import { describe, expect, it } from 'vitest';

import { checkPasswordPolicy, defaultPasswordPolicy, minGuessesLog10 } from '../../src/libraries/password-policy.ts';
import type { PasswordPolicyOptions, PolicyVerdict } from '../../src/libraries/password-policy.ts';

const alice = { email: 'alice@example.com', name: 'Alice Liddell' };

/** Nine digits and symbols: enough guesses for zxcvbn, yet no letters for the context rule. */
const pad = '#8$2!9&4%';

function codeOf(verdict: PolicyVerdict): string {
  return verdict.ok ? 'ok' : verdict.code;
}

function check(password: string, context: { email?: string; name?: string } = {}, options?: PasswordPolicyOptions): string {
  return codeOf(checkPasswordPolicy(password, context, options));
}

const bytes = (value: string): number => Buffer.byteLength(value, 'utf8');
const codePoints = (value: string): number => [...value].length;

/** `count` different emoji (4 UTF-8 bytes each), spaced 37 apart so zxcvbn sees no sequence. */
function emoji(count: number): string {
  return Array.from({ length: count }, (_, i) => String.fromCodePoint(0x1f300 + ((i * 37) % 256))).join('');
}

const passphrase64 = 'maple tundra quiver lantern cobalt orchid saddle pepper thimbles';

describe('defaults', () => {
  it('uses the documented defaults', () => {
    expect(defaultPasswordPolicy).toEqual({ minLength: 8, maxBytes: 1024, serviceName: 'Gatehouse' });
    expect(minGuessesLog10).toBe(8);
  });

  it('gives one sentence a person can act on', () => {
    const verdicts = ['xQ7#kP2', 'x'.repeat(2000), 'password1', 'aaaaaaaa', 'alice2024!'].map((p) => checkPasswordPolicy(p, alice));
    expect(verdicts.map(codeOf)).toEqual(['too_short', 'too_long', 'common', 'repetitive', 'context']);
    for (const verdict of verdicts) {
      if (verdict.ok) throw new Error('expected a rejection');
      expect(verdict.reason).toMatch(/^[A-Z][^.]*\.$/);
    }
  });
});

describe('minimum length', () => {
  it('rejects 7 characters and accepts 8', () => {
    expect(checkPasswordPolicy('xQ7#kP2', {})).toEqual({ ok: false, code: 'too_short', reason: 'Use at least 8 characters.' });
    expect(checkPasswordPolicy('xQ7#kP2m', {})).toEqual({ ok: true });
  });

  it('rejects the empty string', () => {
    expect(check('')).toBe('too_short');
  });

  it('counts code points, so emoji and CJK count as one character each', () => {
    expect(emoji(7).length).toBe(14);
    expect(check(emoji(7))).toBe('too_short');
    expect(check(emoji(8))).toBe('ok');
    expect(check('春夏秋冬东南西')).toBe('too_short');
    expect(check('春夏秋冬东南西北')).toBe('ok');
  });

  it('has no composition rules: lowercase letters only or a passphrase is fine', () => {
    expect(check('vqmzkrtplw')).toBe('ok');
    expect(check('tiger opera window basket lemon')).toBe('ok');
  });

  it('honours a minLength override', () => {
    const options = { ...defaultPasswordPolicy, minLength: 12 };
    expect(checkPasswordPolicy('xK9#mQ2vLp7', {}, options)).toEqual({ ok: false, code: 'too_short', reason: 'Use at least 12 characters.' });
    expect(check('xK9#mQ2vLp7w', {}, options)).toBe('ok');
    expect(check('xK9#mQ2vLp7', {})).toBe('ok');
  });
});

describe('maximum length', () => {
  it('accepts a 64-character and a 200-character passphrase', () => {
    expect(codePoints(passphrase64)).toBe(64);
    expect(check(passphrase64, alice)).toBe('ok');
    const long = `${passphrase64} ${'violet harbor crimson falcon nimble quartz '.repeat(4)}`.slice(0, 200);
    expect(codePoints(long)).toBe(200);
    expect(check(long, alice)).toBe('ok');
  });

  it('accepts exactly maxBytes and rejects one byte more', () => {
    const exact = passphrase64 + 'é'.repeat(480);
    expect(bytes(exact)).toBe(1024);
    expect(check(exact)).toBe('ok');
    expect(bytes(`${exact}!`)).toBe(1025);
    expect(checkPasswordPolicy(`${exact}!`, {})).toEqual({
      ok: false,
      code: 'too_long',
      reason: 'Use at most 1024 bytes (accented letters take 2 and emoji 4).',
    });
  });

  it('counts UTF-8 bytes, not characters', () => {
    const ascii = (passphrase64 + 'x'.repeat(1024)).slice(0, 1022);
    expect(check(`${ascii}é`)).toBe('ok'); // 1024 bytes
    const over = `${ascii}xé`;
    expect(codePoints(over)).toBe(1024);
    expect(bytes(over)).toBe(1025);
    expect(check(over)).toBe('too_long');
    expect(bytes(emoji(256))).toBe(1024);
    expect(check(emoji(256))).toBe('ok');
    expect(check(emoji(257))).toBe('too_long');
  });

  it('always accepts 64 characters, even with a smaller maxBytes', () => {
    const options = { ...defaultPasswordPolicy, maxBytes: 10 };
    expect(check(emoji(64), {}, options)).toBe('ok');
    expect(checkPasswordPolicy(emoji(65), {}, options)).toMatchObject({ code: 'too_long', reason: expect.stringContaining('at most 256 bytes') });
  });

  it('honours a larger maxBytes', () => {
    const options = { ...defaultPasswordPolicy, maxBytes: 4096 };
    expect(check(emoji(300), {}, options)).toBe('ok');
    expect(check(emoji(300))).toBe('too_long');
  });
});

describe('NFKC normalization', () => {
  it('checks fullwidth letters as their ASCII form', () => {
    // zxcvbn alone sees random characters here (10^9 guesses); normalized it is "password1".
    expect(check('ｐａｓｓｗｏｒｄ１')).toBe('common');
  });

  it('counts length after normalization', () => {
    const composed = 'Kq7#e\u0301zP'; // 8 code points, "é" once composed
    expect(codePoints(composed)).toBe(8);
    expect(check(composed)).toBe('too_short');
    const ligature = 'x9#\ufb00Q7k'; // 7 code points, "ff" once decomposed
    expect(codePoints(ligature)).toBe(7);
    expect(check(ligature)).toBe('ok');
  });

  it('counts bytes after normalization', () => {
    const squared = '\u337f'.repeat(300); // "㍿" becomes "株式会社"
    expect(bytes(squared)).toBe(900);
    expect(check(squared)).toBe('too_long');
  });

  it('normalizes the context too', () => {
    expect(check(`alice${pad}`, { name: 'Ａｌｉｃｅ' })).toBe('context');
  });
});

describe('common and guessable passwords', () => {
  it.each(['password1', 'qwerty123', 'letmein!', 'iloveyou', 'Password123', '12345678', 'P@ssw0rd!', 'l3tm31n!', 'qwertyuiop', 'summer2024', '1q2w3e4r5t'])(
    'rejects %j as common',
    (password) => {
      expect(check(password)).toBe('common');
    },
  );

  it.each(['aaaaaaaa', 'abcdefgh', 'abcabcabc', 'zxcvbnm,./', 'Ab1!Ab1!Ab1!Ab1!'])('rejects %j as repetitive', (password) => {
    expect(check(password)).toBe('repetitive');
  });

  it.each(['correct horse battery staple', 'tr0ub4dor&3x9Q', 'xK9#mQ2vLp7w', '9fJq2LxA0bZr', 'tiger opera window basket lemon', 'purple monkey dishwasher'])(
    'accepts %j',
    (password) => {
      expect(check(password, alice)).toBe('ok');
    },
  );

  it('draws the line at 10^8 guesses', () => {
    expect(check('mydogspot')).toBe('common'); // 10^7.78
    expect(check('xQ7#kP2m')).toBe('ok'); // a random 8-character string: 10^8 + 1
    expect(check('hello world')).toBe('ok'); // 10^8.06
  });

  it('looks at the start of a long password only', () => {
    // 100 repeated characters then random ones: the weak start decides.
    expect(check(`${'a'.repeat(100)}xK9#mQ2vLp7w`)).toBe('repetitive');
    expect(check(`${'a'.repeat(80)}xK9#mQ2vLp7w`)).toBe('ok');
  });
});

describe('context words', () => {
  it.each(['alice2024!', 'Alice1234', 'gatehouse1', 'Gatehouse2024!', 'AliceExample!!!!99'])('rejects %j for alice@example.com', (password) => {
    expect(check(password, alice)).toBe('context');
  });

  it('accepts a passphrase that merely contains the name', () => {
    expect(check('alice in wonderland is long', alice)).toBe('ok');
  });

  it('rejects a context word padded with digits and symbols, which zxcvbn alone accepts', () => {
    expect(check(`alice${pad}`, alice)).toBe('context');
    expect(check(`alice${pad}`, {})).toBe('ok');
  });

  it('rejects when the words cover more than half of the letters, not exactly half', () => {
    expect(check(`aliceqzxvw${pad}`, alice)).toBe('ok'); // 5 of 10
    expect(check(`aliceqzxv${pad}`, alice)).toBe('context'); // 5 of 9
  });

  it('adds up several words', () => {
    // Each alone covers less than half of the 19 letters; together 12.
    expect(check(`AliceLiddell#qzxvwkr${pad}`, { name: 'Alice Liddell' })).toBe('context');
    expect(check(`AliceLiddell#qzxvwkr${pad}`, { name: 'Alice' })).toBe('ok');
  });

  it('uses the domain without its TLD, from 4 letters', () => {
    expect(check(`Example${pad}`, alice)).toBe('context');
    expect(check(`Example${pad}`, {})).toBe('ok');
    expect(check(`Kvmz${pad}`, { email: 'zed@kvmz.io' })).toBe('context');
    expect(check(`Kvm${pad}`, { email: 'zed@kvm.io' })).toBe('ok');
    expect(check(`Comq${pad}`, { email: 'zed@kvm.comq' })).toBe('ok');
  });

  it('uses the local part from 3 letters, whole and in pieces', () => {
    expect(check(`Ali${pad}`, { email: 'ali@example.org' })).toBe('context');
    expect(check(`Al${pad}x`, { email: 'al@example.org' })).toBe('ok');
    expect(check(`Smith${pad}`, { email: 'j.smith@example.org' })).toBe('context');
    expect(check(`Alice${pad}`, { email: 'alice' })).toBe('context');
  });

  it('uses name parts from 3 letters', () => {
    expect(check(`Liddell${pad}`, alice)).toBe('context');
    expect(check(`Liddell${pad}`, {})).toBe('ok');
    expect(check(`jong${pad}`, { name: 'Jo Ng' })).toBe('ok');
  });

  it('uses the configured service name', () => {
    const options = { ...defaultPasswordPolicy, serviceName: 'Moonbase' };
    expect(checkPasswordPolicy(`Moonbase${pad}`, {}, options)).toEqual({
      ok: false,
      code: 'context',
      reason: "Don't base your password on your name, your email address or Moonbase.",
    });
    expect(check(`Moonbase${pad}`, {})).toBe('ok');
    expect(check(`Gatehouse${pad}`, {})).toBe('context');
  });

  it('passes the words to zxcvbn as user inputs', () => {
    // "vrenkel" is 7 of 15 letters, so only zxcvbn's user-input match rejects it.
    expect(check('vrenkelpassword', { email: 'vrenkel@x.io' })).toBe('context');
    expect(check('vrenkelpassword', {})).toBe('ok');
  });
});

describe('odd input', () => {
  it('handles whitespace and control characters', () => {
    expect(check(' '.repeat(7))).toBe('too_short');
    expect(check(' '.repeat(8))).toBe('repetitive');
    expect(check('\u0000'.repeat(8))).toBe('repetitive');
    expect(check('\u0000\u0007\u001b\u007f\u0085\u200b\u202e\ufeff')).toBe('ok');
  });

  it('handles lone surrogates', () => {
    expect(check('\ud800'.repeat(8))).toBe('repetitive');
    expect(check('\udc00abc\ud800defgh')).toBe('common');
    expect(check('\ud800'.repeat(7))).toBe('too_short');
  });

  it('rejects a 100 KB string quickly, before estimating it', () => {
    // A weak start would be 'repetitive' if zxcvbn ran before the byte check.
    for (const huge of ['correct horse battery staple '.repeat(3500), 'a'.repeat(100_001), emoji(256).repeat(100)]) {
      expect(bytes(huge)).toBeGreaterThan(100_000);
      const started = performance.now();
      expect(check(huge)).toBe('too_long');
      expect(performance.now() - started).toBeLessThan(200);
    }
  });

  it('survives values that break the types', () => {
    expect(check(undefined as unknown as string)).toBe('too_short');
    expect(check(12345678 as unknown as string)).toBe('too_short');
    expect(codeOf(checkPasswordPolicy('password1', undefined as unknown as { email?: string }))).toBe('common');
    expect(check(`alice${pad}`, { email: 42, name: null } as unknown as { email?: string })).toBe('ok');
  });
});

describe('the policy thread', () => {
  it('stops once idle, and the next check starts it again with the same verdicts', async () => {
    const { checkPasswordPolicyAsync, policyThreadForTests } = await import('../../src/libraries/password-policy.ts');
    policyThreadForTests.setIdleMs(20);
    try {
      expect(await checkPasswordPolicyAsync('correct horse battery staple orbit', {})).toEqual({ ok: true });
      expect(policyThreadForTests.running()).toBe(true);
      await expect.poll(() => policyThreadForTests.running(), { timeout: 5_000 }).toBe(false);
      // Started again for this check, which it answers as before.
      expect(await checkPasswordPolicyAsync('password123', {})).toMatchObject({ ok: false, code: 'common' });
      expect(policyThreadForTests.running()).toBe(true);
    } finally {
      policyThreadForTests.setIdleMs(60_000);
    }
  });

  it('keeps a thread busy with checks in flight, however long they take', async () => {
    const { checkPasswordPolicyAsync, policyThreadForTests } = await import('../../src/libraries/password-policy.ts');
    policyThreadForTests.setIdleMs(1);
    try {
      const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => checkPasswordPolicyAsync(`a long passphrase number ${i} for the thread`, {})));
      expect(verdicts.every((verdict) => verdict.ok)).toBe(true);
    } finally {
      policyThreadForTests.setIdleMs(60_000);
    }
  });
});
