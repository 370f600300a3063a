/** A thrown value's message for a log line or a report: an `Error`'s message, else the value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
