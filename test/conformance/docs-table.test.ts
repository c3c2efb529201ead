import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { conformanceModules, conformanceTable, plans, tableEnd, tableStart } from './modules.ts';

describe('docs/conformance.md', () => {
  const docs = readFileSync(new URL('../../docs/conformance.md', import.meta.url), 'utf8');

  it('has the table generated from test/conformance/modules.ts (regenerate: node test/conformance/print-table.ts)', () => {
    const start = docs.indexOf(tableStart);
    const end = docs.indexOf(tableEnd);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    expect(docs.slice(start + tableStart.length, end).trim()).toBe(conformanceTable());
  });

  it('lists each module of each plan once, and says why for every module that does not simply pass', () => {
    for (const plan of plans) {
      const names = conformanceModules.filter((module) => module.plan === plan).map((module) => module.name);
      expect(names.length).toBeGreaterThan(0);
      expect(new Set(names).size).toBe(names.length);
    }
    for (const module of conformanceModules) {
      expect(module.name).toMatch(/^oidcc-[a-z0-9-]+$/);
      if (module.status !== 'tested') expect(module.reason.length).toBeGreaterThan(20);
    }
  });
});
