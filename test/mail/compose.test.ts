import { describe, expect, it } from 'vitest';

import { createMailComposer } from '../../src/mail/compose.ts';

describe('mail templates', () => {
  const compose = createMailComposer();

  it('renders the verification mail with the code and link, escaped in HTML only', () => {
    const link = 'https://id.example.com/verify-email/abc?x=1&y=<2>';
    const mail = compose('verify-email', { code: '012345', link, minutes: 15 });

    expect(mail.subject).toBe('Confirm your email address');
    expect(mail.text).toContain('012345');
    expect(mail.text).toContain(link);
    expect(mail.text).toContain('15 minutes');
    expect(mail.html).toContain('012345');
    expect(mail.html).toContain('https://id.example.com/verify-email/abc?x=1&amp;y=&lt;2&gt;');
    expect(mail.html).not.toContain('<2>');
    expect(mail.html).toMatch(/^<!DOCTYPE html>/);
  });

  it('renders every template with a subject and both bodies', () => {
    const data = { code: '000000', link: 'https://id.example.com/x', minutes: 30, email: 'a@example.com', when: '2025-03-01 12:00 UTC' };
    for (const template of ['verify-email', 'registration-attempt', 'reset-password', 'password-changed'] as const) {
      const mail = compose(template, data);
      expect(mail.subject.length, template).toBeGreaterThan(5);
      expect(mail.text.length, template).toBeGreaterThan(20);
      expect(mail.html, template).toContain('Gatehouse');
    }
  });

  it('escapes what a person typed (a name or address) in the HTML body', () => {
    const mail = compose('registration-attempt', { email: '<script>alert(1)</script>@example.com' });
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('&lt;script&gt;');
  });
});
