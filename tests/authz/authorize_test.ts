import assert from "node:assert/strict";
import { authorize, type CallerEntitlement } from "../../src/authz/authorize.ts";
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
