/** The Server section. */

import assert from "node:assert/strict";
import { assertConfigError, build, doc, ENV } from "../support/config.ts";

Deno.test("Server:Workers: 1 by default, a number, or auto (one per core), from file or env", () => {
  assert.equal(build(doc()).server.workers, 1);
  assert.equal(build(doc({ Server: { Workers: 3 } })).server.workers, 3);
  assert.equal(
    build(doc({ Server: { Workers: "auto" } })).server.workers,
    navigator.hardwareConcurrency,
  );
  assert.equal(
    build(doc(), { [`${ENV}SERVER__WORKERS`]: "Auto" }).server.workers,
    navigator.hardwareConcurrency,
  );
  assert.equal(build(doc(), { [`${ENV}SERVER__WORKERS`]: "2" }).server.workers, 2);
  assertConfigError(
    () => build(doc({ Server: { Workers: 0 } })),
    "RegistryTokenService:Server:Workers",
    /must be 1\.\.256, got 0/,
  );
  assertConfigError(
    () => build(doc({ Server: { Workers: "all" } })),
    "RegistryTokenService:Server:Workers",
    /must be 1\.\.256 or auto, got "all"/,
  );
  assertConfigError(
    () => build(doc({ Server: { Workers: true } })),
    "RegistryTokenService:Server:Workers",
    /must be a whole number or auto, got true/,
  );
});

Deno.test("buildOptions rejects a port outside 0..65535", () => {
  assertConfigError(
    () => build(doc({ Server: { Port: 70000 } })),
    "RegistryTokenService:Server:Port",
    /0\.\.65535/,
  );
  assertConfigError(
    () => build(doc({ Server: { Port: -1 } })),
    "RegistryTokenService:Server:Port",
    /0\.\.65535/,
  );
});
