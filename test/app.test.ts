import { errors } from 'oidc-provider';
import { describe, expect, it } from 'vitest';

import { describeError } from '../src/web/error-pages.ts';
import { GatehouseError } from '../src/errors.ts';
import { redirectUri, startGatehouse } from './helpers/gatehouse.ts';

describe('describeError', () => {
  it('keeps a GatehouseError client error with its code and message', () => {
    expect(describeError(new GatehouseError('invalid_input', 'consent.choose'))).toEqual({ status: 400, code: 'invalid_input', description: 'Choose Allow or Deny.' });
  });

  it('hides the message of a GatehouseError server error', () => {
    const described = describeError(new GatehouseError('internal', 'keys.sealed_secret_in_store_malformed'));
    expect(described.status).toBe(500);
    expect(described.description).not.toContain('sealed');
  });

  it('says nothing internal about an unexpected error', () => {
    expect(describeError(new TypeError('cannot read properties of undefined (reading "x")'))).toEqual({
      status: 500, code: 'server_error', description: 'Something went wrong on our side. Try again in a moment.',
    });
    expect(describeError(undefined).status).toBe(500);
    expect(describeError({ status: 302 }).status).toBe(500);
    expect(describeError({ status: 'nope' }).status).toBe(500);
  });

  it('explains an expired interaction in words', () => {
    const described = describeError(new errors.SessionNotFound('interaction session id cookie not found'));
    expect(described).toMatchObject({ status: 400, code: 'session_not_found' });
    expect(described.description).toContain('expired');
  });

  it('keeps oidc-provider OAuth errors', () => {
    expect(describeError(new errors.InvalidRequest('missing required parameter'))).toEqual({ status: 400, code: 'invalid_request', description: 'missing required parameter' });
  });

  it('names an oversized body', () => {
    expect(describeError(Object.assign(new Error('request entity too large'), { status: 413, expose: true }))).toMatchObject({ status: 413, code: 'request_too_large' });
  });

  it('does not show a message an error marks as not for exposure', () => {
    expect(describeError(Object.assign(new Error('secret detail'), { status: 400, expose: false })).description).not.toContain('secret');
  });
});

describe('behind a TLS-terminating proxy', () => {
  const issuer = 'https://id.example.test';

  /**
   * A failed login sent straight to the port with a forged X-Forwarded-For; returns the cookies the
   * authorization request set and the source address the audit trail recorded. The cookies are
   * Secure (the issuer is https), so they are passed by hand over the plain-http test connection.
   */
  async function forgedLogin(trustProxy: boolean): Promise<{ cookies: string[]; sourceAddress: string | undefined }> {
    const gatehouse = await startGatehouse({ env: { ISSUER: issuer, TRUST_PROXY: String(trustProxy) } });
    try {
      const { clientId } = await gatehouse.addClient({ name: 'Proxied app' });
      await gatehouse.addUser('proxied@example.com', 'a proxied long passphrase');
      const local = `http://127.0.0.1:${gatehouse.port}`;
      const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' };
      const query = new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
      const authorization = await fetch(`${local}/auth?${query}`, { redirect: 'manual', headers });
      expect(authorization.status).toBe(303);
      const cookies = authorization.headers.getSetCookie();
      const cookie = cookies.map((each) => each.split(';')[0]).join('; ');
      const loginPath = authorization.headers.get('location')!;
      const login = await (await fetch(`${local}${loginPath}`, { headers: { ...headers, cookie } })).text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(login)![1]!;
      const failed = await fetch(`${local}${loginPath}/login`, {
        method: 'POST', headers: { ...headers, cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, email: 'proxied@example.com', password: 'not the password' }),
      });
      expect(failed.status).toBe(401);
      const event = (await gatehouse.store.audit.tail({ limit: 10 })).find((each) => each.type === 'login_failed');
      return { cookies, sourceAddress: event?.sourceAddress };
    } finally {
      await gatehouse.stop();
    }
  }

  it('trusts X-Forwarded-For only with TRUST_PROXY; its cookies are Secure', async () => {
    const trusted = await forgedLogin(true);
    expect(trusted.sourceAddress).toBe('203.0.113.7');
    expect(trusted.cookies.length).toBeGreaterThan(0);
    for (const cookie of trusted.cookies) expect(cookie.toLowerCase()).toContain('; secure');
  });

  it('ignores X-Forwarded-For without TRUST_PROXY: anyone could send it; the https issuer still makes cookies Secure', async () => {
    const untrusted = await forgedLogin(false);
    expect(untrusted.sourceAddress).toMatch(/127\.0\.0\.1/);
    expect(untrusted.cookies.length).toBeGreaterThan(0);
    for (const cookie of untrusted.cookies) expect(cookie.toLowerCase()).toContain('; secure');
  });
});
