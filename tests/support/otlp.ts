/**
 * A stand-in OpenTelemetry Collector for the OTLP push test: an HTTP endpoint on loopback that
 * keeps each export it receives, and a decoder of OTLP metrics exports that uses
 * OpenTelemetry's own generated protobuf code.
 *
 * The decoder (otlp_decoder/decode.mjs) is the protobufjs module generated from the OTLP
 * `.proto` files, as `@opentelemetry/otlp-transformer` 0.57 shipped it (later versions encode
 * by hand and decode no requests). It runs as its own `deno run` with its own lock file, out of
 * the project's module graph: its protobufjs depends on an `@types/node` that breaks the type
 * check of the rest of the suite.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** One export as received: its headers and its protobuf body. */
export interface ReceivedExport {
  readonly path: string;
  readonly headers: Headers;
  readonly body: Uint8Array;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>/v1/metrics`. */
  readonly endpoint: string;
  readonly exports: ReceivedExport[];
  /** Resolves once at least `count` exports arrived, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a receiver answering every export with an empty `ExportMetricsServiceResponse`. */
export function startOtlpReceiver(): OtlpReceiver {
  const exports: ReceivedExport[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = new Uint8Array(await request.arrayBuffer());
      exports.push({ path: new URL(request.url).pathname, headers: request.headers, body });
      return new Response(new Uint8Array(), {
        headers: { "content-type": "application/x-protobuf" },
      });
    },
  );
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}/v1/metrics`,
    exports,
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (exports.length < count) {
        if (Date.now() > deadline) throw new Error(`${exports.length} OTLP exports, not ${count}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () => server.shutdown(),
  };
}

const DECODER = fileURLToPath(new URL("./otlp_decoder/decode.mjs", import.meta.url));
const DECODER_LOCK = fileURLToPath(new URL("./otlp_decoder/deno.lock", import.meta.url));

/** An OTLP metric as decoded (`ExportMetricsServiceRequest.toObject`): the fields tests read. */
export interface DecodedMetric {
  readonly name: string;
  readonly sum?: { dataPoints: { asInt?: string; asDouble?: number; attributes?: unknown[] }[] };
  readonly histogram?: { dataPoints: { count: string }[] };
  readonly gauge?: { dataPoints: unknown[] };
}

/** A decoded `ExportMetricsServiceRequest`. */
export interface DecodedExport {
  readonly resourceMetrics: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeMetrics: { metrics: DecodedMetric[] }[];
  }[];
}

/** Decodes one OTLP/protobuf metrics export. */
export async function decodeMetricsExport(body: Uint8Array): Promise<DecodedExport> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      `--lock=${DECODER_LOCK}`,
      "--frozen",
      "--quiet",
      "--allow-read",
      DECODER,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(body);
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  if (!success) throw new Error(`OTLP decoder failed: ${new TextDecoder().decode(stderr)}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}
