import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { caught } from '../helpers/caught.ts';

describe('REGISTRATION, EMAIL_VERIFICATION and MFA', () => {
  it('default to open registration, required verification and an optional second factor', () => {
    expect(loadConfig({}).accounts).toMatchObject({ registration: 'open', emailVerification: 'required', mfa: 'optional', codeTtlSeconds: 900, codeMaxAttempts: 5, resetTokenTtlSeconds: 1800 });
  });

  it('take the documented values', () => {
    expect(loadConfig({ REGISTRATION: 'closed', EMAIL_VERIFICATION: 'optional', MFA: 'required' }).accounts).toMatchObject({ registration: 'closed', emailVerification: 'optional', mfa: 'required' });
  });

  it('refuse anything else with one line naming the variable', () => {
    for (const [name, value, choices] of [['REGISTRATION', 'invite', 'open, closed'], ['EMAIL_VERIFICATION', 'yes', 'required, optional'], ['MFA', 'on', 'required, optional']] as const) {
      const error = caught(() => loadConfig({ [name]: value })) as Error & { code?: string };
      expect(error.code).toBe('invalid_config');
      expect(error.message).toBe(`${name} must be one of ${choices}, got "${value}"`);
    }
  });
});
