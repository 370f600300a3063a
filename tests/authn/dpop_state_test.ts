import assert from "node:assert/strict";
import { acceptedProof } from "../support/dpop.ts";
import { createNonceSource, createReplayCache } from "../../src/authn/dpop_state.ts";
import { normaliseHtu, recordProof, type ReplayCache } from "../../src/authn/dpop.ts";
import { Denial } from "../../src/denial.ts";

/** A proof's id as `verifyDpopProof` makes it: its key's thumbprint and its `jti`. */
const proofId = (key: string, jti: string) => `${key}:${jti}`;

Deno.test("the replay cache recognises a proof until it expires", async () => {
  const cache = createReplayCache(1_000);
  assert.equal(
    await cache.remember("caller-1", acceptedProof(proofId("key-1", "a"), 100, 160), 100),
    "fresh",
  );
  assert.equal(
    await cache.remember("caller-1", acceptedProof(proofId("key-1", "a"), 150, 160), 150),
    "replayed",
  );
  assert.equal(
    await cache.remember("caller-1", acceptedProof(proofId("key-2", "a"), 150, 160), 150),
    "fresh",
    "the same jti from another key",
  );
  assert.equal(
    await cache.remember("caller-1", acceptedProof(proofId("key-1", "a"), 161, 260), 161),
    "fresh",
    "an expired entry may be used again",
  );
});

Deno.test("a proof once used is a replay whoever it is charged to next", async () => {
  const cache = createReplayCache(1_000);
  assert.equal(
    await cache.remember(
      "https://ci.test ci-bot",
      acceptedProof(proofId("key-1", "a"), 100, 160),
      100,
    ),
    "fresh",
  );
  // A reload that names the subject by another claim charges the same proof to another owner.
  assert.equal(
    await cache.remember(
      "https://ci.test team/app",
      acceptedProof(proofId("key-1", "a"), 101, 160),
      101,
    ),
    "replayed",
  );
});

Deno.test("a proof presented again after expiry frees its first owner's share, not the presenter's", async () => {
  const cache = createReplayCache(1_000);
  let now = 0;
  for (let i = 0; i < 100; i++) {
    assert.equal(
      await cache.remember("alice", acceptedProof(proofId("k", `${i}`), now, now + 70), now),
      "fresh",
    );
    now += 100;
    assert.equal(
      await cache.remember("bob", acceptedProof(proofId("k", `${i}`), now, now + 70), now),
      "fresh",
    );
  }
  now += 1_000;
  assert.equal(
    await cache.remember("alice", acceptedProof(proofId("k", "new"), now, now + 70), now),
    "fresh",
  );
});

Deno.test("a full replay cache sweeps expired entries and refuses rather than forgets live ones", async () => {
  const cache = createReplayCache(20);
  for (let owner = 0; owner < 10; owner++) {
    assert.equal(
      await cache.remember(
        `caller-${owner}`,
        acceptedProof(proofId(`key-${owner}`, "a"), 100, 110),
        100,
      ),
      "fresh",
    );
    assert.equal(
      await cache.remember(
        `caller-${owner}`,
        acceptedProof(proofId(`key-${owner}`, "b"), 100, 200),
        100,
      ),
      "fresh",
    );
  }
  assert.equal(
    await cache.remember("caller-new", acceptedProof(proofId("key-new", "c"), 105, 200), 105),
    "full",
    "nothing has expired yet",
  );
  assert.equal(
    await cache.remember("caller-new", acceptedProof(proofId("key-new", "c"), 111, 200), 111),
    "fresh",
    "expired entries made room",
  );
  assert.equal(
    await cache.remember("caller-3", acceptedProof(proofId("key-3", "b"), 150, 300), 150),
    "replayed",
    "live entries were not forgotten",
  );
});

Deno.test("one owner cannot take more than a tenth of the replay cache", async () => {
  const cache = createReplayCache(1_000);
  for (let i = 0; i < 100; i++) {
    assert.equal(
      await cache.remember(
        "greedy",
        acceptedProof(proofId("greedy-key", `jti-${i}`), 100, 500),
        100,
      ),
      "fresh",
    );
  }
  assert.equal(
    await cache.remember("greedy", acceptedProof(proofId("greedy-key", "jti-100"), 100, 500), 100),
    "full",
  );
  assert.equal(
    await cache.remember(
      "someone-else",
      acceptedProof(proofId("other-key", "jti-0"), 100, 500),
      100,
    ),
    "fresh",
    "others are not affected",
  );
  assert.equal(
    await cache.remember("greedy", acceptedProof(proofId("greedy-key", "jti-101"), 501, 600), 501),
    "fresh",
    "its old proofs expired",
  );
});

Deno.test("nonces rotate each lifetime and the previous one is still accepted", async () => {
  let counter = 0;
  const nonces = createNonceSource(60, () => `nonce-${++counter}`);
  const first = await nonces.current(0);
  assert.equal(await nonces.current(59), first);
  assert.ok(await nonces.accepts(first, 30));
  const second = await nonces.current(60);
  assert.notEqual(second, first);
  assert.ok(await nonces.accepts(first, 61), "the previous nonce still works");
  assert.ok(!await nonces.accepts(first, 121), "two lifetimes later it does not");
  assert.ok(!await nonces.accepts("made-up", 61));
});

Deno.test("normaliseHtu follows RFC 3986 syntax- and scheme-based normalisation", () => {
  assert.equal(
    normaliseHtu("HTTPS://Example.COM:443/a/./b/../token?q#f"),
    "https://example.com/a/token",
  );
  assert.equal(normaliseHtu("http://example.com:80/%7euser/%2f"), "http://example.com/~user/%2F");
  assert.equal(normaliseHtu("http://example.com:8080/token"), "http://example.com:8080/token");
  assert.equal(normaliseHtu("ftp://example.com/token"), "");
  assert.equal(normaliseHtu("not a url"), "");
});

Deno.test("recordProof lets a proof through only when the cache says fresh", async () => {
  const answering = (outcome: string): ReplayCache => ({
    remember: () => Promise.resolve(outcome as "fresh"),
    close: () => Promise.resolve(),
  });
  const proof = acceptedProof("key:jti", 100, 710);
  await recordProof(answering("fresh"), "caller", proof, 100);
  const reasons = { replayed: "dpop_proof_replayed", full: "dpop_replay_cache_full" };
  for (const [outcome, reason] of Object.entries(reasons)) {
    await assert.rejects(
      recordProof(answering(outcome), "caller", proof, 100),
      (error) => error instanceof Denial && error.reason === reason,
    );
  }
  // A backend that lost its records, and one answering what it never should: refused alike.
  for (const outcome of ["predates", "OK", ""]) {
    await assert.rejects(
      recordProof(answering(outcome), "caller", proof, 100),
      (error) => error instanceof Denial && error.reason === "dpop_proof_invalid",
      outcome,
    );
  }
});
