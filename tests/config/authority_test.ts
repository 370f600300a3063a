/** The Authority section: issuer, key location, scopes, clock skew. */

import assert from "node:assert/strict";
import { assertConfigError, build, doc } from "../support/config.ts";

Deno.test("buildOptions derives the discovery URL from the Authority issuer", () => {
  assert.deepEqual(build(doc()).authorities[0].keys, {
    kind: "discovery",
    metadataAddress: "https://authority.test/.well-known/openid-configuration",
  });
  const withSlash = build(doc({ Authority: { Issuer: "https://id.example/realms/main/" } }));
  assert.deepEqual(withSlash.authorities[0].keys, {
    kind: "discovery",
    metadataAddress: "https://id.example/realms/main/.well-known/openid-configuration",
  });
});

Deno.test("buildOptions reads Authority:PlanClaim, stellaops:plan by default, never blank", () => {
  assert.equal(build(doc()).authorities[0].planClaim.source, "stellaops:plan");
  const withClaim = (PlanClaim: string) =>
    doc({ Authority: { Issuer: "https://authority.test", PlanClaim } });
  assert.equal(build(withClaim("plan")).authorities[0].planClaim.source, "plan");
  assertConfigError(
    () => build(withClaim(" ")),
    "RegistryTokenService:Authority:PlanClaim",
    /is required/,
  );
});

Deno.test("buildOptions keeps an explicit empty RequiredScopes list instead of the default", () => {
  const options = build(doc({
    Authority: { Issuer: "https://authority.test", RequiredScopes: [] },
  }));
  assert.deepEqual(options.authorities[0].requiredScopes, []);
});

Deno.test("buildOptions uses MetadataAddress, JwksUri or JwksPath as the key location", () => {
  const issuer = "https://authority.test";
  assert.deepEqual(
    build(doc({ Authority: { Issuer: issuer, MetadataAddress: "https://meta.test/oidc" } }))
      .authorities[0].keys,
    { kind: "discovery", metadataAddress: "https://meta.test/oidc" },
  );
  assert.deepEqual(
    build(doc({ Authority: { Issuer: issuer, JwksUri: "https://authority.test/jwks" } }))
      .authorities[0].keys,
    { kind: "jwks-uri", jwksUri: "https://authority.test/jwks" },
  );
  assert.deepEqual(
    build(doc({ Authority: { Issuer: issuer, JwksPath: "/etc/authority/jwks.json" } }))
      .authorities[0].keys,
    { kind: "jwks-file", path: "/etc/authority/jwks.json" },
  );
});

Deno.test("buildOptions accepts a non-URL issuer when a local JwksPath is configured", () => {
  const options = build(doc({ Authority: { Issuer: "dev-authority", JwksPath: "/jwks.json" } }));
  assert.equal(options.authorities[0].issuer, "dev-authority");
});

Deno.test("buildOptions requires Authority:Issuer", () => {
  assertConfigError(
    () => build(doc({ Authority: {} })),
    "RegistryTokenService:Authority:Issuer",
    /is required/,
  );
  assertConfigError(
    () => build(doc({ Authority: { Issuer: "  " } })),
    "RegistryTokenService:Authority:Issuer",
    /is required/,
  );
});

Deno.test("buildOptions rejects an Authority:ClockSkew above 5 minutes", () => {
  assertConfigError(
    () => build(doc({ Authority: { Issuer: "https://authority.test", ClockSkew: "10m" } })),
    "RegistryTokenService:Authority:ClockSkew",
    /at most 300s/,
  );
});

Deno.test("buildOptions rejects more than one of MetadataAddress, JwksUri and JwksPath", () => {
  assertConfigError(
    () =>
      build(doc({
        Authority: {
          Issuer: "https://authority.test",
          MetadataAddress: "https://authority.test/.well-known/openid-configuration",
          JwksUri: "https://authority.test/jwks",
        },
      })),
    "RegistryTokenService:Authority",
    /set only one of MetadataAddress, JwksUri/,
  );
  assertConfigError(
    () =>
      build(doc({
        Authority: {
          Issuer: "https://authority.test",
          JwksUri: "https://authority.test/jwks",
          JwksPath: "/jwks.json",
        },
      })),
    "RegistryTokenService:Authority",
    /set only one of JwksUri, JwksPath/,
  );
});

Deno.test("buildOptions rejects a MetadataAddress or JwksUri that is not an http(s) URL", () => {
  const issuer = "https://authority.test";
  assertConfigError(
    () => build(doc({ Authority: { Issuer: issuer, MetadataAddress: "authority.test/oidc" } })),
    "RegistryTokenService:Authority:MetadataAddress",
    /must be an http\(s\) URL, got "authority.test\/oidc"/,
  );
  assertConfigError(
    () => build(doc({ Authority: { Issuer: issuer, MetadataAddress: "ftp://authority.test/" } })),
    "RegistryTokenService:Authority:MetadataAddress",
    /http\(s\) URL/,
  );
  assertConfigError(
    () => build(doc({ Authority: { Issuer: issuer, JwksUri: "file:///jwks.json" } })),
    "RegistryTokenService:Authority:JwksUri",
    /http\(s\) URL/,
  );
});

Deno.test("buildOptions rejects a non-URL issuer when keys come from discovery", () => {
  assertConfigError(
    () => build(doc({ Authority: { Issuer: "my-authority" } })),
    "RegistryTokenService:Authority:Issuer",
    /must be an http\(s\) URL when no MetadataAddress, JwksUri or JwksPath is set/,
  );
});

Deno.test("buildOptions refuses Authority URLs carrying credentials without echoing them", () => {
  assertConfigError(
    () =>
      build(doc({
        Authority: {
          Issuer: "https://authority.test",
          JwksUri: "https://svc:s3cr3t@authority.test/jwks",
        },
      })),
    "RegistryTokenService:Authority:JwksUri",
    /^[^]*must not contain a user name or password(?![^]*s3cr3t)/,
  );
});
