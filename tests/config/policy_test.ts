/** The policy keys: plans, rules, default plan, revoked licences. */

import assert from "node:assert/strict";
import { assertConfigError, build, doc, ENV } from "../support/config.ts";

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

Deno.test("a rule's Services default to all and Effect to allow; both are read", () => {
  const options = build(doc({
    Plans: [{
      Name: "ci",
      Repositories: [
        { Pattern: "*", Actions: ["pull"] },
        { Pattern: "prod/*", Actions: ["push"], Effect: "Deny", Services: ["prod.test"] },
        { Pattern: "x/*", Actions: ["pull"], Services: [] },
      ],
    }],
  }));
  const [plain, frozen, empty] = options.policy.plans.get("ci")!.rules;
  assert.equal(plain.effect, "allow");
  assert.equal(plain.services, undefined, "absent: every service");
  assert.equal(frozen.effect, "deny", "matched without regard to case");
  assert.deepEqual([...frozen.services!], ["prod.test"]);
  assert.equal(empty.services, undefined, "[] reads as all, like Registry:AllowedServices");
});

Deno.test("buildOptions rejects an Effect other than allow or deny, and a blank service", () => {
  const withRule = (rule: Record<string, unknown>) =>
    doc({ Plans: [{ Name: "ci", Repositories: [{ Pattern: "*", Actions: ["pull"], ...rule }] }] });
  assertConfigError(
    () => build(withRule({ Effect: "block" })),
    "RegistryTokenService:Plans:0:Repositories:0:Effect",
    /must be allow or deny, got "block"/,
  );
  assertConfigError(
    () => build(withRule({ Services: ["registry.test", "has space"] })),
    "RegistryTokenService:Plans:0:Repositories:0:Services:1",
    /not a service name/,
  );
  assertConfigError(
    () => build(withRule({ Services: [""] })),
    "RegistryTokenService:Plans:0:Repositories:0:Services:0",
    /not a service name/,
  );
});

Deno.test("buildOptions accepts templates in a pattern and keeps it as written", () => {
  const options = build(doc({
    Plans: [{
      Name: "ci",
      Repositories: [{ Pattern: "${claim:/realm_access/groups}/${subject}/*", Actions: ["pull"] }],
    }],
  }));
  const [rule] = options.policy.plans.get("ci")!.rules;
  assert.equal(rule.pattern.source, "${claim:/realm_access/groups}/${subject}/*");
  assert.deepEqual(rule.pattern.templates.map((t) => t.source), [
    "claim:/realm_access/groups",
    "subject",
  ]);
});

Deno.test("buildOptions rejects a bad template naming the rule's Pattern key", () => {
  const cases: [string, RegExp][] = [
    ["users/${user}/*", /unknown template \$\{user\}/],
    ["users/${subject", /unterminated "\$\{"/],
    ["${claim:}/*", /claim name must not be empty/],
    ["${claim:/a~x}/*", /not a JSON Pointer/],
  ];
  for (const [Pattern, problem] of cases) {
    assertConfigError(
      () =>
        build(doc({
          Plans: [
            { Name: "ok", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
            {
              Name: "ci",
              Repositories: [{ Pattern: "*", Actions: ["pull"] }, { Pattern, Actions: ["pull"] }],
            },
          ],
        })),
      "RegistryTokenService:Plans:1:Repositories:1:Pattern",
      problem,
    );
  }
});

Deno.test("a rule's Effect and Services can be set through the environment", () => {
  const options = build(
    doc({ Plans: [{ Name: "ci", Repositories: [{ Pattern: "x", Actions: ["pull"] }] }] }),
    {
      [`${ENV}PLANS__0__REPOSITORIES__0__EFFECT`]: "deny",
      [`${ENV}PLANS__0__REPOSITORIES__0__SERVICES__0`]: "prod.test",
    },
  );
  const [rule] = options.policy.plans.get("ci")!.rules;
  assert.equal(rule.effect, "deny");
  assert.deepEqual([...rule.services!], ["prod.test"]);
});
