import { spawn } from 'node:child_process';
import { once } from 'node:events';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startApi } from '../../examples/api/server.ts';
import type { RunningApi } from '../../examples/api/server.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { withTimeout } from '../helpers/main-process.ts';
import type { Page } from '../helpers/user-agent.ts';
import { asPage, isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * examples/cli run as its README says (a process with CLIENT_ID, GATEHOUSE_ISSUER and API_URL),
 * against a real Gatehouse and the example API. The person's part is driven over HTTP from what
 * the CLI prints: the code page, the device's request, the sign-in and the consent page. The CLI
 * polls at the real interval (5 s), so each run waits a few seconds.
 */

const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';
const audience = 'https://notes.example.test';
const grace = { email: 'grace@example.com', password: 'compilers all the way down' };

let gatehouse: TestGatehouse;
let api: RunningApi;
let clientId: string;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  await gatehouse.addUser(grace.email, grace.password, { name: 'Grace Hopper' });
  await gatehouse.addApi({ identifier: audience, scopes: ['notes:read', 'notes:write'] });
  // What its README tells an operator to register: a public client with the device grant only.
  ({ clientId } = await gatehouse.addClient({ name: 'Notes CLI', public: true, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [deviceGrant] }));
  api = await startApi({ issuer: gatehouse.url, audience, host: '127.0.0.1' });
});

afterAll(async () => {
  await api?.close();
  await gatehouse?.stop();
});

/** Starts the example CLI; resolves the printed verification URI and code, and its exit. */
function startCli() {
  const child = spawn(process.execPath, ['examples/cli/main.ts'], {
    env: { ...process.env, GATEHOUSE_ISSUER: gatehouse.url, CLIENT_ID: clientId, API_URL: api.url, API_AUDIENCE: audience },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const prompt = new Promise<{ uri: string; code: string }>((resolve, reject) => {
    const look = () => {
      const found = /open (\S+) and enter the code (\S+)/.exec(stdout);
      if (found) resolve({ uri: found[1]!, code: found[2]! });
    };
    child.stdout.on('data', look);
    child.on('exit', () => reject(new Error(`the CLI exited before printing a code:\n${stdout}\n${stderr}`)));
  });
  const exit = once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return { prompt, exit, child };
}

/** The person: types the code, continues, signs in, answers the consent page. */
async function person(uri: string, code: string, decision: 'allow' | 'deny', who = grace): Promise<Page> {
  const ua = new UserAgent(gatehouse.url);
  const codePage = asPage(await ua.navigate(uri));
  const confirm = asPage(await ua.submit(codePage, '/device', { user_code: code }));
  expect(confirm.body).toContain('Notes CLI');
  let result = await ua.submit(confirm, '/device', { confirm: 'yes' });
  for (let steps = 0; steps < 4 && isPage(result); steps += 1) {
    const page: Page = result;
    if (page.document.querySelector('input[name=password]')) result = await ua.submit(page, '/login', who);
    else if (page.document.querySelector('button[value=allow]')) result = await ua.submit(page, '/consent', { decision });
    else return page;
  }
  return asPage(result);
}

describe('the example CLI (device flow)', () => {
  it('prints the code, waits for the person, then calls the example API with the access token', async () => {
    const cli = startCli();
    try {
      const { uri, code } = await withTimeout(cli.prompt, 15_000, 'the CLI printing its code');
      expect(uri).toBe(`${gatehouse.url}/device`);
      expect(code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
      const done = await person(uri, code, 'allow');
      expect(done.document.querySelector('h1')?.text.trim()).toBe('Device connected');
      const exit = await withTimeout(cli.exit, 30_000, 'the CLI finishing');
      expect(exit.stderr).toBe('');
      expect(exit.code).toBe(0);
      expect(exit.stdout).toContain('Signed in.');
      const answer = JSON.parse(/The API answered: (.*)/.exec(exit.stdout)![1]!) as { sub: string; client_id: string; scope: string; notes: unknown[] };
      expect(answer).toMatchObject({ client_id: clientId, scope: 'notes:read', notes: [] });
      expect(answer.sub).toBeTruthy();
    } finally {
      cli.child.kill();
    }
  }, 60_000);

  it('says so in one line when the person denies', async () => {
    const cli = startCli();
    try {
      const { uri, code } = await withTimeout(cli.prompt, 15_000, 'the CLI printing its code');
      // Someone who has not allowed the CLI before (Grace's consent above is remembered).
      const ada = { email: 'ada@example.com', password: 'the analytical engine weaves' };
      await gatehouse.addUser(ada.email, ada.password);
      const done = await person(uri, code, 'deny', ada);
      expect(done.document.querySelector('h1')?.text.trim()).toBe('Device not connected');
      const exit = await withTimeout(cli.exit, 30_000, 'the CLI finishing');
      expect(exit.code).toBe(1);
      expect(exit.stderr.trim()).toBe('The request was denied. Nothing was signed in.');
    } finally {
      cli.child.kill();
    }
  }, 60_000);
});
