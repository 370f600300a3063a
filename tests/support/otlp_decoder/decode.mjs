// Decodes one OTLP ExportMetricsServiceRequest (protobuf, on stdin) into JSON on stdout, with
// OpenTelemetry's own generated protobuf code (otlp-transformer 0.57's). It runs as its own
// process with its own lock file: that package's protobufjs brings an @types/node that breaks
// the type check of the rest of the suite (see ../otlp.ts).
import root from "npm:@opentelemetry/otlp-transformer@0.57.2/build/src/generated/root.js";

const { ExportMetricsServiceRequest } = root.opentelemetry.proto.collector.metrics.v1;
const bytes = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
const request = ExportMetricsServiceRequest.decode(bytes);
console.log(JSON.stringify(ExportMetricsServiceRequest.toObject(request, { longs: String })));
