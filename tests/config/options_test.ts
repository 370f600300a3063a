import assert from "node:assert/strict";
import { join } from "node:path";
import { type EnvReader, mergeDocument } from "../../src/config/document.ts";
import { ConfigError } from "../../src/config/error.ts";
import {
  CONFIG_PATH_ENV,
  type ConfigIo,
  DEFAULT_CONFIG_PATH,
  loadConfig,
  loadOptions,
  locateConfig,
  SYSTEM_CONFIG_PATH,
} from "../../src/config/load.ts";
import { buildOptions, type Options } from "../../src/config/options.ts";
import { DEFAULT_DPOP_OPTIONS } from "../../src/config/authority.ts";

const ENV = "REGISTRY_TOKEN_REGISTRYTOKENSERVICE__";

/** A Map-backed environment; never the real one. */
function fakeEnv(variables: Record<string, string> = {}): EnvReader {
  const map = new Map(Object.entries(variables));
  return (name) => map.get(name);
}

/** The smallest valid `RegistryTokenService` section, with top-level sections replaced by `patch`. */
function doc(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    RegistryTokenService: {
      Authority: { Issuer: "https://authority.test" },
      Signing: { Issuer: "registry-token", KeyPath: "/keys/signing.pem" },
      ...patch,
    },
  };
}

function build(document: unknown, variables: Record<string, string> = {}): Options {
  return buildOptions(mergeDocument(document, fakeEnv(variables)));
}

function checkConfigError(error: unknown, key: string, problem: RegExp): true {
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
  assert.equal(error.key, key);
  assert.ok(error.message.startsWith(`${key}: `), `message ${error.message} names ${key}`);
  assert.match(error.message, problem);
  return true;
}

function assertConfigError(fn: () => unknown, key: string, problem: RegExp): void {
  assert.throws(fn, (error) => checkConfigError(error, key, problem));
}

async function assertConfigErrorAsync(
  promise: Promise<unknown>,
  key: string,
  problem: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error) => checkConfigError(error, key, problem));
}

/** Injected I/O: files from a map (a missing one throws NotFound) and a fake environment. */
function fakeIo(files: Record<string, string>, variables: Record<string, string> = {}) {
  const reads: string[] = [];
  const io: ConfigIo = {
    readTextFile: (path) => {
      reads.push(path);
      return path in files
        ? Promise.resolve(files[path])
        : Promise.reject(new Deno.errors.NotFound(`No such file or directory: ${path}`));
    },
    getEnv: fakeEnv(variables),
  };
  return { io, reads };
}

const VALID_YAML = `
RegistryTokenService:
  Authority:
    Issuer: https://authority.test
  Signing:
    Issuer: registry-token
    KeyPath: /keys/signing.pem
`;

// --- defaults ---------------------------------------------------------------------------------

Deno.test("buildOptions applies the documented defaults to a minimal document", () => {
  const options = build(doc());
  assert.deepEqual(options.server, {
    host: "0.0.0.0",
    port: 5001,
    publicBaseUrl: undefined,
    tls: undefined,
    trustedProxies: new Set(),
    clientCertificateHeader: undefined,
    drainTimeoutSeconds: 10,
    reloadOnChange: false,
    failedAuthLimit: { burst: 50, perMinute: 60 },
    limits: {
      headersTimeoutSeconds: 10,
      bodyTimeoutSeconds: 10,
      idleTimeoutSeconds: 5,
      requestTimeoutSeconds: 30,
      maxConnections: 1024,
    },
  });
  assert.equal(options.authority.senderConstraint, "none");
  assert.deepEqual(options.authority.dpop, DEFAULT_DPOP_OPTIONS);
  assert.equal(options.signing.lifetimeSeconds, 300);
  assert.equal(options.signing.issuer, "registry-token");
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
  assert.equal(options.authority.clockSkewSeconds, 60);
  assert.deepEqual(options.authority.requiredScopes, ["registry.token.issue"]);
  assert.deepEqual(options.authority.audiences, []);
  assert.equal(options.policy.partialGrants, false);
  assert.equal(options.policy.defaultPlan, undefined);
  assert.equal(options.policy.plans.size, 0);
  assert.equal(options.policy.revokedLicenses.size, 0);
  assert.equal(options.policy.allowedServices.size, 0);
  assert.equal(options.realm, undefined);
});

Deno.test("buildOptions derives the discovery URL from the Authority issuer", () => {
  assert.deepEqual(build(doc()).authority.keys, {
    kind: "discovery",
    metadataAddress: "https://authority.test/.well-known/openid-configuration",
  });
  const withSlash = build(doc({ Authority: { Issuer: "https://id.example/realms/main/" } }));
  assert.deepEqual(withSlash.authority.keys, {
    kind: "discovery",
    metadataAddress: "https://id.example/realms/main/.well-known/openid-configuration",
  });
});

Deno.test("buildOptions keeps an explicit empty RequiredScopes list instead of the default", () => {
  const options = build(doc({
    Authority: { Issuer: "https://authority.test", RequiredScopes: [] },
  }));
  assert.deepEqual(options.authority.requiredScopes, []);
});

Deno.test("buildOptions uses MetadataAddress, JwksUri or JwksPath as the key location", () => {
  const issuer = "https://authority.test";
  assert.deepEqual(
    build(doc({ Authority: { Issuer: issuer, MetadataAddress: "https://meta.test/oidc" } }))
      .authority.keys,
    { kind: "discovery", metadataAddress: "https://meta.test/oidc" },
  );
  assert.deepEqual(
    build(doc({ Authority: { Issuer: issuer, JwksUri: "https://authority.test/jwks" } }))
      .authority.keys,
    { kind: "jwks-uri", jwksUri: "https://authority.test/jwks" },
  );
  assert.deepEqual(
    build(doc({ Authority: { Issuer: issuer, JwksPath: "/etc/authority/jwks.json" } }))
      .authority.keys,
    { kind: "jwks-file", path: "/etc/authority/jwks.json" },
  );
});

Deno.test("buildOptions accepts a non-URL issuer when a local JwksPath is configured", () => {
  const options = build(doc({ Authority: { Issuer: "dev-authority", JwksPath: "/jwks.json" } }));
  assert.equal(options.authority.issuer, "dev-authority");
});

Deno.test("buildOptions reads plans, rules and policy", () => {
  const options = build(doc({
    Registry: { Realm: "https://tokens.test/token", AllowedServices: ["registry.test"] },
    Plans: [
      {
        Name: "ci",
        Repositories: [
          { Pattern: "team/*", Actions: ["pull", "push"] },
          { Type: "registry", Pattern: "catalog", Actions: ["*"] },
        ],
      },
    ],
    DefaultPlan: "ci",
    RevokedLicenses: ["lic-1"],
    PartialGrants: true,
  }));
  assert.equal(options.realm, "https://tokens.test/token");
  assert.deepEqual([...options.policy.allowedServices], ["registry.test"]);
  assert.equal(options.policy.defaultPlan, "ci");
  assert.deepEqual([...options.policy.revokedLicenses], ["lic-1"]);
  assert.equal(options.policy.partialGrants, true);
  const ci = options.policy.plans.get("ci");
  assert.ok(ci);
  assert.deepEqual(
    ci.rules.map((rule) => [rule.type, rule.pattern.source, rule.actions]),
    [["repository", "team/*", ["pull", "push"]], ["registry", "catalog", ["*"]]],
  );
});

// --- case-insensitive keys --------------------------------------------------------------------

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

// --- environment overrides --------------------------------------------------------------------

Deno.test("mergeDocument lets REGISTRY_TOKEN_ variables override scalars from the file", () => {
  const options = build(doc(), {
    [`${ENV}SIGNING__KEYPATH`]: "/from/env.pem",
    [`${ENV}AUTHORITY__ISSUER`]: "https://other-authority.test",
  });
  assert.equal(options.signing.keyPath, "/from/env.pem");
  assert.equal(options.authority.issuer, "https://other-authority.test");
  assert.deepEqual(options.authority.keys, {
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
  assert.equal(options.authority.clockSkewSeconds, 30);
  assert.equal(options.policy.partialGrants, true);
});

Deno.test("mergeDocument builds the whole configuration from variables when there is no file", () => {
  const options = build(undefined, {
    [`${ENV}AUTHORITY__ISSUER`]: "https://authority.test",
    [`${ENV}SIGNING__ISSUER`]: "registry-token",
    [`${ENV}SIGNING__KEYPATH`]: "/keys/signing.pem",
  });
  assert.equal(options.authority.issuer, "https://authority.test");
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
  assert.deepEqual(options.authority.audiences, ["registry-token", "api://registry"]);
  assert.deepEqual(options.authority.requiredScopes, ["registry.pull"]);
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

// --- ConfigError paths ------------------------------------------------------------------------

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

Deno.test("buildOptions rejects an Authority:ClockSkew above 5 minutes", () => {
  assertConfigError(
    () => build(doc({ Authority: { Issuer: "https://authority.test", ClockSkew: "10m" } })),
    "RegistryTokenService:Authority:ClockSkew",
    /at most 300s/,
  );
});

Deno.test("buildOptions rejects an unknown DefaultPlan and lists the configured plans", () => {
  assertConfigError(
    () =>
      build(doc({
        Plans: [{ Name: "ci", Repositories: [{ Pattern: "*", Actions: ["pull"] }] }],
        DefaultPlan: "gold",
      })),
    "RegistryTokenService:DefaultPlan",
    /"gold" is not a configured plan \(ci\)/,
  );
  assertConfigError(
    () => build(doc({ DefaultPlan: "gold" })),
    "RegistryTokenService:DefaultPlan",
    /none are configured/,
  );
});

Deno.test("buildOptions rejects a bad plan pattern naming the rule's full key", () => {
  const withPattern = (Pattern: string) =>
    doc({ Plans: [{ Name: "ci", Repositories: [{ Pattern, Actions: ["pull"] }] }] });
  assertConfigError(
    () => build(withPattern("team /*")),
    "RegistryTokenService:Plans:0:Repositories:0:Pattern",
    /whitespace/,
  );
  assertConfigError(
    () => build(withPattern("")),
    "RegistryTokenService:Plans:0:Repositories:0:Pattern",
    /is required/,
  );
  assertConfigError(
    () => build(withPattern("a".repeat(256))),
    "RegistryTokenService:Plans:0:Repositories:0:Pattern",
    /at most 255/,
  );
});

Deno.test("buildOptions rejects a bad pattern set through the environment", () => {
  assertConfigError(
    () =>
      build(
        doc({ Plans: [{ Name: "ci", Repositories: [{ Pattern: "x", Actions: ["pull"] }] }] }),
        { [`${ENV}PLANS__0__REPOSITORIES__0__PATTERN`]: "has space" },
      ),
    "RegistryTokenService:Plans:0:Repositories:0:Pattern",
    /whitespace/,
  );
});

Deno.test("buildOptions rejects a bad action, an empty action list and a bad resource type", () => {
  const withRule = (rule: Record<string, unknown>) =>
    doc({ Plans: [{ Name: "ci", Repositories: [{ Pattern: "*", ...rule }] }] });
  assertConfigError(
    () => build(withRule({ Actions: ["pull", "Push"] })),
    "RegistryTokenService:Plans:0:Repositories:0:Actions:1",
    /"Push" is not an action/,
  );
  assertConfigError(
    () => build(withRule({ Actions: ["pull*"] })),
    "RegistryTokenService:Plans:0:Repositories:0:Actions:0",
    /is not an action/,
  );
  assertConfigError(
    () => build(withRule({ Actions: [] })),
    "RegistryTokenService:Plans:0:Repositories:0:Actions",
    /at least one action/,
  );
  assertConfigError(
    () => build(withRule({})),
    "RegistryTokenService:Plans:0:Repositories:0:Actions",
    /at least one action/,
  );
  assertConfigError(
    () => build(withRule({ Type: "Repo Sitory", Actions: ["pull"] })),
    "RegistryTokenService:Plans:0:Repositories:0:Type",
    /is not a resource type/,
  );
});

Deno.test("buildOptions rejects a plan without a name and a plan defined twice", () => {
  const rule = { Pattern: "*", Actions: ["pull"] };
  assertConfigError(
    () => build(doc({ Plans: [{ Repositories: [rule] }] })),
    "RegistryTokenService:Plans:0:Name",
    /is required/,
  );
  assertConfigError(
    () =>
      build(doc({
        Plans: [{ Name: "ci", Repositories: [rule] }, { Name: "ci", Repositories: [rule] }],
      })),
    "RegistryTokenService:Plans:1:Name",
    /"ci" is defined twice/,
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
    /unknown key \(known: Type, Pattern, Actions\)/,
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

Deno.test("buildOptions rejects a non-URL Realm and an invalid required scope", () => {
  assertConfigError(
    () => build(doc({ Registry: { Realm: "tokens.test/token" } })),
    "RegistryTokenService:Registry:Realm",
    /http\(s\) URL/,
  );
  assertConfigError(
    () =>
      build(doc({
        Authority: { Issuer: "https://authority.test", RequiredScopes: ["ok", "two words"] },
      })),
    "RegistryTokenService:Authority:RequiredScopes:1",
    /not a valid OAuth scope/,
  );
});

// --- loading files ----------------------------------------------------------------------------

Deno.test("locateConfig prefers --config over REGISTRY_TOKEN_CONFIG over the default", () => {
  const env = fakeEnv({ [CONFIG_PATH_ENV]: "/from/env.yaml" });
  assert.equal(CONFIG_PATH_ENV, "REGISTRY_TOKEN_CONFIG");
  assert.deepEqual(locateConfig("/from/flag.yaml", env), {
    path: "/from/flag.yaml",
    explicit: true,
  });
  assert.deepEqual(locateConfig(undefined, env), { path: "/from/env.yaml", explicit: true });
  assert.deepEqual(locateConfig(undefined, fakeEnv()), {
    path: "etc/registry-token.yaml",
    explicit: false,
    fallback: "/etc/registry-token/registry-token.yaml",
  });
  assert.equal(DEFAULT_CONFIG_PATH, "etc/registry-token.yaml");
});

Deno.test("loadConfig falls back to /etc/registry-token when the working directory has no config", async () => {
  const { io, reads } = fakeIo({ [SYSTEM_CONFIG_PATH]: VALID_YAML });
  const { options, path } = await loadConfig(locateConfig(undefined, io.getEnv), io);
  assert.equal(path, SYSTEM_CONFIG_PATH);
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
  assert.deepEqual(reads, [DEFAULT_CONFIG_PATH, SYSTEM_CONFIG_PATH]);
});

Deno.test("loadConfig skips a default location it may not read, but not a named one", async () => {
  const io: ConfigIo = {
    readTextFile: (path) =>
      path === SYSTEM_CONFIG_PATH
        ? Promise.resolve(VALID_YAML)
        : Promise.reject(new Deno.errors.NotCapable(`Requires read access to "${path}"`)),
    getEnv: fakeEnv(),
  };
  assert.equal((await loadConfig(locateConfig(undefined, io.getEnv), io)).path, SYSTEM_CONFIG_PATH);
  await assertConfigErrorAsync(
    loadConfig(locateConfig("/elsewhere.yaml", io.getEnv), io),
    "/elsewhere.yaml",
    /cannot read config file \(Requires read access/,
  );
});

Deno.test("loadOptions reads the located YAML file and applies environment overrides", async () => {
  const { io, reads } = fakeIo({ "/etc/rts.yaml": VALID_YAML }, {
    [`${ENV}SERVER__PORT`]: "9000",
  });
  const options = await loadOptions(locateConfig("/etc/rts.yaml", io.getEnv), io);
  assert.deepEqual(reads, ["/etc/rts.yaml"]);
  assert.equal(options.authority.issuer, "https://authority.test");
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
  assert.equal(options.server.port, 9000);
});

Deno.test("loadOptions reads the file named by REGISTRY_TOKEN_CONFIG", async () => {
  const { io, reads } = fakeIo({ "/env/rts.yaml": VALID_YAML }, {
    [CONFIG_PATH_ENV]: "/env/rts.yaml",
  });
  const options = await loadOptions(locateConfig(undefined, io.getEnv), io);
  assert.deepEqual(reads, ["/env/rts.yaml"]);
  assert.equal(options.signing.issuer, "registry-token");
});

Deno.test("loadOptions accepts case-insensitive keys and all duration forms in YAML", async () => {
  const yaml = `
registrytokenservice:
  authority:
    ISSUER: https://authority.test
    clockSkew: 90s
  SIGNING:
    issuer: registry-token
    keyPath: /keys/signing.pem
    lifetime: 00:10:00
  revokedLicenses: [lic-a, lic-b]
`;
  const { io } = fakeIo({ [DEFAULT_CONFIG_PATH]: yaml }, {
    [`${ENV}REVOKEDLICENSES__0`]: "lic-env",
  });
  const options = await loadOptions(locateConfig(undefined, io.getEnv), io);
  assert.equal(options.authority.clockSkewSeconds, 90);
  assert.equal(options.signing.lifetimeSeconds, 600);
  assert.deepEqual([...options.policy.revokedLicenses], ["lic-env", "lic-b"]);
});

Deno.test("loadOptions treats a missing default config file as an empty document", async () => {
  const { io, reads } = fakeIo({});
  await assertConfigErrorAsync(
    loadOptions(locateConfig(undefined, io.getEnv), io),
    "RegistryTokenService:Authority:Issuer",
    /is required/,
  );
  assert.deepEqual(reads, [DEFAULT_CONFIG_PATH, SYSTEM_CONFIG_PATH]);
});

Deno.test("loadOptions works from environment variables alone when the default file is missing", async () => {
  const { io } = fakeIo({}, {
    [`${ENV}AUTHORITY__ISSUER`]: "https://authority.test",
    [`${ENV}SIGNING__ISSUER`]: "registry-token",
    [`${ENV}SIGNING__KEYPATH`]: "/keys/signing.pem",
  });
  const options = await loadOptions(locateConfig(undefined, io.getEnv), io);
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
});

Deno.test("loadOptions treats an empty config file as an empty document", async () => {
  const { io } = fakeIo({ [DEFAULT_CONFIG_PATH]: "" });
  await assertConfigErrorAsync(
    loadOptions(locateConfig(undefined, io.getEnv), io),
    "RegistryTokenService:Authority:Issuer",
    /is required/,
  );
});

Deno.test("loadOptions fails when an explicitly named config file is missing", async () => {
  const { io } = fakeIo({});
  await assertConfigErrorAsync(
    loadOptions(locateConfig("/nowhere/rts.yaml", io.getEnv), io),
    "/nowhere/rts.yaml",
    /cannot read config file/,
  );
  const fromEnv = fakeIo({}, { [CONFIG_PATH_ENV]: "/env/missing.yaml" }).io;
  await assertConfigErrorAsync(
    loadOptions(locateConfig(undefined, fromEnv.getEnv), fromEnv),
    "/env/missing.yaml",
    /cannot read config file/,
  );
});

Deno.test("loadOptions fails when the default config file exists but cannot be read", async () => {
  const io: ConfigIo = {
    readTextFile: () => Promise.reject(new Deno.errors.PermissionDenied("read access denied")),
    getEnv: fakeEnv(),
  };
  await assertConfigErrorAsync(
    loadOptions(locateConfig(undefined, io.getEnv), io),
    DEFAULT_CONFIG_PATH,
    /cannot read config file \(read access denied\)/,
  );
});

Deno.test("loadOptions reports invalid YAML with the file path", async () => {
  const { io } = fakeIo({ "/etc/bad.yaml": "RegistryTokenService:\n  Signing: [unclosed\n" });
  await assertConfigErrorAsync(
    loadOptions(locateConfig("/etc/bad.yaml", io.getEnv), io),
    "/etc/bad.yaml",
    /is not valid YAML: /,
  );
  const duplicate = fakeIo({ "/etc/dup.yaml": `${VALID_YAML}RegistryTokenService: {}\n` }).io;
  await assertConfigErrorAsync(
    loadOptions(locateConfig("/etc/dup.yaml", duplicate.getEnv), duplicate),
    "/etc/dup.yaml",
    /is not valid YAML/,
  );
});

Deno.test("loadOptions reports the first invalid key of a YAML file", async () => {
  const { io } = fakeIo({
    "/etc/rts.yaml":
      `${VALID_YAML}  Plans:\n    - Name: ci\n      Repositories:\n        - Pattern: "*"\n          Actions: [Pull]\n`,
  });
  await assertConfigErrorAsync(
    loadOptions(locateConfig("/etc/rts.yaml", io.getEnv), io),
    "RegistryTokenService:Plans:0:Repositories:0:Actions:0",
    /"Pull" is not an action/,
  );
});

Deno.test("loadOptions reads real files with Deno.readTextFile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-config-" });
  try {
    const path = join(dir, "registry-token.yaml");
    await Deno.writeTextFile(path, VALID_YAML);
    const io: ConfigIo = { readTextFile: Deno.readTextFile, getEnv: fakeEnv() };
    const options = await loadOptions({ path, explicit: true }, io);
    assert.equal(options.authority.issuer, "https://authority.test");

    const missing = join(dir, "missing.yaml");
    await assertConfigErrorAsync(
      loadOptions({ path: missing, explicit: false }, io),
      "RegistryTokenService:Authority:Issuer",
      /is required/,
    );
    await assertConfigErrorAsync(
      loadOptions({ path: missing, explicit: true }, io),
      missing,
      /cannot read config file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadOptions keeps YAML scalars as written, so number-like licences stay revoked", async () => {
  const { io } = fakeIo({
    "/etc/rt.yaml": `${VALID_YAML}
  RevokedLicenses: [lic-0001, 000123, 4711e2, 0x1F, 1.50]
  Plans:
    - Name: 2024
      Repositories: [{ Pattern: "1.10", Actions: [pull] }]
  DefaultPlan: 2024
  Server: { Port: 8443 }
  PartialGrants: true
  Registry: { AllowedServices: ~, Realm: }
`,
  });
  const options = await loadOptions({ path: "/etc/rt.yaml", explicit: true }, io);
  assert.deepEqual([...options.policy.revokedLicenses], [
    "lic-0001",
    "000123",
    "4711e2",
    "0x1F",
    "1.50",
  ]);
  assert.deepEqual([...options.policy.plans.keys()], ["2024"]);
  assert.equal(options.policy.plans.get("2024")!.rules[0].pattern.source, "1.10");
  assert.equal(options.server.port, 8443);
  assert.equal(options.policy.partialGrants, true);
  assert.equal(options.realm, undefined, "an empty value means not set");
  assert.equal(options.policy.allowedServices.size, 0, "~ means not set");
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

Deno.test("buildOptions reads Signing:KeyIdFormat, libtrust by default", () => {
  const signing = (KeyIdFormat?: string) =>
    doc({ Signing: { Issuer: "r", KeyPath: "/k", KeyIdFormat } });
  assert.equal(build(signing()).signing.keyIdFormat, "libtrust");
  assert.equal(build(signing("Thumbprint")).signing.keyIdFormat, "thumbprint");
  assertConfigError(
    () => build(signing("x5t")),
    "RegistryTokenService:Signing:KeyIdFormat",
    /must be libtrust or thumbprint/,
  );
});

Deno.test("buildOptions validates sender-constraint settings", () => {
  const authority = (extra: Record<string, unknown>) => ({
    Authority: { Issuer: "https://authority.test", ...extra },
  });
  assertConfigError(
    () => build(doc(authority({ SenderConstraint: "cookies" }))),
    "RegistryTokenService:Authority:SenderConstraint",
    /must be one of none, dpop, mtls, dpop-or-mtls/,
  );
  assertConfigError(
    () => build(doc(authority({ SenderConstraint: "mtls" }))),
    "RegistryTokenService:Authority:SenderConstraint",
    /needs client certificates: configure Server:Tls or Server:ClientCertificateHeader/,
  );
  assertConfigError(
    () => build(doc(authority({ DPoP: { Algorithms: ["ES256", "HS256"] } }))),
    "RegistryTokenService:Authority:DPoP:Algorithms:1",
    /not an asymmetric JWS algorithm/,
  );
  assertConfigError(
    () => build(doc(authority({ DPoP: { ProofMaxAge: "1h" } }))),
    "RegistryTokenService:Authority:DPoP:ProofMaxAge",
    /between 1s and 600s/,
  );
  assertConfigError(
    () => build(doc({ Server: { ClientCertificateHeader: "X-Client-Cert" } })),
    "RegistryTokenService:Server:ClientCertificateHeader",
    /needs Server:TrustedProxies/,
  );
  assertConfigError(
    () => build(doc({ Server: { TrustedProxies: ["proxy.internal"] } })),
    "RegistryTokenService:Server:TrustedProxies:0",
    /not an IP address/,
  );
  assertConfigError(
    () => build(doc({ Server: { Tls: { KeyPath: "/k.pem" } } })),
    "RegistryTokenService:Server:Tls:CertificatePath",
    /is required/,
  );
  const mtls = build(doc({
    ...authority({ SenderConstraint: "MTLS" }),
    Server: { Tls: { CertificatePath: "/c.pem", KeyPath: "/k.pem" } },
  }));
  assert.equal(mtls.authority.senderConstraint, "mtls");
  assert.deepEqual(mtls.server.tls, {
    certificatePath: "/c.pem",
    keyPath: "/k.pem",
    keyPassword: undefined,
    clientCaPath: undefined,
  });
});

Deno.test("DPoP constraints need the public URL, and a public URL has no query", () => {
  assertConfigError(
    () => build(doc({ Authority: { Issuer: "https://authority.test", SenderConstraint: "dpop" } })),
    "RegistryTokenService:Authority:SenderConstraint",
    /needs Server:PublicBaseUrl \(or Registry:Realm\)/,
  );
  const withRealm = build(doc({
    Authority: { Issuer: "https://authority.test", SenderConstraint: "dpop" },
    Registry: { Realm: "https://tokens.example/token" },
  }));
  assert.equal(withRealm.authority.senderConstraint, "dpop");
  assertConfigError(
    () => build(doc({ Server: { PublicBaseUrl: "https://tokens.example/?x=1" } })),
    "RegistryTokenService:Server:PublicBaseUrl",
    /query or fragment/,
  );
  assertConfigError(
    () => build(doc({ Server: { Host: "127.0.0.1,169.254.169.254" } })),
    "RegistryTokenService:Server:Host",
    /not a host name/,
  );
});
