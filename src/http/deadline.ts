/**
 * The total deadline of a request: answered within `Server:RequestTimeout`, however slow an
 * Authority or the CPU is.
 *
 * @module
 */

import { Denial } from "../denial.ts";

/**
 * Settles like `work`, or refuses with `request_timeout` after `seconds`: a request is answered
 * within `Server:RequestTimeout` however slow an Authority or the CPU is.
 */
export async function withinDeadline<T>(work: Promise<T>, seconds: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Denial(
            "request_timeout",
            `the request could not be answered within ${seconds}s`,
            {},
            1,
          ),
        ),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
