import { parentPort } from 'node:worker_threads';

import { checkPasswordPolicy } from './password-policy.ts';
import type { PasswordPolicyOptions } from './password-policy.ts';

/**
 * The password policy's thread (see checkPasswordPolicyAsync): zxcvbn takes tens of milliseconds
 * for a long password, which must not stall every other request on the main thread.
 */
type Job = { id: number; password: string; context: { email?: string; name?: string }; options: PasswordPolicyOptions };

parentPort?.on('message', (job: Job) => {
  try {
    parentPort!.postMessage({ id: job.id, verdict: checkPasswordPolicy(job.password, job.context, job.options) });
  } catch (error) {
    parentPort!.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
