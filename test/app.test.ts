import { errors } from 'oidc-provider';
import { describe, expect, it } from 'vitest';

import { describeError } from '../src/app.ts';
import { GatehouseError } from '../src/errors.ts';
import { redirectUri, startGatehouse } from './helpers/gatehouse.ts';

describe('describeError', () => {
  it('keeps a GatehouseError client error with its code and message', () => {
    expect(describeError(new GatehouseError('invalid_input', 'Choose Allow or Deny.'))).toEqual({ status: 400, code: 'invalid_input', description: 'Choose Allow or Deny.' });
  });

  it('hides the message of a GatehouseError server error', () => {
    const described = describeError(new GatehouseError('internal', 'a sealed secret in the store is malformed'));
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

  async function interactionCookies(trustProxy: boolean): Promise<string[]> {
    const gatehouse = await startGatehouse({ env: { ISSUER: issuer, TRUST_PROXY: String(trustProxy) } });
    try {
      const { clientId } = await gatehouse.addClient({ name: 'Proxied app' });
      const query = new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
      const response = await fetch(`http://127.0.0.1:${gatehouse.port}/auth?${query}`, {
        redirect: 'manual',
        headers: { host: 'id.example.test', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' },
      });
      expect(response.status).toBe(303);
      return response.headers.getSetCookie();
    } finally {
      await gatehouse.stop();
    }
  }

  it('trusts X-Forwarded-Proto only with TRUST_PROXY: then its cookies are Secure', async () => {
    const trusted = await interactionCookies(true);
    expect(trusted.length).toBeGreaterThan(0);
    for (const cookie of trusted) expect(cookie.toLowerCase()).toContain('; secure');
  });

  it('ignores X-Forwarded-Proto without TRUST_PROXY: anyone could send it', async () => {
    const untrusted = await interactionCookies(false);
    expect(untrusted.length).toBeGreaterThan(0);
    for (const cookie of untrusted) expect(cookie.toLowerCase()).not.toContain('; secure');
  });
});
