/**
 * The OTLP push: the same instruments `/metrics` renders, sent every `Telemetry:Interval` to an
 * OpenTelemetry Collector by OpenTelemetry's own OTLP/HTTP (protobuf) exporter.
 *
 * The configuration is known only after the metrics exist (the log writer counts its drops
 * from the first line on), so the provider holds an idle `OtlpPush` reader from the start and
 * `startPush` gives it its exporter. The push is read at start; a reload does not change it.
 *
 * @module
 */

import { MetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { ConfigError } from "../config/error.ts";
import type { Logger } from "./logger.ts";

/** Where and how often metrics are pushed. */
export interface OtlpOptions {
  /** The Collector's OTLP/HTTP metrics URL. */
  readonly endpoint: string;
  /** Its `host:port`, the one network address the push may reach. */
  readonly hostPort: string;
  readonly intervalSeconds: number;
  /** File of `Name: value` header lines sent with every push. */
  readonly headersPath?: string;
}

/** The `Telemetry` options: no `otlp`, no push. */
export interface TelemetryOptions {
  readonly otlp?: OtlpOptions;
}

/** Most time one push may take: a slow Collector must not pile pushes up. */
const MAX_PUSH_SECONDS = 10;

/** A reader that collects and pushes once an exporter is given (`start`), idle until then. */
export class OtlpPush extends MetricReader {
  #exporter?: PushMetricExporter;
  #timer?: ReturnType<typeof setInterval>;
  #pushing?: Promise<void>;
  #onError: (message: string) => void = () => {};

  /** Pushes through `exporter` every `intervalMs`; `onError` hears of failed pushes. */
  start(exporter: PushMetricExporter, intervalMs: number, onError: (message: string) => void) {
    this.#exporter = exporter;
    this.#onError = onError;
    this.#timer = setInterval(() => void this.#push(), intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  #push(): Promise<void> {
    const exporter = this.#exporter;
    if (!exporter) return Promise.resolve();
    this.#pushing ??= (async () => {
      const { resourceMetrics } = await this.collect();
      const result = await new Promise<{ code: number; error?: Error }>((resolve) =>
        exporter.export(resourceMetrics, resolve)
      );
      if (result.code !== 0) {
        this.#onError(`OTLP push failed: ${result.error?.message ?? "unknown error"}`);
      }
    })().finally(() => this.#pushing = undefined);
    return this.#pushing;
  }

  protected override onForceFlush(): Promise<void> {
    return this.#push();
  }

  protected override async onShutdown(): Promise<void> {
    clearInterval(this.#timer);
    await this.#push();
    await this.#exporter?.shutdown();
  }
}

/**
 * OpenTelemetry's OTLP/HTTP protobuf exporter for `options`, with `headers`. Loaded only when a
 * push is configured (half a second of startup otherwise); a literal specifier, so that
 * `deno compile` still embeds it.
 */
async function otlpExporter(
  options: OtlpOptions,
  headers: Record<string, string>,
): Promise<PushMetricExporter> {
  const { OTLPMetricExporter } = await import("@opentelemetry/exporter-metrics-otlp-proto");
  return new OTLPMetricExporter({
    url: options.endpoint,
    headers,
    timeoutMillis: Math.min(options.intervalSeconds, MAX_PUSH_SECONDS) * 1000,
  });
}

/**
 * The headers of a headers file: one `Name: value` per line, blank lines and `#` comments
 * ignored. Throws an `Error` naming the line (never its value, which may be a secret).
 */
export function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (colon < 1 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\0\r]/.test(value)) {
      throw new Error(`line ${index + 1} is not "Name: value"`);
    }
    headers[name.toLowerCase()] = value;
  });
  return headers;
}

/** What starting the push reads and reports to. */
export interface OtlpStartIo {
  readonly readTextFile: (path: string) => Promise<string>;
  readonly logger: Logger;
}

/**
 * Starts the push `options` ask for (none: nothing), with the headers of its headers file;
 * throws `ConfigError` naming `Telemetry:OtlpHeadersPath` when that file is unusable.
 */
export async function startOtlpPush(
  options: TelemetryOptions,
  push: OtlpPush,
  io: OtlpStartIo,
): Promise<void> {
  const { otlp } = options;
  if (!otlp) return;
  let headers: Record<string, string> = {};
  if (otlp.headersPath !== undefined) {
    try {
      headers = parseHeaders(await io.readTextFile(otlp.headersPath));
    } catch (error) {
      throw new ConfigError(
        "RegistryTokenService:Telemetry:OtlpHeadersPath",
        `${otlp.headersPath}: ${(error as Error).message}`,
      );
    }
  }
  push.start(
    await otlpExporter(otlp, headers),
    otlp.intervalSeconds * 1000,
    (message) => io.logger.log("warn", message),
  );
}
