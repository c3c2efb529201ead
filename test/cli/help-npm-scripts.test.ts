import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { defaultDemoUrls, demoUrls } from '../../examples/demo.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** The Markdown a newcomer reads: the README, docs/ and every example's README. */
function documentation(): Array<{ file: string; text: string }> {
  const files = [join(root, 'README.md')];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk(join(root, 'docs'));
  walk(join(root, 'examples'));
  return files.map((file) => ({ file: relative(root, file), text: readFileSync(file, 'utf8') }));
}

describe('the commands the documentation gives', () => {
  it('every `npm run NAME` it writes is a script of package.json', () => {
    const named = new Set<string>();
    for (const { file, text } of documentation()) {
      for (const [, name] of text.matchAll(/\bnpm run ([a-z][\w:-]*)/g)) {
        expect(scripts[name!], `${file}: npm run ${name}`).toBeDefined();
        named.add(name!);
      }
    }
    // The ones this is about are written somewhere.
    for (const name of ['demo', 'example:web-app', 'example:spa', 'example:api', 'example:mcp-server', 'example:mcp-connect']) expect(named).toContain(name);
  });

  it('starts the examples through npm scripts, never with a bare `node`, which may be older than 24', () => {
    for (const { file, text } of documentation()) {
      for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
        expect(block[1], file).not.toMatch(/(^|[\s;&|])node examples\//m);
      }
    }
  });

  it('runs what it starts with exec, so that the signals npm passes on reach Node itself', () => {
    for (const name of ['start', 'demo', ...Object.keys(scripts).filter((script) => script.startsWith('example:'))]) {
      expect(scripts[name], name).toMatch(/^exec node /);
    }
  });
});

describe('npm run demo', () => {
  it('takes its examples\' ports from DEMO_WEB_APP_PORT, DEMO_SPA_PORT and DEMO_API_PORT', () => {
    expect(demoUrls({})).toEqual(defaultDemoUrls);
    expect(demoUrls({ DEMO_WEB_APP_PORT: '9080', DEMO_SPA_PORT: '9081', DEMO_API_PORT: '9082' })).toEqual({ webApp: 'http://localhost:9080', spa: 'http://localhost:9081', api: 'http://localhost:9082' });
    expect(() => demoUrls({ DEMO_SPA_PORT: 'eighty' })).toThrow('DEMO_SPA_PORT must be a port number from 1 to 65535, got "eighty"');
  });
});
