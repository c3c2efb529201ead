import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { message } from '../../src/messages/messages.ts';
import { readMessageOverrides } from '../../src/theme/message-overrides.ts';
import { caught } from '../helpers/caught.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse, testEnvironment } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { asPage, UserAgent } from '../helpers/user-agent.ts';

/** An operator's own words (THEME_DIR/messages/<code>.json) over the shipped catalogs, checked at start-up. */

function themeWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-words-'));
  mkdirSync(join(dir, 'messages'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'messages', name), text);
  return dir;
}

describe('reading THEME_DIR/messages/', () => {
  it('reads each shipped language’s file, and nothing without the folder', () => {
    const dir = themeWith({ 'de.json': JSON.stringify({ 'login.title': 'Bei Acmé anmelden' }), 'en.json': JSON.stringify({ 'code.wrong': 'Nope. {attemptsLeft, plural, one {# try} other {# tries}} left.' }) });
    expect(readMessageOverrides(dir)).toEqual({ de: { 'login.title': 'Bei Acmé anmelden' }, en: { 'code.wrong': 'Nope. {attemptsLeft, plural, one {# try} other {# tries}} left.' } });
    expect(readMessageOverrides(mkdtempSync(join(tmpdir(), 'gatehouse-words-')))).toEqual({});
  });

  it.each([
    ['pt.json', '{}', /pt\.json: name a shipped language/],
    ['de.txt', '{}', /de\.txt: name a shipped language/],
    ['de.json', '{', /de\.json: not JSON/],
    ['de.json', '[]', /must be an object of message ids to sentences/],
    ['de.json', JSON.stringify({ 'cli.usage': 'x' }), /"cli\.usage" is not an id of a page or a mail/],
    ['de.json', JSON.stringify({ 'login.title': '' }), /login\.title must be a non-empty sentence/],
    ['de.json', JSON.stringify({ 'login.title': 'Hallo {' }), /login\.title is not an ICU message/],
    ['de.json', JSON.stringify({ 'code.wrong': 'Falsch, noch {tries} Versuche.' }), /code\.wrong takes \{tries:plain\}; it must take what English takes: \{attemptsLeft:plural\}/],
  ])('refuses %s containing %s', (name, text, problem) => {
    expect(() => readMessageOverrides(themeWith({ [name]: text }))).toThrow(problem);
  });

  it('stops start-up with one line naming THEME_DIR and the file', () => {
    const dir = themeWith({ 'de.json': JSON.stringify({ 'login.title': 'Hallo {' }) });
    const error = caught(() => loadConfig({ ...testEnvironment(mkdtempSync(join(tmpdir(), 'gatehouse-words-data-'))), THEME_DIR: dir })) as Error;
    expect(error.message).toMatch(/^THEME_DIR has words that cannot be used: .*de\.json: login\.title is not an ICU message/);
    expect(error.message).not.toContain('\n');
  });
});

describe('a server with its own words', () => {
  let gatehouse: TestGatehouse | undefined;
  afterAll(async () => {
    await gatehouse?.stop();
  });

  it('says them in that language only, on pages and in the title', async () => {
    const dir = themeWith({ 'de.json': JSON.stringify({ 'login.title': 'Bei {product} anmelden' }) });
    gatehouse = await startGatehouse({ env: { THEME_DIR: dir } });
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Words' }));
    const german = new UserAgent(gatehouse.url);
    german.headers['accept-language'] = 'de';
    const page = asPage(await german.navigate((await authorizationRequest(rp)).url.href));
    expect(page.document.querySelector('h1')!.text.trim()).toBe('Bei Gatehouse anmelden');
    expect(page.document.querySelector('title')!.text).toBe('Bei Gatehouse anmelden · Gatehouse');
    const english = asPage(await new UserAgent(gatehouse.url).navigate((await authorizationRequest(rp)).url.href));
    expect(english.document.querySelector('h1')!.text.trim()).toBe(message('login.title', undefined, 'en'));
    // Outside that server's requests, the shipped words.
    expect(message('login.title', undefined, 'de')).not.toBe('Bei Gatehouse anmelden');
  });
});
