import assert from "node:assert/strict";
import { authenticate } from "../../src/authn/authenticate.ts";
import { staticAuthorityKeys } from "../../src/authn/authority_keys.ts";
import { Denial } from "../../src/denial.ts";
import { createTestAuthority, NOW, NOW_SECONDS } from "../support/authority.ts";
import { testOptions } from "../support/service.ts";

const authority = await createTestAuthority();
const keys = staticAuthorityKeys(authority.jwks);
const options = testOptions(authority, {
  Authority: { Issuer: authority.issuer, JwksPath: "memory:authority-jwks.json", ClockSkew: "30s" },
}).authorities[0];

async function outcome(claims: Record<string, unknown>): Promise<string> {
  try {
    await authenticate(await authority.token({ claims }), keys.getKey, options, NOW);
    return "accepted";
  } catch (error) {
    if (error instanceof Denial) return error.reason;
    throw error;
  }
}

Deno.test("exp is honoured until the clock skew past it has run out (RFC 7519: before exp)", async () => {
  assert.equal(await outcome({ exp: NOW_SECONDS - 29 }), "accepted");
  assert.equal(await outcome({ exp: NOW_SECONDS - 30 }), "token_expired");
});

Deno.test("nbf is honoured from exactly the clock skew before it, not a second earlier", async () => {
  assert.equal(await outcome({ nbf: NOW_SECONDS + 30 }), "accepted");
  assert.equal(await outcome({ nbf: NOW_SECONDS + 31 }), "token_not_yet_valid");
});

Deno.test("iat is not a validity bound: a token issued in the future or long ago still counts", async () => {
  // The Authority decides validity with exp and nbf; iat only records when it signed.
  assert.equal(await outcome({ iat: NOW_SECONDS + 3600 }), "accepted");
  assert.equal(await outcome({ iat: NOW_SECONDS - 86_400 }), "accepted");
  assert.equal(await outcome({ iat: "yesterday" }), "token_claims_invalid");
});
