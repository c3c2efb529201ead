import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { basicModuleTests, fillProfile } from './basic-modules.ts';
import type { Conformance } from './harness.ts';
import { startConformance } from './harness.ts';
import { modulesOf, titleOf } from './modules.ts';

const plan = 'oidcc-basic-certification-test-plan';

describe(plan, () => {
  let h: Conformance;
  beforeAll(async () => {
    h = await startConformance('query', { profile: fillProfile });
  });
  afterAll(() => h?.stop());

  it('has a test for every module of the plan, and no other', () => {
    expect(Object.keys(basicModuleTests).sort()).toEqual(modulesOf(plan).map((module) => module.name).sort());
  });

  for (const module of modulesOf(plan)) {
    it(titleOf(module), () => basicModuleTests[module.name]!(h));
  }
});
