import assert from "node:assert/strict";
import { parseClaimName, readClaim } from "../src/claims.ts";

const CLAIMS = {
  groups: ["dev", "ops"],
  "stellaops:plan": "ci",
  "https://example.com/roles": ["admin"],
  realm_access: { roles: ["pull-all"] },
  "a/b": { "m~n": "escaped" },
};

Deno.test("a claim name without a leading slash is one top-level claim, colons and URLs included", () => {
  assert.equal(readClaim(CLAIMS, parseClaimName("stellaops:plan")), "ci");
  assert.deepEqual(readClaim(CLAIMS, parseClaimName("https://example.com/roles")), ["admin"]);
  assert.deepEqual(readClaim(CLAIMS, parseClaimName("groups")), ["dev", "ops"]);
});

Deno.test("a claim name with a leading slash is a JSON Pointer into nested claims", () => {
  assert.deepEqual(readClaim(CLAIMS, parseClaimName("/realm_access/roles")), ["pull-all"]);
  assert.equal(readClaim(CLAIMS, parseClaimName("/groups/1")), "ops");
  assert.equal(readClaim(CLAIMS, parseClaimName("/a~1b/m~0n")), "escaped");
});

Deno.test("a JSON Pointer that leaves the claims finds nothing instead of failing", () => {
  for (const name of ["/missing", "/groups/2", "/groups/01", "/groups/-", "/stellaops:plan/x"]) {
    assert.equal(readClaim(CLAIMS, parseClaimName(name)), undefined, name);
  }
  assert.equal(readClaim(CLAIMS, parseClaimName("/constructor")), undefined);
  assert.equal(readClaim(CLAIMS, parseClaimName("toString")), undefined);
});

Deno.test("parseClaimName refuses empty names, bad ~ escapes and overlong names", () => {
  assert.throws(() => parseClaimName(""), /empty/);
  assert.throws(() => parseClaimName("/a~2b"), /JSON Pointer/);
  assert.throws(() => parseClaimName("x".repeat(257)), /at most 256/);
});
