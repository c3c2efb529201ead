import { GatehouseError } from '../../errors.ts';

/** Runs an insert; a UNIQUE or PRIMARY KEY violation becomes GatehouseError('conflict', message). */
export function insertOrConflict(insert: () => unknown, conflictMessage: string): void {
  try {
    insert();
  } catch (error) {
    if (error instanceof Error && /UNIQUE constraint failed|PRIMARY KEY/.test(error.message)) {
      throw new GatehouseError('conflict', conflictMessage);
    }
    throw error;
  }
}
