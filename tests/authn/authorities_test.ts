/**
 * Several Authorities: which one a token's `iss` selects, and how that Authority's claim mapping
 * reads the subject, plan and licence. The pure functions a later `--explain` uses, and
 * `authenticate`/`precheck`, which use them.
 */

import assert from "node:assert/strict";
import { authenticate, precheck, readUnverified } from "../../src/authn/authenticate.ts";
import {
  type AuthorityOptions,
  callerFromClaims,
  planOf,
  selectAuthority,
} from "../../src/authn/caller.ts";
import { staticAuthorityKeys } from "../../src/authn/authority_keys.ts";
import { createTestAuthority, NOW, NOW_SECONDS } from "../support/authority.ts";
import { build, doc } from "../support/config.ts";
import { assertDenied, assertDeniedSync } from "../support/denial.ts";

const stellaops = await createTestAuthority("https://authority.test", "stellaops-key");
const ci = await createTestAuthority("https://ci.test", "ci-key");

const PLANS = ["gold", "silver", "bronze", "reader"].map((Name) => ({
  Name,
  Repositories: [{ Pattern: "*", Actions: ["pull"] }],
}));

/** Options for `Authorities: items` (and the plans above), as configuration builds them. */
function authorities(...items: Record<string, unknown>[]): readonly AuthorityOptions[] {
  const document = doc({ Authorities: items, Plans: PLANS });
  delete (document.RegistryTokenService as Record<string, unknown>).Authority;
  return build(document).authorities;
}

const BOTH = authorities(
  { Name: "stellaops", Issuer: stellaops.issuer, JwksPath: "/jwks/stellaops.json" },
  {
    Name: "ci",
    Issuer: ci.issuer,
    JwksPath: "/jwks/ci.json",
    RequiredScopes: [],
    SubjectClaim: "project_path",
    LicenseClaim: "/billing/licence",
    PlanMappings: [
      { Claim: "groups", Value: "release", Plan: "gold" },
      { Claim: "ref", Value: "main", Plan: "silver" },
      { Claim: "/namespace/tier", Value: "paid", Plan: "bronze" },
    ],
  },
);

/** A CI claims set: no scope, a project, a ref and groups. */
function ciClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ci.issuer,
    sub: "project_path:team/app:ref_type:branch:ref:feature",
    project_path: "team/app",
    ref: "feature",
    groups: ["developers"],
    exp: NOW_SECONDS + 300,
    ...extra,
  };
}

// --- selection --------------------------------------------------------------------------------

Deno.test("selectAuthority picks the Authority whose Issuer is exactly the token's iss", () => {
  assert.equal(selectAuthority({ iss: stellaops.issuer }, BOTH).name, "stellaops");
  assert.equal(selectAuthority({ iss: ci.issuer }, BOTH).name, "ci");
  for (
    const iss of [`${ci.issuer}/`, ci.issuer.toUpperCase(), ` ${ci.issuer}`, "", 42, [ci.issuer]]
  ) {
    assertDeniedSync(() => selectAuthority({ iss }, BOTH), "issuer_unknown", JSON.stringify(iss));
  }
});

Deno.test("a token without iss is issuer_unknown, final, with a Bearer invalid_token challenge", () => {
  const denial = assertDeniedSync(() => selectAuthority({ sub: "x" }, BOTH), "issuer_unknown");
  assert.equal(denial.rendering.status, 401);
  assert.equal(denial.rendering.code, "UNAUTHORIZED");
  assert.equal(denial.rendering.challenge, "preferred");
  assert.equal(denial.rendering.challengeError, "invalid_token");
  assert.equal(denial.rendering.final, true);
});

Deno.test("selectAuthority with a name takes that Authority, if the token's iss is its Issuer", () => {
  assert.equal(selectAuthority({ iss: ci.issuer }, BOTH, "ci").name, "ci");
  const denial = assertDeniedSync(
    () => selectAuthority({ iss: stellaops.issuer }, BOTH, "ci"),
    "issuer_unknown",
  );
  assert.match(denial.message, /not the Issuer of Authority "ci"/);
  assert.throws(() => selectAuthority({ iss: ci.issuer }, BOTH, "gitlab"), RangeError);
});

Deno.test("precheck selects the Authority before any signature work, and applies its rules", async () => {
  const token = await ci.token({ claims: ciClaims() });
  assert.equal(precheck(token, BOTH, NOW).name, "ci");
  const foreign = await ci.token({ claims: ciClaims({ iss: "https://elsewhere.test" }) });
  assertDeniedSync(() => precheck(foreign, BOTH, NOW), "issuer_unknown");
  const noIss = await ci.token({ claims: ciClaims({ iss: undefined }) });
  assertDeniedSync(() => precheck(noIss, BOTH, NOW), "issuer_unknown", "no iss");
  // Even without exp (jwtVerify's first complaint), the Authority must be known first.
  const noExp = await ci.token({ claims: ciClaims({ iss: undefined, exp: undefined }) });
  assertDeniedSync(() => precheck(noExp, BOTH, NOW), "issuer_unknown", "no iss, no exp");
  // Each Authority's own clock skew and audiences.
  const rules = authorities(
    { Name: "strict", Issuer: stellaops.issuer, JwksPath: "/j.json", ClockSkew: "0s" },
    { Name: "audience", Issuer: ci.issuer, JwksPath: "/k.json", Audiences: ["registry"] },
  );
  const expiredBy30 = { exp: NOW_SECONDS - 30 };
  const [strictExpired, ciExpired, ciElsewhere] = await Promise.all([
    stellaops.token({ claims: expiredBy30 }),
    ci.token({ claims: ciClaims({ ...expiredBy30, aud: "registry" }) }),
    ci.token({ claims: ciClaims({ aud: "other" }) }),
  ]);
  assertDeniedSync(() => precheck(strictExpired, rules, NOW), "token_expired", "no skew");
  assert.equal(precheck(ciExpired, rules, NOW).name, "audience", "within its 60s skew");
  assertDeniedSync(() => precheck(ciElsewhere, rules, NOW), "token_audience_mismatch");
});

Deno.test("a token read once keeps each readable part, and precheck refuses it unless both are", async () => {
  const token = await ci.token({ claims: ciClaims() });
  const [header, payload, signature] = token.split(".");
  const brokenHeader = `${header.slice(0, -2)}!!.${payload}.${signature}`;
  const read = readUnverified(brokenHeader);
  // The audit record still learns the claimed issuer; the token is refused all the same.
  assert.equal(read.payload?.iss, ci.issuer);
  assert.equal(read.alg, undefined);
  assertDeniedSync(() => precheck(brokenHeader, BOTH, NOW, read), "token_malformed");
  const brokenPayload = `${header}.${payload.slice(0, -2)}!!.${signature}`;
  assert.equal(readUnverified(brokenPayload).alg, "ES256");
  assertDeniedSync(() => precheck(brokenPayload, BOTH, NOW), "token_malformed", "no claims");
  // What a caller read already is what precheck judges, so it is the token's own reading.
  assert.equal(precheck(token, BOTH, NOW, readUnverified(token)).name, "ci");
});

Deno.test("authenticate verifies with the given Authority's keys only and names it", async () => {
  const [stellaopsOptions, ciOptions] = BOTH;
  const ciKeys = staticAuthorityKeys(ci.jwks).getKey;
  const stellaopsKeys = staticAuthorityKeys(stellaops.jwks).getKey;
  const caller = await authenticate(await ci.token({ claims: ciClaims() }), ciKeys, ciOptions, NOW);
  assert.equal(caller.authority, "ci");
  // A token claiming the StellaOps issuer but signed by the CI key: the StellaOps keys decide.
  const claimed = await ci.token({ claims: { iss: stellaops.issuer } });
  await assertDenied(
    authenticate(claimed, stellaopsKeys, stellaopsOptions, NOW),
    "token_key_unknown",
  );
  const sameKid = await ci.token({
    claims: { iss: stellaops.issuer },
    header: { kid: "stellaops-key" },
  });
  await assertDenied(
    authenticate(sameKid, stellaopsKeys, stellaopsOptions, NOW),
    "token_signature_invalid",
  );
  // Verified by the right keys but for another Authority: never taken as this one's.
  await assertDenied(
    authenticate(await ci.token({ claims: ciClaims() }), ciKeys, stellaopsOptions, NOW),
    "issuer_unknown",
  );
});

// --- the caller from claims -------------------------------------------------------------------

Deno.test("callerFromClaims applies the selected Authority's scopes, not another's", () => {
  // The CI Authority requires no scope; the StellaOps one its default.
  assert.equal(callerFromClaims(ciClaims(), BOTH).authority, "ci");
  assertDeniedSync(
    () => callerFromClaims({ iss: stellaops.issuer, sub: "svc", exp: NOW_SECONDS }, BOTH),
    "token_scope_missing",
  );
});

Deno.test("callerFromClaims checks audiences, subject, plan, licence and cnf without keys or clock", () => {
  const [withAudience] = authorities({
    Name: "a",
    Issuer: ci.issuer,
    JwksPath: "/j.json",
    RequiredScopes: [],
    Audiences: ["registry"],
  });
  assertDeniedSync(() => callerFromClaims(ciClaims(), [withAudience]), "token_audience_mismatch");
  assert.equal(
    callerFromClaims(ciClaims({ aud: ["x", "registry"] }), [withAudience]).subject,
    ciClaims().sub,
  );
  // Time claims are authenticate's: an expired or exp-less claims set still makes a caller.
  const expired = callerFromClaims(ciClaims({ exp: 1 }), BOTH);
  assert.equal(expired.validity.expiresAt, 1);
  const timeless = callerFromClaims(ciClaims({ exp: undefined }), BOTH);
  assert.equal(timeless.validity.expiresAt, -Infinity, "valid at no time");
  assertDeniedSync(
    () => callerFromClaims(ciClaims({ cnf: "bound" }), BOTH),
    "token_claims_invalid",
  );
  assert.deepEqual(callerFromClaims(ciClaims({ cnf: { jkt: "thumb" } }), BOTH).confirmation, {
    jkt: "thumb",
    x5tS256: undefined,
  });
});

Deno.test("SubjectClaim names the subject, and must then be a non-empty string", () => {
  assert.equal(callerFromClaims(ciClaims(), BOTH).subject, "team/app", "not sub");
  for (const project_path of [undefined, "", 42, ["team/app"], { path: "team/app" }]) {
    const denial = assertDeniedSync(
      () => callerFromClaims(ciClaims({ project_path }), BOTH),
      "token_subject_missing",
      JSON.stringify(project_path),
    );
    assert.match(denial.message, /"project_path"/);
  }
  const [nested] = authorities({
    Name: "n",
    Issuer: ci.issuer,
    JwksPath: "/j.json",
    RequiredScopes: [],
    SubjectClaim: "/ci/project/path",
  });
  assert.equal(
    callerFromClaims(ciClaims({ ci: { project: { path: "team/nested" } } }), [nested]).subject,
    "team/nested",
  );
  // Without SubjectClaim the chain still applies: nameidentifier, sub, client_id.
  const [chain] = BOTH;
  const base = { iss: stellaops.issuer, scope: "registry.token.issue" };
  assert.equal(callerFromClaims({ ...base, sub: "s", client_id: "c" }, [chain]).subject, "s");
  assert.equal(callerFromClaims({ ...base, client_id: "c" }, [chain]).subject, "c");
});

Deno.test("LicenseClaim names the licence claim, a JSON Pointer included", () => {
  const caller = callerFromClaims(ciClaims({ billing: { licence: "lic-9" } }), BOTH);
  assert.equal(caller.license, "lic-9");
  assert.equal(
    callerFromClaims(ciClaims({ "stellaops:license": "lic-1" }), BOTH).license,
    undefined,
    "the default claim is not read when LicenseClaim names another",
  );
  for (const licence of ["", 7, ["lic-9"]]) {
    const denial = assertDeniedSync(
      () => callerFromClaims(ciClaims({ billing: { licence } }), BOTH),
      "token_claims_invalid",
      JSON.stringify(licence),
    );
    assert.match(denial.message, /"\/billing\/licence"/);
  }
  const [stellaopsOptions] = BOTH;
  const base = { iss: stellaops.issuer, sub: "u", scope: "registry.token.issue" };
  assert.equal(
    callerFromClaims({ ...base, "stellaops:license": "lic-2" }, [stellaopsOptions]).license,
    "lic-2",
  );
});

// --- the plan ---------------------------------------------------------------------------------

Deno.test("the plan claim wins over every mapping", () => {
  const claims = ciClaims({ "stellaops:plan": "reader", groups: ["release"], ref: "main" });
  assert.deepEqual(planOf(claims, BOTH[1]), { plan: "reader", by: "claim" });
  assert.equal(callerFromClaims(claims, BOTH).plan, "reader");
  assertDeniedSync(
    () => callerFromClaims(ciClaims({ "stellaops:plan": ["gold"] }), BOTH),
    "token_claims_invalid",
  );
});

Deno.test("the first mapping that matches decides: array claims contain, string claims equal", () => {
  const ciOptions = BOTH[1];
  const decide = (extra: Record<string, unknown>) => planOf(ciClaims(extra), ciOptions);
  assert.deepEqual(decide({ groups: ["developers", "release"], ref: "main" }), {
    plan: "gold",
    by: "mapping",
    mapping: 0,
  });
  assert.deepEqual(decide({ ref: "main" }), { plan: "silver", by: "mapping", mapping: 1 });
  assert.deepEqual(decide({ namespace: { tier: "paid" } }), {
    plan: "bronze",
    by: "mapping",
    mapping: 2,
  }, "a JSON Pointer claim");
  // A string claim is not searched, an array is not equal, other types never match.
  assert.deepEqual(decide({ groups: "release-managers" }), { by: "none" });
  assert.deepEqual(decide({ groups: "release" }), { plan: "gold", by: "mapping", mapping: 0 });
  assert.deepEqual(decide({ groups: [["release"]] }), { by: "none" });
  assert.deepEqual(decide({ ref: ["main"] }), { plan: "silver", by: "mapping", mapping: 1 });
  assert.deepEqual(decide({ ref: "mainline" }), { by: "none" });
  assert.deepEqual(decide({ namespace: { tier: true } }), { by: "none" });
  assert.deepEqual(decide({ groups: undefined, ref: undefined }), { by: "none" });
});

Deno.test("without claim or mapping, the Authority's DefaultPlan applies, else none", () => {
  const [withDefault, without] = authorities(
    {
      Name: "a",
      Issuer: stellaops.issuer,
      JwksPath: "/j.json",
      PlanMappings: [{ Claim: "groups", Value: "release", Plan: "gold" }],
      DefaultPlan: "bronze",
    },
    { Name: "b", Issuer: ci.issuer, JwksPath: "/k.json" },
  );
  assert.deepEqual(planOf({ groups: ["release"] }, withDefault), {
    plan: "gold",
    by: "mapping",
    mapping: 0,
  });
  assert.deepEqual(planOf({ groups: [] }, withDefault), {
    plan: "bronze",
    by: "authority-default",
  });
  assert.deepEqual(planOf({}, without), { by: "none" }, "left to the top-level DefaultPlan");
});
