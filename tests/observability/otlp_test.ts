import assert from "node:assert/strict";
import { OtlpPush, parseHeaders, startOtlpPush } from "../../src/observability/otlp.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { assertConfigErrorAsync } from "../support/config.ts";

const OTLP = {
  endpoint: "http://127.0.0.1:4318/v1/metrics",
  hostPort: "127.0.0.1:4318",
  intervalSeconds: 60,
  headersPath: "/etc/rts/otlp/headers",
};
const logger = createLogger(() => {}, () => new Date(0));

Deno.test("an OTLP headers file is Name: value lines; blank lines and # comments are ignored", () => {
  assert.deepEqual(
    parseHeaders("# the Collector's key\nAuthorization: Bearer a:b\n\nX-Scope-OrgID:  tenant-1 \n"),
    { authorization: "Bearer a:b", "x-scope-orgid": "tenant-1" },
  );
});

Deno.test("a bad OTLP headers line is refused by its number, never echoing its value", () => {
  for (const text of ["Authorization Bearer s3cret", ": s3cret", "Bad Name: s3cret"]) {
    assert.throws(() => parseHeaders(`# key\n${text}`), (error: Error) => {
      assert.equal(error.message, 'line 2 is not "Name: value"');
      return true;
    });
  }
});

Deno.test("an unreadable or bad OTLP headers file stops startup with a ConfigError naming its key", async () => {
  const key = "RegistryTokenService:Telemetry:OtlpHeadersPath";
  await assertConfigErrorAsync(
    startOtlpPush({ otlp: OTLP }, new OtlpPush(), {
      readTextFile: () => Promise.reject(new Deno.errors.NotFound("no such file")),
      logger,
    }),
    key,
    /\/etc\/rts\/otlp\/headers: no such file/,
  );
  await assertConfigErrorAsync(
    startOtlpPush({ otlp: OTLP }, new OtlpPush(), {
      readTextFile: () => Promise.resolve("Authorization Bearer s3cret"),
      logger,
    }),
    key,
    /line 1 is not "Name: value"$/,
  );
});

Deno.test("without Telemetry:OtlpEndpoint nothing is read and nothing is pushed", async () => {
  await startOtlpPush({}, new OtlpPush(), {
    readTextFile: () => Promise.reject(new Error("must not be read")),
    logger,
  });
});
