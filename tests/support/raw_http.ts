/**
 * Raw sockets against a service process: for what an HTTP client library would not send
 * (unfinished headers, bodies cut short, h2c prefaces, broken Host headers), and for reading
 * the process's memory while it is under that load.
 *
 * @module
 */

/** Opens a TCP connection to `port` on loopback and sends `bytes` (if any). */
export async function openRaw(port: number, bytes = ""): Promise<Deno.TcpConn> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  if (bytes) await connection.write(new TextEncoder().encode(bytes));
  return connection;
}

/** What the server sent before it closed, and when it closed (`Infinity`: not within `limitMs`). */
export async function readUntilClosed(
  connection: Deno.Conn,
  limitMs: number,
): Promise<{ text: string; closedAfterMs: number }> {
  const started = performance.now();
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(16 * 1024);
  const timer = setTimeout(() => connection.close(), limitMs);
  let closedAfterMs = Infinity;
  try {
    for (;;) {
      const read = await connection.read(buffer);
      if (read === null) {
        closedAfterMs = performance.now() - started;
        break;
      }
      chunks.push(decoder.decode(buffer.subarray(0, read)));
    }
  } catch (error) {
    // A reset by the server is a close too; our own timer's close is not.
    if (!(error instanceof Deno.errors.BadResource)) closedAfterMs = performance.now() - started;
  } finally {
    clearTimeout(timer);
  }
  try {
    connection.close();
  } catch { /* already closed */ }
  return { text: chunks.join(""), closedAfterMs };
}

/** Sends one raw request and returns the answer's status line and body. */
export async function rawRequest(port: number, request: string) {
  const { text } = await readUntilClosed(await openRaw(port, request), 5000);
  const [head, ...body] = text.split("\r\n\r\n");
  return { statusLine: head.split("\r\n")[0], body: body.join("\r\n\r\n") };
}

/** Resident set size of process `pid` in bytes, from `/proc`. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  if (!Number.isFinite(kib)) throw new Error(`no VmRSS for process ${pid}`);
  return kib * 1024;
}

/** Times one `fetch`; the answer's status, or 0 when it failed or took longer than `limitMs`. */
export async function timedFetch(url: string, init: RequestInit = {}, limitMs = 5000) {
  const started = performance.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(limitMs) });
    await response.body?.cancel();
    return { status: response.status, ms: performance.now() - started };
  } catch {
    return { status: 0, ms: performance.now() - started };
  }
}
