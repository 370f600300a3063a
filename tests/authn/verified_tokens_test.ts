import assert from "node:assert/strict";
import type { Caller } from "../../src/authn/caller.ts";
import {
  createVerifiedTokenCache,
  REFUSAL_MEMORY_SECONDS,
} from "../../src/authn/verified_tokens.ts";
import { Denial } from "../../src/denial.ts";

const caller = (expiresAt: number, notBefore?: number): Caller => ({
  authority: "default",
  subject: "ci-bot",
  claims: {},
  validity: { expiresAt, notBefore },
});
const at = (seconds: number) => new Date(seconds * 1000);

Deno.test("a verified token is remembered until its exp plus the clock skew", async () => {
  const cache = createVerifiedTokenCache(100, 60);
  let verifications = 0;
  const verify = () => {
    verifications++;
    return Promise.resolve(caller(1_000));
  };
  await cache.authenticate("token-a", at(900), verify);
  await cache.authenticate("token-a", at(1_059), verify);
  assert.equal(verifications, 1, "the second presentation skipped verification");
  await cache.authenticate("token-a", at(1_060), verify);
  assert.equal(verifications, 2, "after exp + skew it is verified again (and would fail)");
});

Deno.test("a token refused for its own fault is refused again without a second check", async () => {
  const cache = createVerifiedTokenCache(100, 60);
  let verifications = 0;
  const refuse = () => {
    verifications++;
    return Promise.reject(new Denial("token_signature_invalid", "bad"));
  };
  for (let i = 0; i < 3; i++) {
    await assert.rejects(cache.authenticate("forged", at(900), refuse), /bad/);
  }
  assert.equal(verifications, 1);
  await assert.rejects(cache.authenticate("forged", at(900 + REFUSAL_MEMORY_SECONDS), refuse));
  assert.equal(verifications, 2, "the refusal is remembered for a bounded time");
});

Deno.test("a refusal that may not last (unknown key, Authority down) is never remembered", async () => {
  const cache = createVerifiedTokenCache(100, 60);
  let verifications = 0;
  for (
    const reason of ["token_key_unknown", "authority_unavailable", "token_not_yet_valid"] as const
  ) {
    const refuse = () => {
      verifications++;
      return Promise.reject(new Denial(reason, "not now"));
    };
    for (let i = 0; i < 2; i++) {
      await assert.rejects(cache.authenticate(`token-${reason}`, at(900), refuse), Denial);
    }
  }
  assert.equal(verifications, 6);
});

Deno.test("a remembered token is not used before its nbf", async () => {
  const cache = createVerifiedTokenCache(100, 10);
  let verifications = 0;
  const verify = () => {
    verifications++;
    return Promise.resolve(caller(2_000, 1_000));
  };
  await cache.authenticate("token-b", at(1_500), verify);
  await cache.authenticate("token-b", at(980), verify);
  assert.equal(verifications, 2);
});

Deno.test("the cache is bounded and a size of 0 disables it", async () => {
  const bounded = createVerifiedTokenCache(2, 0);
  let verifications = 0;
  const verify = () => {
    verifications++;
    return Promise.resolve(caller(10_000));
  };
  for (const token of ["a", "b", "c", "a"]) await bounded.authenticate(token, at(1), verify);
  assert.equal(verifications, 4, "a was evicted by c");
  const disabled = createVerifiedTokenCache(0, 0);
  verifications = 0;
  for (let i = 0; i < 3; i++) await disabled.authenticate("a", at(1), verify);
  assert.equal(verifications, 3);
});

Deno.test("concurrent presentations of one token share a single verification", async () => {
  const cache = createVerifiedTokenCache(100, 0);
  let verifications = 0;
  const verify = async () => {
    verifications++;
    await new Promise((resolve) => setTimeout(resolve, 10));
    return caller(10_000);
  };
  await Promise.all(Array.from({ length: 20 }, () => cache.authenticate("same", at(1), verify)));
  assert.equal(verifications, 1);
});

Deno.test("a remembered refusal lapses when the Authority's key set changes", async () => {
  let keySet = 1;
  const cache = createVerifiedTokenCache(100, 60, () => keySet);
  let verifications = 0;
  const refuse = () => {
    verifications++;
    return Promise.reject(new Denial("token_signature_invalid", "bad"));
  };
  await assert.rejects(cache.authenticate("rotated", at(900), refuse));
  await assert.rejects(cache.authenticate("rotated", at(901), refuse));
  assert.equal(verifications, 1);
  keySet = 2;
  const accepted = await cache.authenticate(
    "rotated",
    at(902),
    () => Promise.resolve(caller(2_000)),
  );
  assert.equal(accepted.validity.expiresAt, 2_000, "verified again with the new keys");
});
