import { GatehouseError } from '../../errors.ts';
import type { Message } from '../../messages/messages.ts';

/** Runs an insert; a UNIQUE or PRIMARY KEY violation becomes GatehouseError('conflict', message). */
export function insertOrConflict(insert: () => unknown, conflict: Message): void {
  try {
    insert();
  } catch (error) {
    if (error instanceof Error && /UNIQUE constraint failed|PRIMARY KEY/.test(error.message)) {
      throw new GatehouseError('conflict', conflict.id, conflict.values);
    }
    throw error;
  }
}
