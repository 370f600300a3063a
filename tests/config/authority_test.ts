/** The Authority section: issuer, key location, scopes, clock skew. */

import assert from "node:assert/strict";
import { assertConfigError, build, doc, ENV } from "../support/config.ts";

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

// --- several Authorities ----------------------------------------------------------------------

const stellaops = { Name: "stellaops", Issuer: "https://authority.test" };
const ci = { Name: "ci", Issuer: "https://ci.test", JwksUri: "https://ci.test/jwks" };
const PLANS = [
  { Name: "gold", Repositories: [{ Pattern: "*", Actions: ["*"] }] },
  { Name: "reader", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
];

/** `doc()` with `Authorities` instead of `Authority`, and the two plans above. */
function several(authorities: unknown[], patch: Record<string, unknown> = {}) {
  const document = doc({ Authorities: authorities, Plans: PLANS, ...patch });
  delete (document.RegistryTokenService as Record<string, unknown>).Authority;
  return document;
}

Deno.test("Authority alone is an Authorities list of one named default", () => {
  const single = build(doc({ Authority: { Issuer: "https://authority.test", ClockSkew: "30s" } }));
  const listed = build(
    several([{ Name: "default", Issuer: "https://authority.test", ClockSkew: "30s" }]),
  );
  assert.equal(single.authorities.length, 1);
  assert.equal(single.authorities[0].name, "default");
  assert.equal(single.authorities[0].section, "RegistryTokenService:Authority");
  assert.equal(listed.authorities[0].section, "RegistryTokenService:Authorities:0");
  assert.deepEqual(
    { ...single.authorities[0], section: undefined },
    { ...listed.authorities[0], section: undefined },
  );
});

Deno.test("Authorities keeps every item, in order, each with its own keys and rules", () => {
  const options = build(several([stellaops, { ...ci, RequiredScopes: [], ClockSkew: "10s" }]));
  assert.deepEqual(options.authorities.map((authority) => authority.name), ["stellaops", "ci"]);
  const [first, second] = options.authorities;
  assert.deepEqual(first.requiredScopes, ["registry.token.issue"]);
  assert.deepEqual(second.requiredScopes, [], "RequiredScopes: [] is allowed");
  assert.equal(second.clockSkewSeconds, 10);
  assert.deepEqual(second.keys, { kind: "jwks-uri", jwksUri: "https://ci.test/jwks" });
  assert.deepEqual(first.keys, {
    kind: "discovery",
    metadataAddress: "https://authority.test/.well-known/openid-configuration",
  });
});

Deno.test("Authorities items can come from REGISTRY_TOKEN_ variables", () => {
  const document = several([stellaops]);
  const options = build(document, {
    [`${ENV}AUTHORITIES__1__NAME`]: "ci",
    [`${ENV}AUTHORITIES__1__ISSUER`]: "https://ci.test",
    [`${ENV}AUTHORITIES__1__SUBJECTCLAIM`]: "project_path",
  });
  assert.deepEqual(options.authorities.map((authority) => authority.name), ["stellaops", "ci"]);
  assert.equal(options.authorities[1].subjectClaim?.source, "project_path");
});

Deno.test("setting both Authority and Authorities is a config error naming both", () => {
  assertConfigError(
    () => build(doc({ Authorities: [stellaops] })),
    "RegistryTokenService:Authorities",
    /RegistryTokenService:Authority \(one Authority\) or RegistryTokenService:Authorities/,
  );
  assertConfigError(
    () => build(doc({ Authorities: [] })),
    "RegistryTokenService:Authorities",
    /not both/,
  );
});

Deno.test("with neither Authority nor Authorities the Issuer is what is missing", () => {
  const document = doc();
  delete (document.RegistryTokenService as Record<string, unknown>).Authority;
  assertConfigError(() => build(document), "RegistryTokenService:Authority:Issuer", /is required/);
  assertConfigError(
    () => build(several([])),
    "RegistryTokenService:Authorities",
    /must list at least one Authority/,
  );
});

Deno.test("an Authorities item needs a Name of lower-case letters, digits and dashes", () => {
  assertConfigError(
    () => build(several([{ Issuer: "https://authority.test" }])),
    "RegistryTokenService:Authorities:0:Name",
    /is required/,
  );
  for (const name of ["StellaOps", "ci bot", "ci_bot", "ci:1", "ç"]) {
    assertConfigError(
      () => build(several([stellaops, { ...ci, Name: name }])),
      "RegistryTokenService:Authorities:1:Name",
      /\[a-z0-9-\]\+/,
    );
  }
  assert.equal(build(several([{ ...ci, Name: "gitlab-ci-2" }])).authorities[0].name, "gitlab-ci-2");
});

Deno.test("two Authorities may share neither a Name nor an Issuer", () => {
  assertConfigError(
    () => build(several([stellaops, { ...ci, Name: "stellaops" }])),
    "RegistryTokenService:Authorities:1:Name",
    /"stellaops" is the Name of an earlier Authority/,
  );
  assertConfigError(
    () => build(several([stellaops, ci, { ...stellaops, Name: "again", JwksPath: "/j.json" }])),
    "RegistryTokenService:Authorities:2:Issuer",
    /"https:\/\/authority.test" is already the Issuer of Authority "stellaops"/,
  );
  // Exact match means exact: a trailing slash is another issuer.
  const options = build(
    several([stellaops, { ...stellaops, Name: "x", Issuer: "https://authority.test/" }]),
  );
  assert.equal(options.authorities.length, 2);
});

Deno.test("each item's keys are checked under its own path", () => {
  assertConfigError(
    () => build(several([stellaops, { ...ci, ClockSkew: "10m" }])),
    "RegistryTokenService:Authorities:1:ClockSkew",
    /at most 300s/,
  );
  assertConfigError(
    () => build(several([stellaops, { ...ci, RequiredScopes: ["two words"] }])),
    "RegistryTokenService:Authorities:1:RequiredScopes:0",
    /not a valid OAuth scope/,
  );
  assertConfigError(
    () => build(several([stellaops, { ...ci, SenderConstraint: "dpop" }])),
    "RegistryTokenService:Authorities:1:SenderConstraint",
    /needs Server:PublicBaseUrl/,
  );
  assertConfigError(
    () => build(several([{ ...stellaops, SenderConstraint: "mtls" }, ci])),
    "RegistryTokenService:Authorities:0:SenderConstraint",
    /needs client certificates/,
  );
});

Deno.test("SubjectClaim, PlanClaim and LicenseClaim are claim names, with their defaults", () => {
  const [defaults] = build(doc()).authorities;
  assert.equal(defaults.subjectClaim, undefined);
  assert.deepEqual(defaults.planClaim, { source: "stellaops:plan", path: ["stellaops:plan"] });
  assert.deepEqual(defaults.licenseClaim, {
    source: "stellaops:license",
    path: ["stellaops:license"],
  });
  const [named] = build(doc({
    Authority: {
      Issuer: "https://authority.test",
      SubjectClaim: "/ci/project",
      PlanClaim: "https://example.com/plan",
      LicenseClaim: "/licence~1id",
    },
  })).authorities;
  assert.deepEqual(named.subjectClaim, { source: "/ci/project", path: ["ci", "project"] });
  assert.deepEqual(named.planClaim.path, ["https://example.com/plan"]);
  assert.deepEqual(named.licenseClaim.path, ["licence/id"]);
  for (const key of ["SubjectClaim", "PlanClaim", "LicenseClaim"]) {
    assertConfigError(
      () => build(doc({ Authority: { Issuer: "https://authority.test", [key]: "/a~2b" } })),
      `RegistryTokenService:Authority:${key}`,
      /not a JSON Pointer/,
    );
  }
  assertConfigError(
    () => build(doc({ Authority: { Issuer: "https://authority.test", LicenseClaim: " " } })),
    "RegistryTokenService:Authority:LicenseClaim",
    /is required/,
  );
});

Deno.test("PlanMappings are read in order, each Claim a claim name", () => {
  const options = build(several([{
    ...ci,
    PlanMappings: [
      { Claim: "groups", Value: "admins", Plan: "gold" },
      { Claim: "/ci/ref", Value: "main", Plan: "reader" },
    ],
    DefaultPlan: "reader",
  }]));
  const [authority] = options.authorities;
  assert.deepEqual(authority.planMappings, [
    { claim: { source: "groups", path: ["groups"] }, value: "admins", plan: "gold" },
    { claim: { source: "/ci/ref", path: ["ci", "ref"] }, value: "main", plan: "reader" },
  ]);
  assert.equal(authority.defaultPlan, "reader");
  assertConfigError(
    () => build(several([{ ...ci, PlanMappings: [{ Claim: "groups", Plan: "gold" }] }])),
    "RegistryTokenService:Authorities:0:PlanMappings:0:Value",
    /is required/,
  );
  assertConfigError(
    () => build(several([{ ...ci, PlanMappings: [{ Claim: "/a~", Value: "x", Plan: "gold" }] }])),
    "RegistryTokenService:Authorities:0:PlanMappings:0:Claim",
    /not a JSON Pointer/,
  );
});

Deno.test("a plan mapping or Authority default naming an unknown plan is a config error", () => {
  assertConfigError(
    () =>
      build(several([stellaops, {
        ...ci,
        PlanMappings: [
          { Claim: "groups", Value: "admins", Plan: "gold" },
          { Claim: "groups", Value: "ops", Plan: "platinum" },
        ],
      }])),
    "RegistryTokenService:Authorities:1:PlanMappings:1:Plan",
    /"platinum" is not a configured plan \(gold, reader\)/,
  );
  assertConfigError(
    () => build(several([{ ...ci, DefaultPlan: "platinum" }])),
    "RegistryTokenService:Authorities:0:DefaultPlan",
    /"platinum" is not a configured plan/,
  );
  assertConfigError(
    () => build(doc({ Authority: { Issuer: "https://authority.test", DefaultPlan: "gold" } })),
    "RegistryTokenService:Authority:DefaultPlan",
    /"gold" is not a configured plan \(none are configured\)/,
  );
});
