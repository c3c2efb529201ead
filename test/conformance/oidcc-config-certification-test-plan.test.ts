import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { checkEndpointsHttps, discoveryDocument, httpsIssuer, overLoopback, startHttpsIssuerGatehouse } from './harness.ts';
import { modulesOf, titleOf } from './modules.ts';

const plan = 'oidcc-config-certification-test-plan';

const moduleTests: Record<string, (gatehouse: TestGatehouse) => Promise<void>> = {
  /** OIDCCDiscoveryEndpointVerification (discovery, static client), check by check. */
  async 'oidcc-discovery-endpoint-verification'(gatehouse) {
    const document = await discoveryDocument(gatehouse);
    const array = (key: string) => {
      expect(Array.isArray(document[key]), key).toBe(true);
      const values = document[key] as unknown[];
      expect(values.length, key).toBeGreaterThan(0);
      for (const value of values) expect(typeof value, key).toBe('string');
      return values as string[];
    };
    // OIDCCCheckDiscEndpointResponseTypesSupported: at least one OpenID Connect response type.
    expect(array('response_types_supported')).toContain('code');
    // CheckDiscEndpointIssuer, CheckDiscEndpointIssuerIsValidUrl: the discovery URL less its well-known suffix, https, no query or fragment.
    expect(document.issuer).toBe(httpsIssuer);
    const issuer = new URL(document.issuer as string);
    expect([issuer.protocol, issuer.search, issuer.hash]).toEqual(['https:', '', '']);
    // CheckDiscEndpointSubjectTypesSupported.
    expect(array('subject_types_supported').some((type) => type === 'public' || type === 'pairwise')).toBe(true);
    // OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported: RS256 is required.
    expect(array('id_token_signing_alg_values_supported')).toContain('RS256');
    if ('userinfo_signing_alg_values_supported' in document) array('userinfo_signing_alg_values_supported');
    // The endpoints (authorization, token, userinfo; registration when present) and jwks_uri: https URLs.
    const endpoints = checkEndpointsHttps(document);
    expect(endpoints).toEqual(expect.arrayContaining(['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri']));
    // FetchServerKeys, ValidateJwksSequence: a JWKS of public keys, each with a distinct kid, an RSA key for RS256.
    const jwksResponse = await fetch(overLoopback(gatehouse, document.jwks_uri as string));
    expect(jwksResponse.status).toBe(200);
    const jwks = (await jwksResponse.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    const kids = jwks.keys.map((key) => key.kid);
    expect(new Set(kids).size).toBe(kids.length);
    for (const key of jwks.keys) {
      expect(key.kid).toEqual(expect.any(String));
      expect(['RSA', 'EC', 'OKP']).toContain(key.kty);
      for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(part);
    }
    expect(jwks.keys.some((key) => key.kty === 'RSA' && (key.alg === undefined || key.alg === 'RS256'))).toBe(true);
    // Request objects, the claims parameter: information only; when listed, booleans.
    for (const key of ['request_parameter_supported', 'request_uri_parameter_supported', 'claims_parameter_supported']) {
      if (key in document) expect(typeof document[key], key).toBe('boolean');
    }
    // OIDCCCheckDiscEndpointClaimsSupported (recommended): an array of claim names.
    expect(array('claims_supported')).toEqual(expect.arrayContaining(['sub', 'iss']));
    // OIDCCCheckDiscEndpointGrantTypesSupported: a non-empty array.
    expect(array('grant_types_supported')).toContain('authorization_code');
    // CheckDiscEndpointScopesSupportedContainsOpenId, CheckDiscEndpointScopesSupportedSyntax (RFC 6749 3.3).
    const scopes = array('scopes_supported');
    expect(scopes).toContain('openid');
    for (const scope of scopes) expect(scope).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/);
    // CheckDiscEndpointLocalesSyntax, CheckDiscEndpointLocalesCanonicalCasing: BCP 47 tags, canonically cased.
    for (const key of ['ui_locales_supported', 'claims_locales_supported']) {
      if (key in document) for (const tag of array(key)) expect(Intl.getCanonicalLocales(tag)[0]).toBe(tag);
    }
    // EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray.
    expect(array('code_challenge_methods_supported')).toContain('S256');
  },
};

describe(plan, () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startHttpsIssuerGatehouse();
  });
  afterAll(() => gatehouse?.stop());

  it('has a test for every module of the plan, and no other', () => {
    expect(Object.keys(moduleTests).sort()).toEqual(modulesOf(plan).map((module) => module.name).sort());
  });

  for (const module of modulesOf(plan)) {
    it(titleOf(module), () => moduleTests[module.name]!(gatehouse));
  }
});
