import { setImmediate as nextTurn } from 'node:timers/promises';

/** Records deleted per statement when a sweep is asked to delete everything at once. */
const sweepBatchSize = 500;

/**
 * Deletes in batches of `batchSize` until a batch comes back short, yielding to the event loop
 * between batches: one large DELETE holds the event loop (SQLite runs synchronously) and the
 * database's write lock for as long as it runs. Returns how many were deleted in all.
 */
export async function deleteInBatches(deleteBatch: (limit: number) => Promise<number>, batchSize = sweepBatchSize): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteBatch(batchSize);
    total += deleted;
    if (deleted < batchSize) return total;
    await nextTurn();
  }
}
