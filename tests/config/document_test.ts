/** Merging the YAML file with REGISTRY_TOKEN_ variables: key spelling, types, list items. */

import assert from "node:assert/strict";
import { type EnvReader, mergeDocument } from "../../src/config/document.ts";
import { buildOptions } from "../../src/config/options.ts";
import { assertConfigError, build, doc, ENV, fakeEnv } from "../support/config.ts";

Deno.test("mergeDocument matches keys case-insensitively and returns canonical spelling", () => {
  const merged = mergeDocument({
    registrytokenservice: {
      AUTHORITY: { issuer: "https://authority.test", clockskew: "30s" },
      signing: { ISSUER: "registry-token", keypath: "/k.pem", LIFETIME: "00:10:00" },
      server: { PORT: 8080 },
      plans: [{ name: "ci", repositories: [{ PATTERN: "*", actions: ["pull"] }] }],
      defaultplan: "ci",
      partialGRANTS: true,
    },
  }, fakeEnv());
  assert.deepEqual(merged.Authority, { Issuer: "https://authority.test", ClockSkew: 30 });
  assert.deepEqual(merged.Signing, { Issuer: "registry-token", KeyPath: "/k.pem", Lifetime: 600 });
  assert.deepEqual(merged.Server, { Port: 8080 });
  assert.deepEqual(merged.Plans, [
    { Name: "ci", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
  ]);
  assert.equal(merged.DefaultPlan, "ci");
  assert.equal(merged.PartialGrants, true);
  const options = buildOptions(merged);
  assert.equal(options.server.port, 8080);
  assert.equal(options.policy.defaultPlan, "ci");
});

Deno.test("mergeDocument rejects a key given twice with different letter case", () => {
  assertConfigError(
    () =>
      mergeDocument({
        RegistryTokenService: { Signing: { KeyPath: "/a.pem", keypath: "/b.pem" } },
      }, fakeEnv()),
    "RegistryTokenService:Signing:keypath",
    /given twice with different letter case/,
  );
});

Deno.test("mergeDocument lets REGISTRY_TOKEN_ variables override scalars from the file", () => {
  const options = build(doc(), {
    [`${ENV}SIGNING__KEYPATH`]: "/from/env.pem",
    [`${ENV}AUTHORITY__ISSUER`]: "https://other-authority.test",
  });
  assert.equal(options.signing.keyPath, "/from/env.pem");
  assert.equal(options.authorities[0].issuer, "https://other-authority.test");
  assert.deepEqual(options.authorities[0].keys, {
    kind: "discovery",
    metadataAddress: "https://other-authority.test/.well-known/openid-configuration",
  });
});

Deno.test("mergeDocument lets REGISTRY_TOKEN_ variables set nested keys absent from the file", () => {
  const options = build(doc(), {
    [`${ENV}SERVER__PORT`]: "8443",
    [`${ENV}SERVER__HOST`]: "127.0.0.1",
    [`${ENV}SIGNING__LIFETIME`]: "2m",
    [`${ENV}AUTHORITY__CLOCKSKEW`]: "00:00:30",
    [`${ENV}PARTIALGRANTS`]: "TRUE",
  });
  assert.equal(options.server.host, "127.0.0.1");
  assert.equal(options.server.port, 8443);
  assert.equal(options.signing.lifetimeSeconds, 120);
  assert.equal(options.authorities[0].clockSkewSeconds, 30);
  assert.equal(options.policy.partialGrants, true);
});

Deno.test("mergeDocument builds the whole configuration from variables when there is no file", () => {
  const options = build(undefined, {
    [`${ENV}AUTHORITY__ISSUER`]: "https://authority.test",
    [`${ENV}SIGNING__ISSUER`]: "registry-token",
    [`${ENV}SIGNING__KEYPATH`]: "/keys/signing.pem",
  });
  assert.equal(options.authorities[0].issuer, "https://authority.test");
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
});

Deno.test("mergeDocument lets REGISTRY_TOKEN_ variables override list items by index", () => {
  const options = build(doc({ RevokedLicenses: ["lic-a", "lic-b", "lic-c"] }), {
    [`${ENV}REVOKEDLICENSES__1`]: "lic-env",
  });
  assert.deepEqual([...options.policy.revokedLicenses], ["lic-a", "lic-env", "lic-c"]);
});

Deno.test("mergeDocument lets REGISTRY_TOKEN_ variables add list items beyond the file's list", () => {
  const merged = mergeDocument(
    doc({ RevokedLicenses: ["lic-a"] }),
    fakeEnv({
      [`${ENV}REVOKEDLICENSES__1`]: "lic-b",
      [`${ENV}REVOKEDLICENSES__2`]: "lic-c",
    }),
  );
  assert.deepEqual(merged.RevokedLicenses, ["lic-a", "lic-b", "lic-c"]);
});

Deno.test("mergeDocument lets REGISTRY_TOKEN_ variables create a list the file does not have", () => {
  const options = build(doc(), {
    [`${ENV}REVOKEDLICENSES__0`]: "lic-0",
    [`${ENV}AUTHORITY__AUDIENCES__0`]: "registry-token",
    [`${ENV}AUTHORITY__AUDIENCES__1`]: "api://registry",
    [`${ENV}AUTHORITY__REQUIREDSCOPES__0`]: "registry.pull",
  });
  assert.deepEqual([...options.policy.revokedLicenses], ["lic-0"]);
  assert.deepEqual(options.authorities[0].audiences, ["registry-token", "api://registry"]);
  assert.deepEqual(options.authorities[0].requiredScopes, ["registry.pull"]);
});

Deno.test("mergeDocument lets a variable override a plan rule's pattern (Plans__0__Repositories__0__Pattern)", () => {
  const options = build(
    doc({
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull"] }] }],
    }),
    { [`${ENV}PLANS__0__REPOSITORIES__0__PATTERN`]: "other/*" },
  );
  const rule = options.policy.plans.get("ci")?.rules[0];
  assert.equal(rule?.pattern.source, "other/*");
  assert.deepEqual(rule?.actions, ["pull"]);
});

Deno.test("mergeDocument lets variables add a whole plan after the file's plans", () => {
  const options = build(
    doc({ Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull"] }] }] }),
    {
      [`${ENV}PLANS__1__NAME`]: "admin",
      [`${ENV}PLANS__1__REPOSITORIES__0__PATTERN`]: "*",
      [`${ENV}PLANS__1__REPOSITORIES__0__ACTIONS__0`]: "*",
      [`${ENV}DEFAULTPLAN`]: "admin",
    },
  );
  assert.deepEqual([...options.policy.plans.keys()], ["ci", "admin"]);
  assert.equal(options.policy.defaultPlan, "admin");
  assert.deepEqual(options.policy.plans.get("admin")?.rules[0].actions, ["*"]);
});

Deno.test("mergeDocument only reads upper-case REGISTRY_TOKEN_ names the schema produces", () => {
  const asked: string[] = [];
  const env: EnvReader = (name) => {
    asked.push(name);
    return name === "REGISTRY_TOKEN_RegistryTokenService__Signing__KeyPath" ? "/x.pem" : undefined;
  };
  const merged = mergeDocument(doc(), env);
  assert.equal(merged.Signing?.KeyPath, "/keys/signing.pem");
  assert.ok(asked.includes(`${ENV}SIGNING__KEYPATH`));
  assert.ok(
    asked.every((name) => name.startsWith("REGISTRY_TOKEN_") && name === name.toUpperCase()),
  );
});

Deno.test("mergeDocument rejects an unknown key (typo) and lists the known ones", () => {
  assertConfigError(
    () =>
      mergeDocument(
        doc({ Signing: { Issuer: "r", KeyPath: "/k", Lifetme: "5m" } }),
        fakeEnv(),
      ),
    "RegistryTokenService:Signing:Lifetme",
    /unknown key \(known: .*Lifetime/,
  );
  assertConfigError(
    () => mergeDocument(doc({ Plan: [] }), fakeEnv()),
    "RegistryTokenService:Plan",
    /unknown key \(known: .*Plans/,
  );
  assertConfigError(
    () =>
      mergeDocument(
        doc({ Plans: [{ Name: "ci", Repositories: [{ Patern: "*", Actions: ["pull"] }] }] }),
        fakeEnv(),
      ),
    "RegistryTokenService:Plans:0:Repositories:0:Patern",
    /unknown key \(known: Type, Pattern, Actions, Services, Effect\)/,
  );
  assertConfigError(
    () => mergeDocument({ RegistryTokenServce: {} }, fakeEnv()),
    "RegistryTokenServce",
    /unknown key \(known: RegistryTokenService\)/,
  );
});

Deno.test("mergeDocument rejects values of the wrong type", () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ Server: { Port: "eighty" } }, "RegistryTokenService:Server:Port", /whole number/],
    [{ Server: { Port: 80.5 } }, "RegistryTokenService:Server:Port", /whole number/],
    [{ PartialGrants: "yes" }, "RegistryTokenService:PartialGrants", /true or false/],
    [{ RevokedLicenses: "lic-1" }, "RegistryTokenService:RevokedLicenses", /must be a list/],
    [{ Plans: { Name: "ci" } }, "RegistryTokenService:Plans", /must be a list/],
    [{ Signing: "key.pem" }, "RegistryTokenService:Signing", /must be a mapping/],
    [{ Plans: ["ci"] }, "RegistryTokenService:Plans:0", /must be a mapping/],
    [
      { Authority: { Issuer: { url: "https://authority.test" } } },
      "RegistryTokenService:Authority:Issuer",
      /must be a text value/,
    ],
    [
      { Signing: { Issuer: "r", KeyPath: "/k", Lifetime: ["5m"] } },
      "RegistryTokenService:Signing:Lifetime",
      /must be a duration/,
    ],
    [
      { Authority: { Issuer: "https://authority.test", ClockSkew: "soon" } },
      "RegistryTokenService:Authority:ClockSkew",
      /is not a duration/,
    ],
    [
      { RevokedLicenses: [{ id: "lic-1" }] },
      "RegistryTokenService:RevokedLicenses:0",
      /must be a text value/,
    ],
  ];
  for (const [patch, key, problem] of cases) {
    assertConfigError(() => mergeDocument(doc(patch), fakeEnv()), key, problem);
  }
  assertConfigError(
    () => mergeDocument([], fakeEnv()),
    "(document)",
    /must be a mapping/,
  );
});

Deno.test("mergeDocument rejects environment values of the wrong type", () => {
  assertConfigError(
    () => mergeDocument(doc(), fakeEnv({ [`${ENV}SERVER__PORT`]: "eighty" })),
    "RegistryTokenService:Server:Port",
    /whole number, got "eighty"/,
  );
  assertConfigError(
    () => mergeDocument(doc(), fakeEnv({ [`${ENV}PARTIALGRANTS`]: "1" })),
    "RegistryTokenService:PartialGrants",
    /true or false/,
  );
  assertConfigError(
    () => mergeDocument(doc(), fakeEnv({ [`${ENV}AUTHORITY__CLOCKSKEW`]: "1 minute" })),
    "RegistryTokenService:Authority:ClockSkew",
    /is not a duration/,
  );
});
