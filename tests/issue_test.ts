import assert from "node:assert/strict";
import type { JSONWebKeySet } from "jose";
import { staticAuthorityKeys } from "../src/authn/authority_keys.ts";
import { createReplayCache } from "../src/authn/dpop_state.ts";
import { createVerifiedTokenCache } from "../src/authn/verified_tokens.ts";
import { type Audit, type IssueDeps, issueToken, type TokenRequestInput } from "../src/issue.ts";
import type { RegistryClaims } from "../src/token/mint.ts";
import { createMintedTokenCache } from "../src/token/reuse.ts";
import { basic, createTestAuthority, NOW } from "./support/authority.ts";
import { assertDenied } from "./support/denial.ts";
import { REGISTRY, testOptions } from "./support/service.ts";

const authority = await createTestAuthority();

/**
 * Pipeline deps over the shared test policy; the signer only records what it was asked. Each
 * Authority's keys are `jwks[Name]` (the test Authority's for `default`).
 */
function pipeline(
  patch: Record<string, unknown> = {},
  jwks: Record<string, JSONWebKeySet> = { default: authority.jwks },
) {
  const options = testOptions(authority, patch);
  const signed: RegistryClaims[] = [];
  const replay = createReplayCache(1_000);
  const deps: IssueDeps = {
    options,
    authorities: new Map(options.authorities.map((trusted) => [trusted.name, {
      keys: staticAuthorityKeys(jwks[trusted.name]),
      verifiedTokens: createVerifiedTokenCache(100, trusted.clockSkewSeconds),
      dpop: { options: trusted.dpop, replay },
    }])),
    signer: (claims) => {
      signed.push(claims);
      return Promise.resolve(`signed-${signed.length}`);
    },
    now: () => NOW,
    randomId: () => `jti-${signed.length}`,
    mintedTokens: createMintedTokenCache(100, options.signing.reuseWindowSeconds),
  };
  return { deps, signed };
}

function request(token: string, scopes: string[]): TokenRequestInput {
  return {
    service: REGISTRY,
    scopes,
    credential: { authorization: basic(token) },
    sender: { method: "GET", url: "https://tokens.test/token", dpopProofs: [] },
  };
}

Deno.test("issueToken checks an uncached caller token through the guard once, and a cached one not at all", async () => {
  const { deps } = pipeline();
  const token = await authority.token();
  let guarded = 0;
  const guard = <T>(verify: () => Promise<T>) => (guarded++, verify());
  for (let i = 0; i < 3; i++) {
    await issueToken(request(token, ["repository:team/app:pull"]), deps, {}, guard);
  }
  assert.equal(guarded, 1);
});

Deno.test("issueToken never signs for a refused request, and never guards a cheap refusal", async () => {
  const { deps, signed } = pipeline();
  let guarded = 0;
  const guard = <T>(verify: () => Promise<T>) => (guarded++, verify());
  const audit: Audit = {};
  const reader = await authority.token({ claims: { sub: "reader-bot" } });
  await assertDenied(
    issueToken(request(reader, ["repository:team/app:push"]), deps, audit, guard),
    "access_denied",
  );
  const expired = await authority.token({
    claims: { exp: Math.floor(NOW.getTime() / 1000) - 3600 },
  });
  await assertDenied(
    issueToken(request(expired, ["repository:team/app:pull"]), deps, {}, guard),
    "token_expired",
  );
  assert.deepEqual(signed, []);
  assert.equal(guarded, 1, "only the token that needed a signature check was guarded");
  assert.equal(audit.subject, "reader-bot", "the audit says who was refused");
  assert.deepEqual(audit.requested, ["repository:team/app:push"]);
  assert.equal(audit.granted, undefined);
});

Deno.test("issueToken records what each stage learned and mints the granted access", async () => {
  const { deps, signed } = pipeline();
  const audit: Audit = {};
  const issued = await issueToken(
    request(await authority.token({ claims: { "stellaops:plan": "ci", sub: "ci-bot" } }), [
      "repository:team/app:pull,push",
    ]),
    deps,
    audit,
  );
  assert.equal(issued.token, "signed-1");
  assert.equal(issued.plan, "ci");
  assert.deepEqual(audit, {
    service: REGISTRY,
    requested: ["repository:team/app:pull,push"],
    issuer: authority.issuer,
    authority: "default",
    subject: "ci-bot",
    plan: "ci",
    license: undefined,
    cached: false,
    granted: ["repository:team/app:pull,push"],
    decisions: [{
      scope: "repository:team/app:pull,push",
      actions: ["pull", "push"],
      granted: true,
      plan: "ci",
      rule: { plan: "ci", index: 0, pattern: "team/*" },
      because: "allow rule",
    }],
    reused: false,
    jti: "jti-0",
    exp: signed[0].exp,
  });
  assert.equal(signed[0].sub, "ci-bot");
  assert.deepEqual(signed[0].access, [{
    type: "repository",
    name: "team/app",
    actions: ["pull", "push"],
  }]);
});

Deno.test("issueToken records the decisions and the plan of a refused request too", async () => {
  const { deps, signed } = pipeline();
  const audit: Audit = {};
  const ci = await authority.token({ claims: { "stellaops:plan": "ci" } });
  await assertDenied(
    issueToken(request(ci, ["repository:team/app:pull,delete"]), deps, audit),
    "access_denied",
  );
  assert.deepEqual(signed, []);
  assert.equal(audit.plan, "ci");
  assert.equal(audit.granted, undefined, "nothing was granted");
  assert.deepEqual(audit.decisions?.map((d) => [d.scope, d.granted, d.rule?.index ?? null]), [
    ["repository:team/app:pull", true, 0],
    ["repository:team/app:delete", false, null],
  ]);
});

// --- several Authorities ----------------------------------------------------------------------

const ci = await createTestAuthority("https://ci.test", "ci-key");

/** Two Authorities: the test Authority as `stellaops`, and a CI issuer with a claim mapping. */
function twoAuthorities(
  ciPatch: Record<string, unknown> = {},
  patch: Record<string, unknown> = {},
) {
  return pipeline({
    Authority: undefined,
    Authorities: [
      { Name: "stellaops", Issuer: authority.issuer, JwksPath: "memory:stellaops.json" },
      {
        Name: "ci",
        Issuer: ci.issuer,
        JwksPath: "memory:ci.json",
        RequiredScopes: [],
        SubjectClaim: "project_path",
        LicenseClaim: "/billing/licence",
        PlanMappings: [{ Claim: "groups", Value: "maintainers", Plan: "ci" }],
        ...ciPatch,
      },
    ],
    ...patch,
  }, { stellaops: authority.jwks, ci: ci.jwks });
}

function ciToken(claims: Record<string, unknown> = {}) {
  return ci.token({
    claims: { scope: undefined, project_path: "team/app", groups: ["developers"], ...claims },
  });
}

Deno.test("issueToken takes each token's Authority from its iss, with that Authority's mapping", async () => {
  const { deps, signed } = twoAuthorities();
  const audit: Audit = {};
  const issued = await issueToken(
    request(
      await ciToken({ groups: ["maintainers"], billing: { licence: "lic-ci" } }),
      ["repository:team/app:push"],
    ),
    deps,
    audit,
  );
  assert.equal(issued.plan, "ci", "from the group mapping");
  assert.equal(audit.authority, "ci");
  assert.equal(audit.subject, "team/app");
  assert.equal(signed[0].sub, "team/app", "the registry token's sub is SubjectClaim's");
  assert.equal(signed[0]["stellaops:license"], "lic-ci", "read from LicenseClaim");

  const stellaopsAudit: Audit = {};
  const fromStellaops = await issueToken(
    request(await authority.token({ claims: { "stellaops:plan": "admin" } }), []),
    deps,
    stellaopsAudit,
  );
  assert.equal(fromStellaops.plan, "admin");
  assert.equal(stellaopsAudit.authority, "stellaops");
  assert.equal(stellaopsAudit.subject, "ci-bot");
});

Deno.test("an unknown issuer is refused before any signature check, and names no Authority", async () => {
  const { deps, signed } = twoAuthorities();
  let guarded = 0;
  const guard = <T>(verify: () => Promise<T>) => (guarded++, verify());
  const stranger = await createTestAuthority("https://stranger.test");
  for (const claims of [{}, { iss: undefined }]) {
    const audit: Audit = {};
    await assertDenied(
      issueToken(request(await stranger.token({ claims }), []), deps, audit, guard),
      "issuer_unknown",
    );
    assert.equal(audit.authority, undefined);
  }
  assert.equal(guarded, 0);
  assert.deepEqual(signed, []);
});

Deno.test("a token is verified only with the keys of the Authority its iss names", async () => {
  const { deps } = twoAuthorities();
  let guarded = 0;
  const guard = <T>(verify: () => Promise<T>) => (guarded++, verify());
  // Signed by the CI Authority's key, claiming the StellaOps issuer.
  const audit: Audit = {};
  await assertDenied(
    issueToken(
      request(await ci.token({ claims: { iss: authority.issuer } }), []),
      deps,
      audit,
      guard,
    ),
    "token_key_unknown",
  );
  assert.equal(audit.authority, "stellaops", "the Authority whose keys refused it");
  // The same, under the StellaOps key's kid.
  const sameKid = await ci.token({
    claims: { iss: authority.issuer },
    header: { kid: authority.kid },
  });
  await assertDenied(issueToken(request(sameKid, []), deps, {}, guard), "token_signature_invalid");
  assert.equal(guarded, 2, "both needed a signature check");
});

Deno.test("each Authority's rules apply to its tokens only", async () => {
  const { deps } = twoAuthorities();
  // The StellaOps Authority still requires its scope; the CI one none.
  await assertDenied(
    issueToken(request(await authority.token({ claims: { scope: undefined } }), []), deps, {}),
    "token_scope_missing",
  );
  assert.ok(await issueToken(request(await ciToken(), []), deps, {}));
  // SubjectClaim is the CI Authority's: a CI token without it has no subject, whatever its sub.
  await assertDenied(
    issueToken(request(await ciToken({ project_path: undefined }), []), deps, {}),
    "token_subject_missing",
  );
});

Deno.test("the Authority's DefaultPlan comes before the top-level one, which comes before none", async () => {
  const withDefault = twoAuthorities({ DefaultPlan: "admin" });
  assert.equal(
    (await issueToken(request(await ciToken(), []), withDefault.deps, {})).plan,
    "admin",
  );
  assert.equal(
    (await issueToken(request(await authority.token(), []), withDefault.deps, {})).plan,
    "reader",
    "an Authority without DefaultPlan: the top-level one",
  );
  const topLevel = twoAuthorities();
  assert.equal((await issueToken(request(await ciToken(), []), topLevel.deps, {})).plan, "reader");
  const none = twoAuthorities({}, { DefaultPlan: undefined });
  await assertDenied(issueToken(request(await ciToken(), []), none.deps, {}), "plan_unknown");
  // A mapping still decides before either default.
  const mapped = await ciToken({ groups: ["maintainers"] });
  assert.equal((await issueToken(request(mapped, []), withDefault.deps, {})).plan, "ci");
});
