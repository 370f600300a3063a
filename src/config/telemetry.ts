/**
 * `Telemetry`: the optional OTLP push of the metrics to an OpenTelemetry Collector (`/metrics`
 * is always served, whatever this says).
 *
 * @module
 */

import type { TelemetryOptions } from "../observability/otlp.ts";
import { ConfigError } from "./error.ts";
import { duration, section, type Settled, text } from "./schema.ts";
import { url } from "./values.ts";

/** The `Telemetry` section. */
export const TELEMETRY_SECTION = section({
  doc: "the OTLP push of the metrics ([Observability](observability.md#otlp-push))",
  fields: {
    OtlpEndpoint: text({
      defaultText: "— (no push)",
      doc: "OTLP/HTTP metrics URL of a Collector, e.g. `http://collector:4318/v1/metrics`",
    }),
    Interval: duration({
      default: 60,
      min: 1,
      max: 3600,
      doc: "how often the metrics are pushed",
    }),
    OtlpHeadersPath: text({
      defaultText: "— (no headers)",
      doc: "file of `Name: value` lines sent with every push (e.g. an API key)",
    }),
  },
});

/** `Telemetry` after defaults. */
export type TelemetrySection = Settled<typeof TELEMETRY_SECTION>;

/** Builds the telemetry options; `path` is the section's key. */
export function telemetryOptions(telemetry: TelemetrySection, path: string): TelemetryOptions {
  if (telemetry.OtlpEndpoint === undefined) {
    if (telemetry.OtlpHeadersPath !== undefined) {
      throw new ConfigError(`${path}:OtlpHeadersPath`, "needs Telemetry:OtlpEndpoint");
    }
    return {};
  }
  const endpoint = url(telemetry.OtlpEndpoint, `${path}:OtlpEndpoint`);
  const parsed = new URL(endpoint);
  const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  return {
    otlp: {
      endpoint,
      hostPort: `${parsed.hostname}:${port}`,
      intervalSeconds: telemetry.Interval,
      headersPath: telemetry.OtlpHeadersPath,
    },
  };
}
