import assert from "node:assert/strict";
import { Denial, type DenialReason } from "../../src/denial.ts";
import {
  authorityTokenOf,
  extractAuthorityToken,
  MAX_AUTHORIZATION_LENGTH,
} from "../../src/authn/credentials.ts";
import { basic } from "../support/authority.ts";
import { assertDeniedSync } from "../support/denial.ts";

const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjaS1ib3QifQ.c2lnbmF0dXJl";

/** `extractAuthorityToken(authorization)` is refused for `reason`. */
function assertDenied(authorization: string | null | undefined, reason: DenialReason): Denial {
  return assertDeniedSync(
    () => extractAuthorityToken(authorization),
    reason,
    JSON.stringify(authorization),
  );
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

Deno.test("extractAuthorityToken returns a Bearer token", () => {
  assert.deepEqual(extractAuthorityToken(`Bearer ${TOKEN}`), { token: TOKEN, scheme: "bearer" });
});

Deno.test("extractAuthorityToken accepts the DPoP scheme and says so", () => {
  assert.deepEqual(extractAuthorityToken(`DPoP ${TOKEN}`), { token: TOKEN, scheme: "dpop" });
  assert.deepEqual(extractAuthorityToken(`dpop ${TOKEN}`), { token: TOKEN, scheme: "dpop" });
});

Deno.test("extractAuthorityToken ignores trailing whitespace after the credentials", () => {
  assert.deepEqual(extractAuthorityToken(`Bearer ${TOKEN}  `), { token: TOKEN, scheme: "bearer" });
  assert.deepEqual(extractAuthorityToken(`Basic ${base64(`u:${TOKEN}`)} `), {
    token: TOKEN,
    scheme: "basic",
  });
});

Deno.test("extractAuthorityToken matches the scheme case-insensitively", () => {
  assert.deepEqual(extractAuthorityToken(`bearer ${TOKEN}`), { token: TOKEN, scheme: "bearer" });
  assert.deepEqual(extractAuthorityToken(`BEARER ${TOKEN}`), { token: TOKEN, scheme: "bearer" });
  assert.deepEqual(extractAuthorityToken(`basic ${base64(`u:${TOKEN}`)}`), {
    token: TOKEN,
    scheme: "basic",
  });
  assert.deepEqual(extractAuthorityToken(`BaSiC ${base64(`u:${TOKEN}`)}`), {
    token: TOKEN,
    scheme: "basic",
  });
});

Deno.test("extractAuthorityToken returns the Basic password whatever the username", () => {
  for (const user of ["oauth2accesstoken", "<token>", "anyone", "", "ci-bot@example.com"]) {
    assert.deepEqual(extractAuthorityToken(basic(TOKEN, user)), { token: TOKEN, scheme: "basic" });
  }
  assert.deepEqual(extractAuthorityToken(`Basic ${base64(`jürgen:${TOKEN}`)}`), {
    token: TOKEN,
    scheme: "basic",
  });
});

Deno.test("extractAuthorityToken keeps colons inside the Basic password", () => {
  assert.deepEqual(extractAuthorityToken(`Basic ${base64("user:pa:ss:word")}`), {
    token: "pa:ss:word",
    scheme: "basic",
  });
});

Deno.test("extractAuthorityToken treats Basic credentials with an empty password as missing", () => {
  const denial = assertDenied(`Basic ${base64("oauth2accesstoken:")}`, "credentials_missing");
  assert.match(denial.message, /no password/);
  assertDenied(`Basic ${base64(":")}`, "credentials_missing");
});

Deno.test("extractAuthorityToken reports a missing header", () => {
  assertDenied(undefined, "credentials_missing");
  assertDenied(null, "credentials_missing");
  assertDenied("", "credentials_missing");
});

Deno.test("extractAuthorityToken rejects Basic credentials that are not base64", () => {
  const denial = assertDenied("Basic not*base64!", "credentials_malformed");
  assert.match(denial.message, /base64/);
  assertDenied("Basic abc", "credentials_malformed");
});

Deno.test("extractAuthorityToken rejects Basic credentials that are not UTF-8", () => {
  assertDenied(`Basic ${btoa("user:\xff\xfe")}`, "credentials_malformed");
});

Deno.test("extractAuthorityToken rejects Basic credentials without a colon", () => {
  const denial = assertDenied(`Basic ${base64(TOKEN)}`, "credentials_malformed");
  assert.match(denial.message, /no ':'/);
});

Deno.test("extractAuthorityToken rejects unknown schemes and malformed headers", () => {
  for (
    const header of [
      `Digest ${TOKEN}`,
      `Token ${TOKEN}`,
      `Negotiate ${TOKEN}`,
      TOKEN,
      "Bearer",
      "Bearer ",
      `Bearer ${TOKEN} extra`,
      `Bearer\t${TOKEN}`,
      `Bearer: ${TOKEN}`,
    ]
  ) {
    const denial = assertDenied(header, "credentials_malformed");
    assert.match(denial.message, /unsupported Authorization header/);
  }
});

Deno.test("extractAuthorityToken rejects an oversized header before parsing it", () => {
  const oversized = `Bearer ${"a".repeat(MAX_AUTHORIZATION_LENGTH)}`;
  const denial = assertDenied(oversized, "credentials_malformed");
  assert.match(denial.message, /too large/);
  const limit = `Bearer ${"a".repeat(MAX_AUTHORIZATION_LENGTH - "Bearer ".length)}`;
  assert.equal(limit.length, MAX_AUTHORIZATION_LENGTH);
  assert.equal(extractAuthorityToken(limit).token.length, MAX_AUTHORIZATION_LENGTH - 7);
});

Deno.test("extractAuthorityToken's malformed denials carry an invalid_request challenge", () => {
  const denial = assertDenied(`Digest ${TOKEN}`, "credentials_malformed");
  assert.equal(denial.rendering.status, 401);
  assert.equal(denial.rendering.challengeError, "invalid_request");
  const missing = assertDenied(undefined, "credentials_missing");
  assert.equal(missing.rendering.status, 401);
  assert.equal(missing.rendering.challengeError, undefined);
});

Deno.test("authorityTokenOf reads the Authorization header of a GET credential", () => {
  assert.deepEqual(authorityTokenOf({ authorization: basic(TOKEN, "anyone") }), {
    token: TOKEN,
    scheme: "basic",
  });
});

Deno.test("authorityTokenOf takes a form credential from the field its grant names", () => {
  for (const formField of ["password", "refresh_token"] as const) {
    assert.deepEqual(authorityTokenOf({ formField, value: TOKEN }), {
      token: TOKEN,
      scheme: "form",
    });
  }
});

Deno.test("authorityTokenOf refuses an empty or oversized form credential", () => {
  for (const value of [undefined, ""]) {
    assert.throws(
      () => authorityTokenOf({ formField: "password", value }),
      (error) => error instanceof Denial && error.reason === "credentials_missing",
    );
  }
  assert.throws(
    () =>
      authorityTokenOf({
        formField: "refresh_token",
        value: "x".repeat(MAX_AUTHORIZATION_LENGTH + 1),
      }),
    (error) => error instanceof Denial && error.reason === "credentials_malformed",
  );
});
