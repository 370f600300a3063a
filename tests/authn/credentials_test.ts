import assert from "node:assert/strict";
import { Denial, type DenialReason } from "../../src/denial.ts";
import {
  authorityTokenOf,
  extractAuthorityToken,
  MAX_AUTHORIZATION_LENGTH,
} from "../../src/authn/credentials.ts";
import { basic } from "../support/authority.ts";

const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjaS1ib3QifQ.c2lnbmF0dXJl";

function assertDenied(authorization: string | null | undefined, reason: DenialReason): Denial {
  let caught: unknown;
  try {
    extractAuthorityToken(authorization);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof Denial, `expected a Denial for ${JSON.stringify(authorization)}`);
  assert.equal(caught.reason, reason);
  return caught;
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

Deno.test("extractAuthorityToken returns a Bearer token", () => {
  assert.equal(extractAuthorityToken(`Bearer ${TOKEN}`), TOKEN);
});

Deno.test("extractAuthorityToken ignores trailing whitespace after the credentials", () => {
  assert.equal(extractAuthorityToken(`Bearer ${TOKEN}  `), TOKEN);
  assert.equal(extractAuthorityToken(`Basic ${base64(`u:${TOKEN}`)} `), TOKEN);
});

Deno.test("extractAuthorityToken matches the scheme case-insensitively", () => {
  assert.equal(extractAuthorityToken(`bearer ${TOKEN}`), TOKEN);
  assert.equal(extractAuthorityToken(`BEARER ${TOKEN}`), TOKEN);
  assert.equal(extractAuthorityToken(`basic ${base64(`u:${TOKEN}`)}`), TOKEN);
  assert.equal(extractAuthorityToken(`BaSiC ${base64(`u:${TOKEN}`)}`), TOKEN);
});

Deno.test("extractAuthorityToken returns the Basic password whatever the username", () => {
  for (const user of ["oauth2accesstoken", "<token>", "anyone", "", "ci-bot@example.com"]) {
    assert.equal(extractAuthorityToken(basic(TOKEN, user)), TOKEN);
  }
  assert.equal(extractAuthorityToken(`Basic ${base64(`jürgen:${TOKEN}`)}`), TOKEN);
});

Deno.test("extractAuthorityToken keeps colons inside the Basic password", () => {
  assert.equal(extractAuthorityToken(`Basic ${base64("user:pa:ss:word")}`), "pa:ss:word");
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
  assert.equal(extractAuthorityToken(limit).length, MAX_AUTHORIZATION_LENGTH - 7);
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
  assert.equal(authorityTokenOf({ authorization: basic(TOKEN, "anyone") }), TOKEN);
});

Deno.test("authorityTokenOf takes a form credential from the field its grant names", () => {
  assert.equal(authorityTokenOf({ formField: "password", value: TOKEN }), TOKEN);
  assert.equal(authorityTokenOf({ formField: "refresh_token", value: TOKEN }), TOKEN);
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
