/** The error `work` throws; fails the test when it throws nothing. */
export function caught(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, but none was thrown');
}
