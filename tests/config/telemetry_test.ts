/** The Telemetry section. */

import assert from "node:assert/strict";
import { configuredFiles } from "../../src/config/files.ts";
import { assertConfigError, build, doc } from "../support/config.ts";

Deno.test("Telemetry defaults to no OTLP push", () => {
  assert.deepEqual(build(doc()).telemetry, {});
});

Deno.test("Telemetry:OtlpEndpoint turns the push on, every Interval, with a headers file", () => {
  const options = build(doc({
    Telemetry: {
      OtlpEndpoint: "https://collector.internal/v1/metrics",
      Interval: "15s",
      OtlpHeadersPath: "/etc/rts/otlp/headers",
    },
  }));
  assert.deepEqual(options.telemetry, {
    otlp: {
      endpoint: "https://collector.internal/v1/metrics",
      hostPort: "collector.internal:443",
      intervalSeconds: 15,
      headersPath: "/etc/rts/otlp/headers",
    },
  });
  assert.deepEqual(configuredFiles(options).telemetry, ["/etc/rts/otlp/headers"]);
  const defaults = build(doc({ Telemetry: { OtlpEndpoint: "http://127.0.0.1:4318/v1/metrics" } }));
  assert.equal(defaults.telemetry.otlp?.intervalSeconds, 60);
  assert.equal(defaults.telemetry.otlp?.hostPort, "127.0.0.1:4318");
});

Deno.test("Telemetry refuses an endpoint that is no http(s) URL or holds a password, and headers without one", () => {
  const key = "RegistryTokenService:Telemetry";
  assertConfigError(
    () => build(doc({ Telemetry: { OtlpEndpoint: "collector:4317" } })),
    `${key}:OtlpEndpoint`,
    /http\(s\) URL/,
  );
  assertConfigError(
    () => build(doc({ Telemetry: { OtlpEndpoint: "https://user:secret@collector/v1/metrics" } })),
    `${key}:OtlpEndpoint`,
    /user name or password/,
  );
  assertConfigError(
    () => build(doc({ Telemetry: { OtlpHeadersPath: "/etc/rts/otlp/headers" } })),
    `${key}:OtlpHeadersPath`,
    /needs Telemetry:OtlpEndpoint/,
  );
  assertConfigError(
    () => build(doc({ Telemetry: { OtlpEndpoint: "http://c/v1/metrics", Interval: "100ms" } })),
    `${key}:Interval`,
    /between 1s and 1h/,
  );
});
