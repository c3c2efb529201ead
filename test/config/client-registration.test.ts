import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { defaultsSchema, loadConfig, parseMetadataDocumentHosts } from '../../src/config/load-config.ts';
import { defaultsFile } from '../../src/config/paths.ts';
import { caught } from '../helpers/caught.ts';

function refusal(env: NodeJS.ProcessEnv): string {
  const error = caught(() => loadConfig(env)) as Error & { code?: string };
  expect(error.code).toBe('invalid_config');
  expect(error.message).not.toContain('\n');
  return error.message;
}

describe('CLIENT_REGISTRATION', () => {
  it('is off by default and takes off, token and open', () => {
    expect(loadConfig({}).clientRegistration).toBe('off');
    for (const value of ['off', 'token', 'open'] as const) expect(loadConfig({ CLIENT_REGISTRATION: value }).clientRegistration).toBe(value);
    // REGISTRATION is about people; it leaves client registration alone.
    expect(loadConfig({ REGISTRATION: 'closed' }).clientRegistration).toBe('off');
  });

  it('refuses anything else in one line naming the variable', () => {
    expect(refusal({ CLIENT_REGISTRATION: 'on' })).toBe('CLIENT_REGISTRATION must be one of off, token, open, got "on"');
  });
});

describe('CLIENT_ID_METADATA_DOCUMENTS and CLIENT_ID_METADATA_DOCUMENT_HOSTS', () => {
  it('are off, for any host, by default', () => {
    expect(loadConfig({}).clientIdMetadataDocuments).toEqual({ enabled: false, hosts: null });
  });

  it('take on|off and a list of host[:port], lower-cased, without duplicates', () => {
    expect(loadConfig({ CLIENT_ID_METADATA_DOCUMENTS: 'on' }).clientIdMetadataDocuments).toEqual({ enabled: true, hosts: null });
    expect(loadConfig({ CLIENT_ID_METADATA_DOCUMENTS: 'off' }).clientIdMetadataDocuments.enabled).toBe(false);
    expect(loadConfig({ CLIENT_ID_METADATA_DOCUMENTS: 'on', CLIENT_ID_METADATA_DOCUMENT_HOSTS: ' Apps.Example.com, localhost:8443,127.0.0.1:9000 ,[::1]:8080,apps.example.com' }).clientIdMetadataDocuments)
      .toEqual({ enabled: true, hosts: ['apps.example.com', 'localhost:8443', '127.0.0.1:9000', '[::1]:8080'] });
  });

  it('refuse a bad switch, an empty list and entries that are not host[:port], in one line', () => {
    expect(refusal({ CLIENT_ID_METADATA_DOCUMENTS: 'yes' })).toBe('CLIENT_ID_METADATA_DOCUMENTS must be one of on, off, got "yes"');
    expect(refusal({ CLIENT_ID_METADATA_DOCUMENT_HOSTS: ' , ' })).toMatch(/^CLIENT_ID_METADATA_DOCUMENT_HOSTS must list at least one host\[:port\]/);
    for (const entry of ['https://apps.example.com', 'apps.example.com/path', '*.example.com', 'user@apps.example.com', 'apps.example.com:0', 'apps.example.com:65536', '-apps.example.com', '[zz]:80', 'apps..example.com']) {
      expect(refusal({ CLIENT_ID_METADATA_DOCUMENT_HOSTS: `good.example, ${entry}` }))
        .toBe(`CLIENT_ID_METADATA_DOCUMENT_HOSTS entries must be host or host:port (a DNS name, an IPv4 address or a bracketed IPv6 address; no scheme, path or wildcard), got ${JSON.stringify(entry.toLowerCase())}`);
    }
    expect(parseMetadataDocumentHosts('a.example:1')).toEqual(['a.example:1']);
  });
});

describe('dynamicClients in config/default.json', () => {
  const defaults = JSON.parse(readFileSync(defaultsFile, 'utf8')) as Record<string, unknown>;

  it('has the documented defaults', () => {
    expect(loadConfig({}).dynamicClients).toEqual({ unusedExpiryDays: 30, registrationsPerHour: 10, maxDocumentBytes: 5120, fetchTimeoutSeconds: 5 });
  });

  it('is validated', () => {
    const dynamicClients = defaults.dynamicClients as Record<string, unknown>;
    for (const [field, value] of [['unusedExpiryDays', 0], ['registrationsPerHour', 1.5], ['maxDocumentBytes', -1], ['fetchTimeoutSeconds', 120], ['registrationsPerHour', '10']] as const) {
      expect(defaultsSchema.safeParse({ ...defaults, dynamicClients: { ...dynamicClients, [field]: value } }).success, `${field}: ${value}`).toBe(false);
    }
    expect(defaultsSchema.safeParse({ ...defaults, clientRegistration: 'maybe' }).success).toBe(false);
    expect(defaultsSchema.safeParse({ ...defaults, clientIdMetadataDocuments: { enabled: true, hosts: [] } }).success).toBe(false);
    expect(defaultsSchema.safeParse(defaults).success).toBe(true);
  });
});
