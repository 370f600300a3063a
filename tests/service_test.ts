import assert from "node:assert/strict";
import { carryOver, createService, type Service, type ServiceIo } from "../src/service.ts";
import { createLogger } from "../src/observability/logger.ts";
import { createTokenMetrics } from "../src/observability/metrics.ts";
import { basic, createTestAuthority, NOW, NOW_SECONDS } from "./support/authority.ts";
import { REGISTRY, testOptions } from "./support/service.ts";

const authority = await createTestAuthority();

/** The in-memory JWKS file `serviceDocument` points the Authority at. */
const JWKS_PATH = "memory:authority-jwks.json";
const JWKS_URI = "https://authority.test/jwks";
const fileAuthority = { Issuer: authority.issuer, JwksPath: JWKS_PATH };
const remoteAuthority = { Issuer: authority.issuer, JwksUri: JWKS_URI };

/** Builds a service for `patch` as a reload of `previous` would; `reads` collects files read. */
function build(
  patch: Record<string, unknown> = {},
  previous?: Service,
  reads: string[] = [],
  fetch: typeof globalThis.fetch = () =>
    Promise.reject(new Error("tests must not reach the network")),
): Promise<Service> {
  const jwks = new TextEncoder().encode(JSON.stringify(authority.jwks));
  const io: ServiceIo = {
    readFile: (path) => {
      reads.push(path);
      return path === JWKS_PATH ? Promise.resolve(jwks) : Deno.readFile(path);
    },
    fetch,
    now: () => NOW,
    randomId: () => crypto.randomUUID(),
    logger: createLogger(() => {}, () => NOW),
    metrics: createTokenMetrics([]),
  };
  return createService(testOptions(authority, patch), io, previous);
}

Deno.test("the first service carries nothing over", () => {
  assert.deepEqual(carryOver(undefined, testOptions(authority)), {});
});

Deno.test("a reload keeps the DPoP replay cache so a proof cannot be replayed across it", async () => {
  const first = await build();
  assert.equal(
    first.dpopState.replay.remember("caller", "proof-1", NOW_SECONDS + 60, NOW_SECONDS),
    "fresh",
  );
  // Even a new cache size keeps it: a fresh cache would forget the proof.
  const next = await build(
    { Authority: { ...fileAuthority, DPoP: { ReplayCacheSize: 5_000 } } },
    first,
  );
  assert.equal(
    next.dpopState.replay.remember("caller", "proof-1", NOW_SECONDS + 60, NOW_SECONDS),
    "replayed",
  );
});

Deno.test("a reload keeps DPoP nonces while their lifetime is unchanged", async () => {
  const nonces = { ...fileAuthority, DPoP: { RequireNonce: true, NonceLifetime: 60 } };
  const first = await build({ Authority: nonces });
  const nonce = first.dpopState.nonces!.current(NOW_SECONDS);
  const next = await build({ Authority: nonces, DefaultPlan: "ci" }, first);
  assert.equal(next.dpopState.nonces, first.dpopState.nonces);
  assert.ok(next.dpopState.nonces!.accepts(nonce, NOW_SECONDS), "a nonce handed out before");
});

Deno.test("a changed nonce lifetime starts fresh nonces, and nonces no longer required are dropped", async () => {
  const withLifetime = (seconds: number) => ({
    Authority: { ...fileAuthority, DPoP: { RequireNonce: true, NonceLifetime: seconds } },
  });
  const first = await build(withLifetime(60));
  const nonce = first.dpopState.nonces!.current(NOW_SECONDS);
  const longer = await build(withLifetime(120), first);
  assert.ok(longer.dpopState.nonces);
  assert.notEqual(longer.dpopState.nonces, first.dpopState.nonces);
  assert.equal(longer.dpopState.nonces.accepts(nonce, NOW_SECONDS), false);

  const off = await build({ Authority: fileAuthority }, longer);
  assert.equal(off.dpopState.nonces, undefined);
  const required = testOptions(authority, withLifetime(120));
  assert.equal(
    carryOver(off, required).nonces,
    undefined,
    "a service without nonces hands none on",
  );
});

Deno.test("an unchanged failure limit keeps the budget, so a reload refills no bucket", async () => {
  const limit = { Server: { FailedAuthLimit: { Burst: 5, PerMinute: 10 } } };
  const first = await build(limit);
  const next = await build({ ...limit, DefaultPlan: "ci" }, first);
  assert.equal(next.failures, first.failures);
});

Deno.test("a changed failure limit starts a fresh budget", async () => {
  const first = await build({ Server: { FailedAuthLimit: { Burst: 5, PerMinute: 10 } } });
  for (const changed of [{ Burst: 6, PerMinute: 10 }, { Burst: 5, PerMinute: 11 }]) {
    const next = await build({ Server: { FailedAuthLimit: changed } }, first);
    assert.notEqual(next.failures, first.failures, JSON.stringify(changed));
  }
});

Deno.test("a JWKS file is re-read on every reload", async () => {
  const reads: string[] = [];
  const first = await build({ Authority: fileAuthority }, undefined, reads);
  const next = await build({ Authority: fileAuthority }, first, reads);
  assert.equal(reads.filter((path) => path === JWKS_PATH).length, 2);
  assert.notEqual(next.authorityKeys.get("default"), first.authorityKeys.get("default"));
});

Deno.test("remote Authority keys survive a reload that keeps their issuer and location", async () => {
  const first = await build({ Authority: remoteAuthority });
  const next = await build({ Authority: remoteAuthority, DefaultPlan: "ci" }, first);
  assert.equal(next.authorityKeys.get("default"), first.authorityKeys.get("default"));

  const discovery = { Issuer: authority.issuer, MetadataAddress: `${authority.issuer}/meta` };
  const viaDiscovery = await build({ Authority: discovery });
  const again = await build({ Authority: discovery }, viaDiscovery);
  assert.equal(again.authorityKeys.get("default"), viaDiscovery.authorityKeys.get("default"));
});

Deno.test("a changed issuer or key location fetches Authority keys afresh", async () => {
  const first = await build({ Authority: remoteAuthority });
  const changes = {
    "another JWKS URL": { ...remoteAuthority, JwksUri: `${JWKS_URI}/2` },
    "another issuer": { ...remoteAuthority, Issuer: "https://elsewhere.test" },
    "discovery instead": { Issuer: authority.issuer, MetadataAddress: JWKS_URI },
    "a JWKS file instead": fileAuthority,
  };
  for (const [change, section] of Object.entries(changes)) {
    const next = await build({ Authority: section }, first);
    assert.notEqual(next.authorityKeys.get("default"), first.authorityKeys.get("default"), change);
  }
});

/** Names the stateful parts of `service` as their `close` is called. */
function closedParts(service: Service): string[] {
  const closed: string[] = [];
  const { dpopState: { replay, nonces }, failures } = service;
  const authorityKeys = service.authorityKeys.get("default");
  for (const [name, part] of Object.entries({ authorityKeys, replay, nonces, failures })) {
    if (!part) continue;
    const close = part.close;
    part.close = () => (closed.push(name), close());
  }
  return closed;
}

/** A fetch that answers with the Authority's JWKS once released, noting fetches aborted meanwhile. */
function heldAuthority() {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const aborted: string[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const signal = init?.signal;
    let answered = false;
    const cutShort = new Promise((_, reject) =>
      signal?.addEventListener("abort", () => {
        if (!answered) aborted.push(String(input));
        reject(signal.reason);
      })
    );
    await Promise.race([released, cutShort]);
    answered = true;
    return Response.json(authority.jwks);
  };
  return { fetch, release, aborted };
}

Deno.test("closing a replaced service leaves what its successor carried over to the successor", async () => {
  const first = await build({ Server: { FailedAuthLimit: { Burst: 5, PerMinute: 10 } } });
  const closed = closedParts(first);
  const next = await build({ Server: { FailedAuthLimit: { Burst: 6, PerMinute: 10 } } }, first);
  await first.close(next);
  assert.deepEqual(closed, ["authorityKeys", "failures"], "the JWKS file keys and the old budget");

  await next.close();
  assert.deepEqual(closed, ["authorityKeys", "failures", "replay"], "a stop closes the rest");
});

Deno.test("carried-over Authority keys keep fetching; keys left behind abort their fetch quietly", async () => {
  const authorityNet = heldAuthority();
  const first = await build({ Authority: remoteAuthority }, undefined, [], authorityNet.fetch);
  const prefetch = first.authorityKeys.get("default")!.refresh();
  const next = await build({ Authority: remoteAuthority, DefaultPlan: "ci" }, first);
  await first.close(next);
  assert.deepEqual(authorityNet.aborted, [], "the successor still uses the fetch under way");

  const moved = await build({ Authority: { ...remoteAuthority, JwksUri: `${JWKS_URI}/2` } }, next);
  await next.close(moved);
  assert.deepEqual(authorityNet.aborted, [JWKS_URI]);
  await prefetch; // settles without an error: nobody is left to report it to
  assert.equal(first.authorityKeys.get("default")!.ready(), false);
  await moved.close();
});

Deno.test("a replaced service answers the requests it took before it closes", async () => {
  const authorityNet = heldAuthority();
  const first = await build({ Authority: remoteAuthority }, undefined, [], authorityNet.fetch);
  const token = await authority.token();
  const events: string[] = [];
  const answer = Promise.resolve(
    first.fetch(
      new Request(`https://tokens.test/token?service=${REGISTRY}`, {
        headers: { authorization: basic(token) },
      }),
    ),
  ).then((response) => (events.push("answered"), response));
  const moved = await build({ Authority: { ...remoteAuthority, JwksUri: `${JWKS_URI}/2` } }, first);
  const closing = first.close(moved).then(() => events.push("closed"));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(events, [], "the request still waits for the Authority's keys");

  authorityNet.release();
  await closing;
  assert.deepEqual(events, ["answered", "closed"]);
  assert.equal((await answer).status, 200);
  assert.deepEqual(authorityNet.aborted, [], "its key fetch was never cut short");
  await moved.close();
});
