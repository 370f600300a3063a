import assert from "node:assert/strict";
import { base64url, exportJWK, generateKeyPair, type JWTVerifyGetKey, SignJWT } from "jose";
import { Denial } from "../../src/denial.ts";
import { authenticate } from "../../src/authn/authenticate.ts";
import { type Caller } from "../../src/authn/caller.ts";
import { parseClaimName } from "../../src/claims.ts";
import { staticAuthorityKeys } from "../../src/authn/authority_keys.ts";
import type { AuthorityOptions } from "../../src/authn/caller.ts";
import { createTestAuthority, NOW, NOW_SECONDS } from "../support/authority.ts";
import { assertDenied } from "../support/denial.ts";
import { authorityOptions } from "../support/service.ts";

const authority = await createTestAuthority();
const getKey = staticAuthorityKeys(authority.jwks).getKey;

const NAMEIDENTIFIER_URI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";

function verify(
  token: string,
  patch: Partial<AuthorityOptions> = {},
  keys: JWTVerifyGetKey = getKey,
): Promise<Caller> {
  return authenticate(token, keys, authorityOptions(authority, patch), NOW);
}

function claims(overrides: Record<string, unknown>) {
  return authority.token({ claims: overrides });
}

// --- accepted tokens --------------------------------------------------------------------------

Deno.test("authenticate accepts a valid Authority token and returns its subject", async () => {
  const token = await authority.token();
  const caller = await verify(token);
  assert.deepEqual(caller, {
    authority: "default",
    subject: "ci-bot",
    plan: undefined,
    license: undefined,
    claims: JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[1]))),
    confirmation: undefined,
    validity: { expiresAt: NOW_SECONDS + 600, notBefore: undefined },
  });
});

Deno.test("authenticate returns the plan and licence claims", async () => {
  const caller = await verify(
    await claims({ "stellaops:plan": "ci", "stellaops:license": "lic-42" }),
  );
  assert.deepEqual({ ...caller, claims: undefined }, {
    authority: "default",
    subject: "ci-bot",
    plan: "ci",
    license: "lic-42",
    claims: undefined,
    confirmation: undefined,
    validity: { expiresAt: NOW_SECONDS + 600, notBefore: undefined },
  });
});

Deno.test("authenticate reads the plan from the claim Authority:PlanClaim names, and only that one", async () => {
  const token = await claims({ "stellaops:plan": "ci", plan: "gold" });
  assert.equal((await verify(token, { planClaim: parseClaimName("plan") })).plan, "gold");
  assert.equal(
    (await verify(await claims({ "stellaops:plan": "ci" }), { planClaim: parseClaimName("plan") }))
      .plan,
    undefined,
  );
});

Deno.test("authenticate accepts RS256 and EdDSA signatures", async () => {
  for (const alg of ["RS256", "EdDSA"]) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...await exportJWK(publicKey), kid: `k-${alg}`, alg };
    const token = await new SignJWT({
      iss: authority.issuer,
      sub: "ci-bot",
      scope: "registry.token.issue",
      exp: NOW_SECONDS + 600,
    }).setProtectedHeader({ alg, kid: `k-${alg}` }).sign(privateKey);
    const caller = await verify(token, {}, staticAuthorityKeys({ keys: [jwk] }).getKey);
    assert.equal(caller.subject, "ci-bot");
  }
});

// --- time claims ------------------------------------------------------------------------------

Deno.test("authenticate rejects an expired token", async () => {
  const denial = await assertDenied(
    verify(await claims({ exp: NOW_SECONDS - 61 })),
    "token_expired",
  );
  assert.equal(denial.rendering.status, 401);
  assert.equal(denial.rendering.challengeError, "invalid_token");
});

Deno.test("authenticate accepts a token expired by less than the clock skew", async () => {
  const token = await claims({ exp: NOW_SECONDS - 30 });
  assert.equal((await verify(token)).subject, "ci-bot");
  await assertDenied(verify(token, { clockSkewSeconds: 0 }), "token_expired");
});

Deno.test("authenticate rejects a token whose nbf is in the future", async () => {
  await assertDenied(verify(await claims({ nbf: NOW_SECONDS + 120 })), "token_not_yet_valid");
});

Deno.test("authenticate accepts a token whose nbf is within the clock skew", async () => {
  const token = await claims({ nbf: NOW_SECONDS + 30 });
  assert.equal((await verify(token)).subject, "ci-bot");
  await assertDenied(verify(token, { clockSkewSeconds: 10 }), "token_not_yet_valid");
});

Deno.test("authenticate rejects a token without exp", async () => {
  const denial = await assertDenied(
    verify(await claims({ exp: undefined })),
    "token_claims_invalid",
  );
  assert.match(denial.message, /exp/);
});

Deno.test("authenticate rejects a token whose exp is not a number", async () => {
  await assertDenied(verify(await claims({ exp: "tomorrow" })), "token_claims_invalid");
});

// --- issuer and audience ----------------------------------------------------------------------

Deno.test("authenticate rejects a token from another issuer", async () => {
  await assertDenied(
    verify(await claims({ iss: "https://evil.test" })),
    "issuer_unknown",
  );
  await assertDenied(verify(await claims({ iss: undefined })), "issuer_unknown");
  await assertDenied(
    verify(await claims({ iss: `${authority.issuer}/` })),
    "issuer_unknown",
  );
});

Deno.test("authenticate rejects an audience mismatch when Audiences are configured", async () => {
  const audiences = ["registry-token"];
  await assertDenied(
    verify(await claims({ aud: "other-service" }), { audiences }),
    "token_audience_mismatch",
  );
  await assertDenied(verify(await authority.token(), { audiences }), "token_audience_mismatch");
});

Deno.test("authenticate accepts an aud array containing a configured audience", async () => {
  const token = await claims({ aud: ["other-service", "registry-token"] });
  const caller = await verify(token, { audiences: ["registry-token", "api://registry"] });
  assert.equal(caller.subject, "ci-bot");
  assert.equal(
    (await verify(await claims({ aud: "api://registry" }), {
      audiences: ["registry-token", "api://registry"],
    })).subject,
    "ci-bot",
  );
});

Deno.test("authenticate ignores aud when no Audiences are configured", async () => {
  assert.equal((await verify(await claims({ aud: "anything-at-all" }))).subject, "ci-bot");
  assert.equal((await verify(await claims({ aud: ["a", "b"] }))).subject, "ci-bot");
});

// --- scopes -----------------------------------------------------------------------------------

Deno.test("authenticate refuses a token lacking a required scope with 403 token_scope_missing", async () => {
  const denial = await assertDenied(
    verify(await claims({ scope: "openid profile" })),
    "token_scope_missing",
  );
  assert.equal(denial.rendering.status, 403);
  assert.equal(denial.rendering.challengeError, "insufficient_scope");
  assert.deepEqual(denial.detail, { required: ["registry.token.issue"] });
  await assertDenied(verify(await claims({ scope: undefined })), "token_scope_missing");
});

Deno.test("authenticate lists only the missing scopes when several are required", async () => {
  const denial = await assertDenied(
    verify(await claims({ scope: "a c" }), { requiredScopes: ["a", "b", "c", "d"] }),
    "token_scope_missing",
  );
  assert.deepEqual(denial.detail, { required: ["b", "d"] });
});

Deno.test("authenticate finds the required scope in a space-separated scope string", async () => {
  const token = await claims({ scope: "openid registry.token.issue profile" });
  assert.equal((await verify(token)).subject, "ci-bot");
});

Deno.test("authenticate accepts the required scope from an scp array", async () => {
  const token = await claims({ scope: undefined, scp: ["openid", "registry.token.issue"] });
  assert.equal((await verify(token)).subject, "ci-bot");
  const asString = await claims({ scope: undefined, scp: "registry.token.issue" });
  assert.equal((await verify(asString)).subject, "ci-bot");
});

Deno.test("authenticate does not match a scope by prefix", async () => {
  await assertDenied(
    verify(await claims({ scope: "registry.token.issuer registry.token" })),
    "token_scope_missing",
  );
});

Deno.test("authenticate needs no scope when RequiredScopes is empty", async () => {
  const token = await claims({ scope: undefined });
  assert.equal((await verify(token, { requiredScopes: [] })).subject, "ci-bot");
});

// --- algorithm, key and signature -------------------------------------------------------------

Deno.test("authenticate rejects an HS256 token as token_algorithm_not_allowed", async () => {
  const secret = new TextEncoder().encode("a-shared-secret-of-at-least-32-bytes!!");
  const token = await new SignJWT({
    iss: authority.issuer,
    sub: "ci-bot",
    scope: "registry.token.issue",
    exp: NOW_SECONDS + 600,
  }).setProtectedHeader({ alg: "HS256", kid: authority.kid }).sign(secret);
  await assertDenied(verify(token), "token_algorithm_not_allowed");
});

Deno.test("authenticate rejects an unsigned alg none token", async () => {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  const payload = {
    iss: authority.issuer,
    sub: "ci-bot",
    scope: "registry.token.issue",
    exp: NOW_SECONDS + 600,
  };
  for (const alg of ["none", "None", "NONE"]) {
    const unsigned = `${encode({ alg, kid: authority.kid, typ: "JWT" })}.${encode(payload)}.`;
    await assertDenied(verify(unsigned), "token_algorithm_not_allowed");
  }
});

Deno.test("authenticate rejects a token signed by another key with the same kid", async () => {
  const impostor = await generateKeyPair("ES256");
  await assertDenied(
    verify(await authority.token({ signingKey: impostor.privateKey })),
    "token_signature_invalid",
  );
});

Deno.test("authenticate rejects a token whose payload was altered after signing", async () => {
  const [header, , signature] = (await authority.token()).split(".");
  const forged = base64url.encode(JSON.stringify({
    iss: authority.issuer,
    sub: "admin",
    scope: "registry.token.issue",
    exp: NOW_SECONDS + 600,
  }));
  await assertDenied(verify(`${header}.${forged}.${signature}`), "token_signature_invalid");
});

Deno.test("authenticate rejects a token signed with an unknown kid", async () => {
  const other = await generateKeyPair("ES256");
  const denial = await assertDenied(
    verify(
      await authority.token({ header: { kid: "rotated-away" }, signingKey: other.privateKey }),
    ),
    "token_key_unknown",
  );
  assert.equal(denial.rendering.status, 401);
});

Deno.test("authenticate rejects garbage as token_malformed", async () => {
  for (
    const garbage of [
      "garbage",
      "a.b.c",
      "not.a.jwt.at.all",
      `${base64url.encode("{")}.${base64url.encode("{}")}.sig`,
      "",
      `${base64url.encode("[]")}.${base64url.encode("{}")}.sig`,
    ]
  ) {
    await assertDenied(verify(garbage), "token_malformed");
  }
});

Deno.test("authenticate passes a Denial from the key resolver through unchanged", async () => {
  const unavailable: JWTVerifyGetKey = () => {
    throw new Denial("authority_unavailable", "keys not loaded");
  };
  await assertDenied(verify(await authority.token(), {}, unavailable), "authority_unavailable");
});

// --- subject and claim types ------------------------------------------------------------------

Deno.test("authenticate prefers the nameidentifier claim (short name) over sub and client_id", async () => {
  const caller = await verify(
    await claims({ nameidentifier: "user-ni", sub: "user-sub", client_id: "client" }),
  );
  assert.equal(caller.subject, "user-ni");
});

Deno.test("authenticate prefers the .NET nameidentifier claim URI over sub and client_id", async () => {
  const caller = await verify(
    await claims({ [NAMEIDENTIFIER_URI]: "user-uri", sub: "user-sub", client_id: "client" }),
  );
  assert.equal(caller.subject, "user-uri");
});

Deno.test("authenticate uses sub when there is no nameidentifier, then client_id", async () => {
  assert.equal(
    (await verify(await claims({ sub: "user-sub", client_id: "client" }))).subject,
    "user-sub",
  );
  assert.equal(
    (await verify(await claims({ sub: undefined, client_id: "client" }))).subject,
    "client",
  );
  assert.equal(
    (await verify(await claims({ nameidentifier: "", sub: "user-sub" }))).subject,
    "user-sub",
  );
});

Deno.test("authenticate rejects a token naming no subject", async () => {
  await assertDenied(verify(await claims({ sub: undefined })), "token_subject_missing");
  await assertDenied(
    verify(await claims({ sub: undefined, client_id: "" })),
    "token_subject_missing",
  );
  await assertDenied(
    verify(await claims({ sub: undefined, nameidentifier: 42, client_id: ["x"] })),
    "token_subject_missing",
  );
});

Deno.test("authenticate rejects a non-string stellaops:plan claim", async () => {
  for (const plan of [42, ["ci"], { name: "ci" }, true, ""]) {
    const denial = await assertDenied(
      verify(await claims({ "stellaops:plan": plan })),
      "token_claims_invalid",
    );
    assert.match(denial.message, /stellaops:plan/);
  }
});

Deno.test("authenticate rejects a non-string stellaops:license claim", async () => {
  const denial = await assertDenied(
    verify(await claims({ "stellaops:license": 7 })),
    "token_claims_invalid",
  );
  assert.match(denial.message, /stellaops:license/);
});
