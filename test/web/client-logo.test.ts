import type { ServerResponse } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { clientBrand } from '../../src/flows/client-brand.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { html, png, svg } from '../helpers/images.ts';
import type { TestHttpsServer } from '../helpers/mcp-tls.ts';
import { startHttpsServer } from '../helpers/mcp-tls.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { UserAgent, asPage } from '../helpers/user-agent.ts';

/**
 * An application's brand on the sign-in and consent pages: its logo fetched by Gatehouse through
 * the outgoing-request guard and served from Gatehouse's origin (the pages' policy allows no other),
 * only when it really is a PNG, JPEG, WebP or GIF; its links as it registered them. A page pretending
 * to be a logo, an SVG, a server that never answers and a private address all mean: no logo.
 */

const logo = png(64, 64, [200, 40, 40]);
const hanging: ServerResponse[] = [];
const requests: string[] = [];
let site: TestHttpsServer;
let gatehouse: TestGatehouse;
const clients: Record<string, string> = {};

beforeAll(async () => {
  site = await startHttpsServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/logo.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(logo);
    // HTML served as if it were an image: judged by its bytes, it is not one.
    if (req.url === '/pretend.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(html);
    if (req.url === '/logo.svg') return res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(svg('#000000'));
    if (req.url === '/hang.png') return void hanging.push(res);
    res.writeHead(404).end();
  });
  gatehouse = await startGatehouse();
  const links = { policyUri: 'https://notes.example/privacy', tosUri: 'https://notes.example/terms' };
  for (const [name, logoUri] of Object.entries({
    Real: `${site.origin}/logo.png`, Pretend: `${site.origin}/pretend.png`, Vector: `${site.origin}/logo.svg`,
    Hangs: `${site.origin}/hang.png`, Private: 'https://10.0.0.1/logo.png',
  })) {
    clients[name] = (await gatehouse.addClient({ name, logoUri, ...(name === 'Real' ? links : {}) })).clientId;
  }
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  await gatehouse?.stop();
  await site?.close();
});

async function loginPage(clientId: string, ua = new UserAgent(gatehouse.url)): Promise<Page> {
  const rp = await relyingParty(gatehouse, { clientId });
  return asPage(await ua.navigate((await authorizationRequest(rp)).url.href));
}

const logoOf = (page: Page) => page.document.querySelector('.client-brand-logo');

describe('an application’s brand on the sign-in pages', () => {
  it('shows a real image logo from our own origin, and the application’s links', async () => {
    const page = await loginPage(clients.Real!);
    const img = logoOf(page)!;
    expect(img.getAttribute('alt')).toBe('Real');
    const src = img.getAttribute('src')!;
    expect(src).toMatch(new RegExp(`^/assets/client-logos/${clients.Real}\\?v=[0-9a-f]{12}$`));
    // Nothing from elsewhere: the page's image policy is our origin's alone.
    expect(page.headers.get('content-security-policy')).toContain("img-src 'self' data:;");
    const served = await fetch(new URL(src, gatehouse.url));
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('cache-control')).toBe('public, max-age=604800');
    expect(Buffer.from(await served.arrayBuffer()).equals(logo)).toBe(true);
    const links = page.document.querySelectorAll('.client-brand-links a');
    expect(links.map((a) => [a.text, a.getAttribute('href'), a.getAttribute('rel')])).toEqual([
      ['Privacy policy', 'https://notes.example/privacy', 'noopener noreferrer'],
      ['Terms of service', 'https://notes.example/terms', 'noopener noreferrer'],
    ]);
    expect(page.document.querySelector('.client-brand-links')!.getAttribute('aria-label')).toBe('About Real');
  });

  it('fetches a logo once, however many pages and images ask for it', async () => {
    const before = requests.filter((url) => url === '/logo.png').length;
    for (let i = 0; i < 3; i += 1) {
      const page = await loginPage(clients.Real!);
      await fetch(new URL(logoOf(page)!.getAttribute('src')!, gatehouse.url));
    }
    expect(requests.filter((url) => url === '/logo.png').length - before).toBe(0);
  });

  it.each(['Pretend', 'Vector', 'Private'])('shows no logo for %s, and serves none', async (name) => {
    const started = Date.now();
    const page = await loginPage(clients[name]!);
    // Refused at once (the private address by the guard, before any connection), not timed out.
    expect(Date.now() - started).toBeLessThan(1400);
    expect(logoOf(page)).toBeNull();
    expect(page.document.querySelector('.client-brand')).toBeNull();
    expect((await fetch(`${gatehouse.url}/assets/client-logos/${clients[name]}?v=0`)).status).toBe(404);
  });

  it('draws the page without a logo when the logo’s server never answers, without waiting for it', async () => {
    const started = Date.now();
    const page = await loginPage(clients.Hangs!);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(logoOf(page)).toBeNull();
    expect(requests).toContain('/hang.png');
  });

  it('serves no logo for a client that does not exist', async () => {
    expect((await fetch(`${gatehouse.url}/assets/client-logos/nobody?v=0`)).status).toBe(404);
  });

  it('shows the same brand on the consent page', async () => {
    await gatehouse.addUser('casey@example.com', 'correct horse battery');
    const ua = new UserAgent(gatehouse.url);
    const login = await loginPage(clients.Real!, ua);
    const consent = asPage(await ua.submit(login, '/login', { email: 'casey@example.com', password: 'correct horse battery' }));
    expect(consent.document.querySelector('button[value=allow]')).not.toBeNull();
    expect(logoOf(consent)!.getAttribute('src')).toMatch(new RegExp(`^/assets/client-logos/${clients.Real}\\?v=`));
    expect(consent.document.querySelectorAll('.client-brand-links a').map((a) => a.getAttribute('href'))).toEqual(['https://notes.example/privacy', 'https://notes.example/terms']);
  });
});

describe('clientBrand', () => {
  const lookup = { addressFor: async (clientId: string) => `/assets/client-logos/${clientId}?v=1` };

  it('shows a logo only for an application an operator registered', async () => {
    const input = { clientId: 'c', name: 'App', logoUri: 'https://app.example/logo.png' };
    expect((await clientBrand({ ...input, origin: 'operator' }, lookup)).logo).toBe('/assets/client-logos/c?v=1');
    expect((await clientBrand({ ...input, origin: 'self_registered' }, lookup)).logo).toBeUndefined();
    expect((await clientBrand({ ...input, origin: 'metadata_document' }, lookup)).logo).toBeUndefined();
  });

  it('keeps only http(s) links without credentials', async () => {
    const brand = await clientBrand({
      clientId: 'c', name: 'App', origin: 'self_registered',
      clientUri: 'javascript:alert(1)', policyUri: 'http://app.example/privacy', tosUri: 'https://user:pw@app.example/terms',
    }, lookup);
    expect(brand).toEqual({ name: 'App', policy: 'http://app.example/privacy' });
    expect(await clientBrand({ clientId: 'c', name: 'App', origin: 'operator', clientUri: 'https://app.example/' }, undefined)).toEqual({ name: 'App', homepage: 'https://app.example/' });
  });
});
