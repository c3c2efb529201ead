import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ipv6Value, isLoopbackAddress, judgeAddress, metadataDocumentHostAllowed } from '../../src/network/outgoing-addresses.ts';
import { createOutgoingFetch, isJsonMediaType } from '../../src/oidc/outgoing-requests.ts';

const production = { allowLoopback: false };
const development = { allowLoopback: true };

describe('the address policy of outgoing requests', () => {
  const refusedEverywhere = [
    '0.0.0.0', '0.1.2.3', '10.0.0.1', '10.255.255.255', '100.64.0.1', '100.127.255.254', '169.254.169.254', '169.254.0.1',
    '172.16.0.1', '172.31.255.255', '192.168.0.1', '192.168.255.255', '192.0.0.8', '192.0.2.1', '198.18.0.1', '198.19.255.255',
    '198.51.100.7', '203.0.113.9', '224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255',
    '::', 'fc00::1', 'fd12:3456:789a::1', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'fec0::1', 'ff02::1', 'ff05::1:3',
    '2001:db8::1', '100::1', '64:ff9b:1::1',
    '::ffff:10.0.0.1', '::ffff:192.168.1.1', '::ffff:169.254.169.254', '::ffff:0.0.0.0', '::ffff:a00:1', '::ffff:a9fe:a9fe',
    '64:ff9b::10.0.0.1', '64:ff9b::a9fe:a9fe', '2002:a00:1::1', '2002:c0a8:101::', '::10.0.0.1', '::0.0.0.2',
    '[fe80::1]', '[::ffff:10.0.0.1]',
  ];
  const loopback = ['::0.0.0.1', '127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::127.0.0.1', '[::1]'];
  const publicAddresses = [
    '1.1.1.1', '8.8.8.8', '93.184.215.14', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.167.255.255',
    '192.169.0.0', '169.253.255.255', '11.0.0.0', '223.255.255.255',
    '2606:4700:4700::1111', '2001:4860:4860::8888', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1',
    'fbff::1', 'fe00::1',
  ];

  it.each(refusedEverywhere)('refuses %s in production and in development', (address) => {
    expect(judgeAddress(address, production).ok).toBe(false);
    expect(judgeAddress(address, development).ok).toBe(false);
  });

  it.each(loopback)('refuses loopback %s in production only', (address) => {
    const verdict = judgeAddress(address, production);
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.reason).toContain('loopback');
    expect(judgeAddress(address, development).ok).toBe(true);
    expect(isLoopbackAddress(address)).toBe(true);
  });

  it.each(publicAddresses)('allows the public address %s', (address) => {
    expect(judgeAddress(address, production)).toEqual({ ok: true });
    expect(judgeAddress(address, development)).toEqual({ ok: true });
    expect(isLoopbackAddress(address)).toBe(false);
  });

  it.each(['localhost', 'example.com', '', '1.2.3', '256.0.0.1', '1.2.3.4.5', ':::1', 'fe80::1::2', '[1.2.3.4]'])('refuses %j, which is not an IP address', (text) => {
    expect(judgeAddress(text, development).ok).toBe(false);
  });

  it('says why', () => {
    expect(judgeAddress('10.0.0.1', production)).toEqual({ ok: false, reason: '10.0.0.1 is a private address' });
    expect(judgeAddress('::ffff:10.0.0.1', production)).toEqual({ ok: false, reason: '::ffff:10.0.0.1 carries 10.0.0.1 is a private address' });
    expect(judgeAddress('100.64.1.1', production)).toEqual({ ok: false, reason: '100.64.1.1 is a carrier-grade NAT address' });
  });

  it('reads IPv6 addresses in every spelling', () => {
    expect(ipv6Value('::1')).toBe(1n);
    expect(ipv6Value('0:0:0:0:0:0:0:1')).toBe(1n);
    expect(ipv6Value('::ffff:1.2.3.4')).toBe(ipv6Value('::ffff:102:304'));
    expect(ipv6Value('FE80::1')).toBe(ipv6Value('fe80:0:0:0:0:0:0:1'));
    expect(ipv6Value('fe80::1%eth0')).toBe(ipv6Value('fe80::1'));
    expect(ipv6Value('1.2.3.4')).toBeUndefined();
  });
});

describe("the operator's host policy for Client ID Metadata Documents", () => {
  it('accepts any https host without a list', () => {
    expect(metadataDocumentHostAllowed('https://app.example/client.json', null)).toBe(true);
    expect(metadataDocumentHostAllowed('https://127.0.0.1:8443/c', null)).toBe(true);
  });

  it('accepts only listed hosts, the port included unless it is 443', () => {
    const hosts = ['app.example', 'tools.example:8443', '[::1]:9000'];
    expect(metadataDocumentHostAllowed('https://app.example/client.json', hosts)).toBe(true);
    expect(metadataDocumentHostAllowed('https://APP.example:443/client.json', hosts)).toBe(true);
    expect(metadataDocumentHostAllowed('https://app.example:8443/client.json', hosts)).toBe(false);
    expect(metadataDocumentHostAllowed('https://tools.example:8443/c', hosts)).toBe(true);
    expect(metadataDocumentHostAllowed('https://tools.example/c', hosts)).toBe(false);
    expect(metadataDocumentHostAllowed('https://[::1]:9000/c', hosts)).toBe(true);
    expect(metadataDocumentHostAllowed('https://evil.example/c', hosts)).toBe(false);
    expect(metadataDocumentHostAllowed('https://app.example.evil.example/c', hosts)).toBe(false);
    expect(metadataDocumentHostAllowed('https://sub.app.example/c', hosts)).toBe(false);
  });

  it('never accepts anything but a plain https URL', () => {
    expect(metadataDocumentHostAllowed('http://app.example/c', null)).toBe(false);
    expect(metadataDocumentHostAllowed('https://user:pw@app.example/c', null)).toBe(false);
    expect(metadataDocumentHostAllowed('https://app.example/c#x', null)).toBe(false);
    expect(metadataDocumentHostAllowed('not a url', null)).toBe(false);
  });
});

describe('JSON media types', () => {
  it.each([['application/json', true], ['application/json; charset=utf-8', true], ['Application/JSON', true], ['application/jwk-set+json', true],
    ['text/html', false], ['text/json', false], ['application/jsonp', false], [null, false], ['', false]] as const)('%j is JSON: %s', (type, json) => {
    expect(isJsonMediaType(type)).toBe(json);
  });
});

describe("the provider's outgoing fetch", () => {
  let server: Server;
  let origin: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/json') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      if (req.url === '/html') return res.writeHead(200, { 'content-type': 'text/html' }).end('<p>hi</p>');
      if (req.url === '/big') return res.writeHead(200, { 'content-type': 'application/json' }).end(`"${'x'.repeat(5000)}"`);
      if (req.url === '/big-chunked') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`"${'x'.repeat(3000)}`);
        return res.end(`${'x'.repeat(3000)}"`);
      }
      if (req.url === '/slow') return setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), 1000);
      if (req.url === '/redirect') return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      if (req.url === '/post') {
        let body = '';
        req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
        return req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ body, type: req.headers['content-type'] })));
      }
      res.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const developmentFetch = () => createOutgoingFetch({ allowLoopback: true, timeoutMs: 300, maxResponseBytes: 4096 });
  const json = { headers: { accept: 'application/json' } };

  it('fetches JSON from loopback outside production', async () => {
    const response = await developmentFetch()(`${origin}/json`, json);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('refuses loopback in production, by IP literal and by name', async () => {
    const fetch = createOutgoingFetch({ allowLoopback: false, timeoutMs: 300, maxResponseBytes: 4096 });
    await expect(fetch(`${origin}/json`, json)).rejects.toThrow(/loopback/);
    const port = new URL(origin).port;
    await expect(fetch(`http://localhost:${port}/json`, json)).rejects.toThrow(/loopback/);
  });

  it('refuses a name that resolves to a private address, whatever else it resolves to', async () => {
    const fetch = createOutgoingFetch({
      allowLoopback: true, timeoutMs: 300, maxResponseBytes: 4096,
      lookup: ((_host: string, _options: unknown, callback: (error: null, addresses: Array<{ address: string; family: number }>) => void) => {
        callback(null, [{ address: '93.184.215.14', family: 4 }, { address: '10.0.0.7', family: 4 }]);
      }) as never,
    });
    await expect(fetch('http://rebinding.example/json', json)).rejects.toThrow(/10\.0\.0\.7 is a private address/);
  });

  it('refuses private and link-local IP literals even outside production', async () => {
    await expect(developmentFetch()('http://169.254.169.254/latest/meta-data/', json)).rejects.toThrow(/link-local/);
    await expect(developmentFetch()('http://[::ffff:10.0.0.1]/', json)).rejects.toThrow(/private/);
    await expect(developmentFetch()('http://[fd00::1]/', json)).rejects.toThrow(/unique local/);
  });

  it('never follows a redirect', async () => {
    const response = await developmentFetch()(`${origin}/redirect`, json);
    expect(response.status).toBe(302);
  });

  it('refuses an answer that is not JSON when JSON was asked for', async () => {
    await expect(developmentFetch()(`${origin}/html`, json)).rejects.toThrow(/not JSON/);
    expect((await developmentFetch()(`${origin}/html`)).status).toBe(200);
  });

  it('refuses an answer larger than its limit, declared or streamed', async () => {
    await expect(developmentFetch()(`${origin}/big`, json)).rejects.toThrow(/larger than 4096/);
    await expect(developmentFetch()(`${origin}/big-chunked`, json)).rejects.toThrow(/larger than 4096/);
  });

  it('gives up on a slow answer', async () => {
    await expect(developmentFetch()(`${origin}/slow`, json)).rejects.toThrow();
  });

  it('sends a form body, as the provider does for logout receivers', async () => {
    const response = await developmentFetch()(`${origin}/post`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams({ logout_token: 'x' }),
    });
    expect(await response.json()).toEqual({ body: 'logout_token=x', type: 'application/x-www-form-urlencoded' });
  });

  it('refuses other schemes and URLs with credentials', async () => {
    await expect(developmentFetch()('file:///etc/passwd')).rejects.toThrow(/not fetched/);
    await expect(developmentFetch()(`http://user:pw@127.0.0.1:1/`)).rejects.toThrow(/credentials/);
  });
});
