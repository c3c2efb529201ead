import { describe, expect, it } from 'vitest';

import { allowsCors, webOrigins } from '../../src/oidc/cors.ts';

const spa = { clientAuthMethod: 'none', redirectUris: ['https://app.example.com/callback', 'http://localhost:8081/', 'com.example.app:/oauth'] };
const confidential = { clientAuthMethod: 'client_secret_basic', redirectUris: ['https://web.example.com/callback'] };

describe('webOrigins', () => {
  it('takes scheme, host and port of http(s) redirect URIs, and nothing from custom schemes', () => {
    expect([...webOrigins(spa.redirectUris)]).toEqual(['https://app.example.com', 'http://localhost:8081']);
    expect([...webOrigins(['https://App.Example.com:443/a', 'https://app.example.com:8443/b', 'not a url'])]).toEqual(['https://app.example.com', 'https://app.example.com:8443']);
  });
});

describe('allowsCors', () => {
  it('allows a public client from its redirect URIs\' origins on token, userinfo and revocation', () => {
    for (const route of ['token', 'userinfo', 'revocation']) {
      expect(allowsCors(route, 'https://app.example.com', spa), route).toBe(true);
      expect(allowsCors(route, 'http://localhost:8081', spa), route).toBe(true);
    }
  });

  it('refuses every other origin, including look-alikes', () => {
    for (const origin of ['https://evil.example.com', 'https://app.example.com:444', 'http://app.example.com', 'https://app.example.com.evil.test', 'http://127.0.0.1:8081', 'null', '', undefined]) {
      expect(allowsCors('token', origin, spa), String(origin)).toBe(false);
    }
  });

  it('never allows a confidential client (it calls from its server)', () => {
    for (const route of ['token', 'userinfo', 'revocation', 'introspection']) {
      expect(allowsCors(route, 'https://web.example.com', confidential), route).toBe(false);
    }
  });

  it('never allows the other client endpoints, even for a public client', () => {
    for (const route of ['introspection', 'pushed_authorization_request', 'authorization', 'device_authorization', undefined]) {
      expect(allowsCors(route, 'https://app.example.com', spa), String(route)).toBe(false);
    }
  });

  it('allows nothing to a public client without redirect URIs', () => {
    expect(allowsCors('token', 'https://app.example.com', { clientAuthMethod: 'none' })).toBe(false);
  });
});
