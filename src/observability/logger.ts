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

/** A line sink that batches writes: one write per event-loop turn instead of one per line. */
export interface BatchedLineWriter {
  write(line: string): void;
  /** Writes whatever is pending now (before exit). */
  flush(): void;
}

/**
 * Batches lines for `writeSync` (e.g. `Deno.stdout`): under load a synchronous write per
 * request line costs a third of the throughput, so lines that come less than 10 ms apart are
 * gathered and written together on the next timer turn (or at once when 64 KiB have piled up).
 * A line after a quiet spell is written at once, so a lightly used service logs each request
 * before answering it, as an unbatched one would.
 */
export function createBatchedLineWriter(
  sink: { writeSync(bytes: Uint8Array): number },
): BatchedLineWriter {
  const encoder = new TextEncoder();
  let pending: string[] = [];
  let pendingLength = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastLine = -Infinity;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    let bytes = encoder.encode(`${pending.join("\n")}\n`);
    pending = [];
    pendingLength = 0;
    while (bytes.length > 0) bytes = bytes.subarray(sink.writeSync(bytes));
  };
  return {
    write(line) {
      const now = performance.now();
      const quiet = now - lastLine > 10;
      lastLine = now;
      pending.push(line);
      pendingLength += line.length;
      if ((quiet && timer === undefined) || pendingLength >= 64 * 1024) flush();
      else timer ??= setTimeout(flush, 0);
    },
    flush,
  };
}
