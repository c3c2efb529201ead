import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Files whose assertions depend on how fast the machine answers or on how requests interleave:
 * times compared or bounded (imported-passwords, password-reset, password-policy, unbounded-work),
 * races that slow work widens (limits-race, email-code-burst, server), schedules and leases in real
 * time (rotation-live, api, smaller-items), processes given a second to answer (load-config). They
 * run last, one file at a time, with nothing else running in this suite.
 */
const timingSensitive = [
  'test/security/imported-passwords.test.ts',
  'test/security/unbounded-work.test.ts',
  'test/security/limits-race.test.ts',
  'test/security/email-code-burst.test.ts',
  'test/security/smaller-items.test.ts',
  'test/flows/recovery/password-reset.test.ts',
  'test/libraries/password-policy.test.ts',
  'test/keys/rotation-live.test.ts',
  'test/examples/api.test.ts',
  'test/examples/cli.test.ts',
  'test/oidc/device-code-guessing.test.ts',
  'test/config/load-config.test.ts',
  'test/server.test.ts',
];

export default defineConfig({
  test: {
    // The files are named per project below (a project's include is added to the root's, not put in its place).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own server on an ephemeral port with its own SQLite file.
    pool: 'forks',
    projects: [
      {
        // Most files wait on I/O (HTTP, SQLite, SMTP, a browser, child processes): two at a time.
        extends: true,
        test: { name: 'parallel', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...timingSensitive], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'timing', include: timingSensitive, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
