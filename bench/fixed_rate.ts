/**
 * Latency at a fixed request rate, measured from each request's scheduled send time (so a
 * falling-behind client counts against the result, never for it). Speaks HTTP/1.1 over raw
 * keep-alive sockets with prepared requests: a fetch-based client costs too much CPU on a
 * two-core machine that also runs the service.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-read bench/fixed_rate.ts
 *          <port> <requests file> <rate> <seconds> [connections]
 * Prints JSON: { sent, p50, p99, max, errors } (milliseconds).
 *
 * @module
 */

const [portText, requestsFile, rateText, secondsText, connectionsText = "32"] = Deno.args;
const port = Number(portText);
const rate = Number(rateText);
const total = Math.max(1, Math.floor(rate * Number(secondsText)));
const connections = Math.min(Number(connectionsText), total);
const encoder = new TextEncoder();
const requests = (await Deno.readTextFile(requestsFile)).trim().split("\n").map((line) => {
  const [path, authorization] = line.split("\t");
  return encoder.encode(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${authorization}\r\n\r\n`,
  );
});

const latencies: number[] = [];
let errors = 0;
const interval = 1000 / rate;
const start = performance.now() + 100;

/** One keep-alive connection sending every `connections`-th scheduled request. */
async function lane(offset: number) {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  connection.setNoDelay(true);
  const buffer = new Uint8Array(64 * 1024);
  let pending: Uint8Array = new Uint8Array(0);
  for (let i = offset; i < total; i += connections) {
    const scheduled = start + i * interval;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    await connection.write(requests[i % requests.length]);
    pending = await readResponse(connection, buffer, pending, (status) => {
      if (status !== 200) errors++;
    });
    latencies.push(performance.now() - scheduled);
  }
  connection.close();
}

/** Reads one response (status line, Content-Length body); returns bytes read past it. */
async function readResponse(
  connection: Deno.Conn,
  buffer: Uint8Array,
  carried: Uint8Array,
  onStatus: (status: number) => void,
): Promise<Uint8Array> {
  let data = carried;
  const text = () => new TextDecoder("latin1").decode(data);
  while (true) {
    const head = text().indexOf("\r\n\r\n");
    if (head >= 0) {
      const header = text().slice(0, head);
      const length = Number(/content-length:\s*(\d+)/i.exec(header)?.[1] ?? 0);
      if (data.length >= head + 4 + length) {
        onStatus(Number(header.slice(9, 12)));
        return data.slice(head + 4 + length);
      }
    }
    const read = await connection.read(buffer);
    if (read === null) throw new Error("the service closed the connection");
    const next = new Uint8Array(data.length + read);
    next.set(data);
    next.set(buffer.subarray(0, read), data.length);
    data = next;
  }
}

await Promise.all(Array.from({ length: connections }, (_, offset) => lane(offset)));
latencies.sort((a, b) => a - b);
const at = (quantile: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * quantile))];
console.log(
  JSON.stringify({
    sent: latencies.length,
    p50: at(0.5),
    p99: at(0.99),
    max: latencies.at(-1),
    errors,
  }),
);
