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
    authority: "default",
    subject: "ci-bot",
    plan: "ci",
    granted: ["repository:team/app:pull,push"],
  });
  assert.equal(signed[0].sub, "ci-bot");
  assert.deepEqual(signed[0].access, [{
    type: "repository",
    name: "team/app",
    actions: ["pull", "push"],
  }]);
});
