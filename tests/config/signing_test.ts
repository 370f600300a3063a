/** The Signing section: issuer, key, lifetime, key ID format. */

import assert from "node:assert/strict";
import { assertConfigError, build, doc, ENV } from "../support/config.ts";

Deno.test("buildOptions requires Signing:Issuer and Signing:KeyPath", () => {
  assertConfigError(
    () => build(doc({ Signing: { KeyPath: "/k.pem" } })),
    "RegistryTokenService:Signing:Issuer",
    /is required/,
  );
  assertConfigError(
    () => build(doc({ Signing: { Issuer: "registry-token" } })),
    "RegistryTokenService:Signing:KeyPath",
    /is required/,
  );
});

Deno.test("buildOptions rejects a Signing:Lifetime outside 1s..1h or not in whole seconds", () => {
  const signing = (Lifetime: unknown) => doc({ Signing: { Issuer: "r", KeyPath: "/k", Lifetime } });
  assertConfigError(
    () => build(signing(0)),
    "RegistryTokenService:Signing:Lifetime",
    /between 1s and 1h, got 0s/,
  );
  assertConfigError(
    () => build(signing("2h")),
    "RegistryTokenService:Signing:Lifetime",
    /between 1s and 1h, got 7200s/,
  );
  assertConfigError(
    () => build(signing("500ms")),
    "RegistryTokenService:Signing:Lifetime",
    /whole seconds, got 0.5s/,
  );
  assertConfigError(
    () => build(signing("1.5s")),
    "RegistryTokenService:Signing:Lifetime",
    /whole seconds/,
  );
  assert.equal(build(signing("1s")).signing.lifetimeSeconds, 1);
  assert.equal(build(signing("01:00:00")).signing.lifetimeSeconds, 3600);
});

Deno.test("buildOptions rejects a Signing:Lifetime out of range set through the environment", () => {
  assertConfigError(
    () => build(doc(), { [`${ENV}SIGNING__LIFETIME`]: "2h" }),
    "RegistryTokenService:Signing:Lifetime",
    /between 1s and 1h/,
  );
});

Deno.test("buildOptions reads Signing:KeyIdFormat, and leaves it unset for the key to decide", () => {
  const signing = (KeyIdFormat?: string) =>
    doc({ Signing: { Issuer: "r", KeyPath: "/k", KeyIdFormat } });
  assert.equal(build(signing()).signing.keyIdFormat, undefined);
  assert.equal(build(signing("Thumbprint")).signing.keyIdFormat, "thumbprint");
  assertConfigError(
    () => build(signing("x5t")),
    "RegistryTokenService:Signing:KeyIdFormat",
    /must be libtrust or thumbprint/,
  );
});
