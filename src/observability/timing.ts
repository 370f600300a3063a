/**
 * Timing an asynchronous step for a histogram: its duration, and whether it succeeded.
 *
 * @module
 */

/**
 * Runs `work`, then passes `record` its duration in seconds and whether it resolved; its
 * result or error is passed on unchanged. `clock` is monotonic, in milliseconds.
 */
export async function timed<T>(
  work: () => Promise<T>,
  record: (seconds: number, ok: boolean) => void,
  clock: () => number = () => performance.now(),
): Promise<T> {
  const started = clock();
  try {
    const result = await work();
    record((clock() - started) / 1000, true);
    return result;
  } catch (error) {
    record((clock() - started) / 1000, false);
    throw error;
  }
}
