import { GatehouseError, isGatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { message } from '../messages/messages.ts';
import type { ApplyLibrary, ApplyReport } from './apply.ts';
import type { AuditSource } from './audit.ts';

/** Gatehouse itself applying GATEHOUSE_SEED_FILE at start-up. */
export const seedSource: AuditSource = { actor: 'system', via: 'seed' };

/**
 * GATEHOUSE_SEED_FILE at start-up (src/server.ts): the file applied as `gatehouse apply` would
 * (never pruning), after the migrations and before the first request is served. One instance at a
 * time (the apply lease): instances starting together apply it one after the other, and all but the
 * first find nothing to change. A file that cannot be applied stops the start-up
 * (`invalid_config`, exit 2), naming the file and every problem.
 */
export async function applySeedFile(apply: ApplyLibrary, file: string, env: NodeJS.ProcessEnv, logger?: Logger): Promise<ApplyReport> {
  let report: ApplyReport;
  try {
    report = await apply.run(await apply.read(file, env), {}, seedSource);
  } catch (error) {
    const problem = isGatehouseError(error) ? error.message : (error as Error).message;
    throw new GatehouseError(isGatehouseError(error) ? error.code : 'internal', 'apply.seed_failed', { file, problem });
  }
  const { counts } = report;
  logger?.info(message('apply.seed_applied', { file, create: counts.create, update: counts.update, unchanged: counts.unchanged, skip: counts.skip }), { seed: { file, counts } });
  return report;
}
