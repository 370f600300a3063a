/**
 * Structured logging: one JSON object per line.
 *
 * Callers pass named fields; nothing here ever receives a request header, so credentials
 * cannot reach the log by accident.
 *
 * @module
 */

/** Severity of a log record. */
export type LogLevel = "info" | "warn" | "error";

/** Field values a log record may carry. */
export type LogFields = Readonly<
  Record<string, string | number | boolean | null | undefined | readonly string[]>
>;

/** Writes structured records. */
export interface Logger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

/** A logger writing JSON lines through `write`, stamped with `now()`. */
export function createLogger(write: (line: string) => void, now: () => Date): Logger {
  return {
    log(level, message, fields = {}) {
      write(JSON.stringify({ time: now().toISOString(), level, msg: message, ...fields }));
    },
  };
}
