import assert from "node:assert/strict";
import {
  authorize,
  type CallerEntitlement,
  explainAuthorization,
  grantOf,
} from "../../src/authz/authorize.ts";
import { formatScope, parseScopes } from "../../src/authz/scope.ts";
import { createTestAuthority } from "../support/authority.ts";
import { assertDenied } from "../support/denial.ts";
import { REGISTRY, testOptions } from "../support/service.ts";

const authority = await createTestAuthority();

/** The policy of the shared test configuration (plans ci, reader, admin), with `patch`. */
function policy(patch: Record<string, unknown> = {}) {
  return testOptions(authority, patch).policy;
}

/** `authorize` as a promise, for `assertDenied`. */
function decide(
  caller: CallerEntitlement,
  scopes: string[],
  patch: Record<string, unknown> = {},
  service = REGISTRY,
) {
  return Promise.resolve().then(() =>
    authorize(caller, service, parseScopes(scopes), policy(patch))
  );
}

Deno.test("authorize grants what the caller's plan allows, and names the plan", async () => {
  const grant = await decide({ plan: "ci" }, ["repository:team/app:pull,push"]);
  assert.equal(grant.plan, "ci");
  assert.deepEqual(grant.access.map(formatScope), ["repository:team/app:pull,push"]);
});

Deno.test("authorize applies the default plan only to a caller that names none", async () => {
  const grant = await decide({}, ["repository:any/repo:pull"]);
  assert.equal(grant.plan, "reader");
  const named = await assertDenied(
    decide({ plan: "gold" }, ["repository:any/repo:pull"]),
    "plan_unknown",
  );
  assert.match(named.message, /"gold" is not configured/, "an unknown plan never falls back");
  await assertDenied(
    decide({}, ["repository:any/repo:pull"], { DefaultPlan: undefined }),
    "plan_unknown",
    "no plan and no default",
  );
});

Deno.test("authorize refuses an unserved service before the licence, and a revoked licence before the plan", async () => {
  const patch = { Registry: { AllowedServices: ["registry.other"] }, RevokedLicenses: ["lic-x"] };
  await assertDenied(
    decide({ plan: "nonexistent", license: "lic-x" }, ["repository:a/b:pull"], patch),
    "service_not_allowed",
  );
  await assertDenied(
    decide(
      { plan: "nonexistent", license: "lic-x" },
      ["repository:a/b:pull"],
      patch,
      "registry.other",
    ),
    "license_revoked",
  );
  const served = await decide(
    { license: "lic-ok" },
    ["repository:a/b:pull"],
    patch,
    "registry.other",
  );
  assert.equal(served.plan, "reader");
});

Deno.test("authorize refuses a partly permitted request whole, unless PartialGrants grants the subset", async () => {
  const scopes = ["repository:team/app:pull,delete", "repository:other/app:push"];
  const denial = await assertDenied(decide({ plan: "ci" }, scopes), "access_denied");
  assert.ok(denial.detail.denied, "the refused scopes are named");
  const partial = await decide({ plan: "ci" }, scopes, { PartialGrants: true });
  assert.deepEqual(partial.access.map(formatScope), ["repository:team/app:pull"]);
});

Deno.test("authorize hands the caller's subject and claims to rule templates", async () => {
  const patch = {
    Plans: [{
      Name: "teams",
      Repositories: [
        { Pattern: "users/${subject}/*", Actions: ["pull", "push"] },
        { Pattern: "${claim:/org/teams}/*", Actions: ["pull"] },
      ],
    }],
    DefaultPlan: "teams",
  };
  const caller = { subject: "ci-bot", claims: { org: { teams: ["web", "db"] } } };
  const grant = await decide(
    caller,
    ["repository:users/ci-bot/app:push", "repository:db/x:pull"],
    patch,
  );
  assert.deepEqual(grant.access.map(formatScope), [
    "repository:users/ci-bot/app:push",
    "repository:db/x:pull",
  ]);
  assert.deepEqual(grant.decisions.map((d) => d.actions[0].rule?.index), [0, 1]);
  await assertDenied(decide(caller, ["repository:users/other/app:pull"], patch), "access_denied");
  await assertDenied(decide({}, ["repository:db/x:pull"], patch), "access_denied", "no claims");
});

Deno.test("explainAuthorization decides every scope without refusing, for the log or a CLI", () => {
  const authorization = explainAuthorization(
    { plan: "ci" },
    REGISTRY,
    parseScopes(["repository:team/app:pull,delete"]),
    policy(),
  );
  assert.equal(authorization.plan, "ci");
  assert.deepEqual(
    authorization.decisions[0].actions.map((a) => [a.action, a.granted, a.because]),
    [["pull", true, "allow rule"], ["delete", false, "no allow rule matched"]],
  );
  assert.throws(() => grantOf(authorization, false), /does not allow repository:team\/app:delete/);
  assert.deepEqual(grantOf(authorization, true).access.map(formatScope), [
    "repository:team/app:pull",
  ]);
});
