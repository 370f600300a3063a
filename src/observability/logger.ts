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

/** A value a log field may carry: plain JSON data (e.g. the request log's decisions). */
export type LogValue =
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly LogValue[]
  | { readonly [key: string]: LogValue };

/** Field values a log record may carry. */
export type LogFields = Readonly<Record<string, LogValue>>;

/** Writes structured records. */
export interface Logger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

/** A logger writing JSON lines through `write`, stamped with `now()`. */
export function createLogger(
  write: (line: string) => void,
  now: () => Date,
  /** Fields every record carries, after `msg` (a worker's `worker` number). */
  base: LogFields = {},
): Logger {
  return {
    log(level, message, fields = {}) {
      write(JSON.stringify({ time: now().toISOString(), level, msg: message, ...base, ...fields }));
    },
  };
}

/** A line sink that never blocks or throws; lines it cannot keep are dropped and counted. */
export interface LogWriter {
  write(line: string): void;
  /** Resolves once the pending lines are written, or after `timeoutMs` (before exit). */
  flush(timeoutMs: number): Promise<void>;
}

/** Most bytes of log lines held while the reader of stdout is slow: beyond this lines drop. */
const MAX_PENDING_LOG_BYTES = 1024 * 1024;

/**
 * Writes lines to `sink` (e.g. `Deno.stdout`) asynchronously, batched: the lines that arrive
 * while one write is under way go out together in the next. A stalled reader never blocks the
 * event loop —
 * lines queue up to `maxPendingBytes`, then new ones are dropped — and a reader that is gone
 * (EPIPE) stops the writing for good. Dropped lines are passed to `onDropped` as they happen,
 * and once writing catches up a line says how many were lost.
 */
export function createLogWriter(
  sink: { write(bytes: Uint8Array): Promise<number> },
  onDropped: (count: number) => void = () => {},
  maxPendingBytes = MAX_PENDING_LOG_BYTES,
  /**
   * Most bytes per write. Worker processes share one stdout (`Server:Workers`), where only
   * writes of at most PIPE_BUF (4096) bytes are never interleaved with another's: a batch is
   * then written in pieces of whole lines within this.
   */
  maxWriteBytes = Infinity,
): LogWriter {
  const encoder = new TextEncoder();
  let pending: string[] = [];
  let pendingBytes = 0;
  let droppedSinceReport = 0;
  let broken = false;
  let writing: Promise<void> | undefined;
  const drop = (count: number) => {
    droppedSinceReport += count;
    onDropped(count);
  };
  const pump = async () => {
    while (pending.length > 0 && !broken) {
      let batch = 0;
      let batchBytes = 0;
      // Whole lines up to maxWriteBytes (at least one line, however long), counted in UTF-8
      // bytes when capped; the pending bound below counts characters, as before.
      const size = (line: string) =>
        (maxWriteBytes === Infinity ? line.length : encoder.encode(line).length) + 1;
      let written = 0;
      while (batch < pending.length) {
        const next = size(pending[batch]);
        if (batch > 0 && batchBytes + next > maxWriteBytes) break;
        batchBytes += next;
        written += pending[batch].length + 1;
        batch++;
      }
      let bytes = encoder.encode(`${pending.slice(0, batch).join("\n")}\n`);
      pending = pending.slice(batch);
      pendingBytes = Math.max(0, pendingBytes - written);
      try {
        while (bytes.length > 0) bytes = bytes.subarray(await sink.write(bytes));
      } catch (error) {
        if (error instanceof Deno.errors.BrokenPipe) {
          // The reader is gone; nothing written later could reach anyone.
          broken = true;
          drop(batch + pending.length);
          pending = [];
          return;
        }
        // Anything else may pass: this batch is lost, the next one is tried.
        drop(batch);
      }
      if (droppedSinceReport > 0 && pending.length === 0) {
        pending.push(JSON.stringify({
          time: new Date().toISOString(),
          level: "warn",
          msg: "log lines dropped: stdout was not read fast enough",
          dropped: droppedSinceReport,
        }));
        droppedSinceReport = 0;
      }
    }
  };
  // Idle, a line goes out at once (a lightly used service logs a request before answering it);
  // while a write is under way, lines gather and the next write takes them all.
  const schedule = () => {
    writing ??= pump().finally(() => {
      writing = undefined;
      if (pending.length > 0 && !broken) schedule();
    });
  };
  return {
    write(line) {
      if (broken || pendingBytes + line.length > maxPendingBytes) return drop(1);
      pending.push(line);
      pendingBytes += line.length + 1;
      schedule();
    },
    async flush(timeoutMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs));
      const drained = (async () => {
        while (writing) await writing;
      })();
      await Promise.race([drained, deadline]);
      clearTimeout(timer);
    },
  };
}
