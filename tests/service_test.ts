import assert from "node:assert/strict";
import { carryOver, createService, type Service, type ServiceIo } from "../src/service.ts";
import { createLogger } from "../src/observability/logger.ts";
import { createTokenMetrics } from "../src/observability/metrics.ts";
import { basic, createTestAuthority, NOW, NOW_SECONDS } from "./support/authority.ts";
import { acceptedProof, createDpopKey, dpopProof, jwkThumbprint } from "./support/dpop.ts";
import { assertConfigErrorAsync } from "./support/config.ts";
import { REGISTRY, testOptions } from "./support/service.ts";

const authority = await createTestAuthority();

/** The in-memory JWKS file `serviceDocument` points the Authority at. */
const JWKS_PATH = "memory:authority-jwks.json";
const JWKS_URI = "https://authority.test/jwks";
const fileAuthority = { Issuer: authority.issuer, JwksPath: JWKS_PATH };
/** A second Authority, a CI issuer, whose JWKS file is also in memory. */
const ci = await createTestAuthority("https://ci.test", "ci-key");
const CI_JWKS_PATH = "memory:ci-jwks.json";
const ciAuthority = { Name: "ci", Issuer: ci.issuer, JwksPath: CI_JWKS_PATH, RequiredScopes: [] };
const MEMORY_FILES = new Map([
  [JWKS_PATH, new TextEncoder().encode(JSON.stringify(authority.jwks))],
  [CI_JWKS_PATH, new TextEncoder().encode(JSON.stringify(ci.jwks))],
]);

/** A patch replacing `Authority` with the `Authorities` list `items`. */
function listed(...items: Record<string, unknown>[]) {
  return { Authority: undefined, Authorities: items };
}
const remoteAuthority = { Issuer: authority.issuer, JwksUri: JWKS_URI };

/** The services' clock; a test that moves it puts it back. */
let clock = NOW;

/** Builds a service for `patch` as a reload of `previous` would; `reads` collects files read. */
function build(
  patch: Record<string, unknown> = {},
  previous?: Service,
  reads: string[] = [],
  fetch: typeof globalThis.fetch = () =>
    Promise.reject(new Error("tests must not reach the network")),
): Promise<Service> {
  const io: ServiceIo = {
    readFile: (path) => {
      reads.push(path);
      const jwks = MEMORY_FILES.get(path);
      return jwks ? Promise.resolve(jwks) : Deno.readFile(path);
    },
    fetch,
    now: () => clock,
    randomId: () => crypto.randomUUID(),
    logger: createLogger(() => {}, () => clock),
    metrics: createTokenMetrics(),
  };
  return createService(testOptions(authority, patch), io, previous);
}

Deno.test("the first service carries nothing over", () => {
  assert.deepEqual(carryOver(undefined, testOptions(authority)), {});
});

Deno.test("a reload keeps the DPoP replay cache so a proof cannot be replayed across it", async () => {
  const first = await build();
  assert.equal(
    await first.dpopState.replay.remember(
      "caller",
      acceptedProof("proof-1", NOW_SECONDS, NOW_SECONDS + 60),
      NOW_SECONDS,
    ),
    "fresh",
  );
  // Even a new cache size keeps it: a fresh cache would forget the proof.
  const next = await build(
    { Authority: { ...fileAuthority, DPoP: { ReplayCacheSize: 5_000 } } },
    first,
  );
  assert.equal(
    await next.dpopState.replay.remember(
      "caller",
      acceptedProof("proof-1", NOW_SECONDS, NOW_SECONDS + 60),
      NOW_SECONDS,
    ),
    "replayed",
  );
});

Deno.test("a reload keeps DPoP nonces while their lifetime is unchanged", async () => {
  const nonces = { ...fileAuthority, DPoP: { RequireNonce: true, NonceLifetime: 60 } };
  const first = await build({ Authority: nonces });
  const nonce = await first.dpopState.nonces!.current(NOW_SECONDS);
  const next = await build({ Authority: nonces, DefaultPlan: "ci" }, first);
  assert.equal(next.dpopState.nonces, first.dpopState.nonces);
  assert.ok(await next.dpopState.nonces!.accepts(nonce, NOW_SECONDS), "a nonce handed out before");
});

Deno.test("a changed nonce lifetime starts fresh nonces, and nonces no longer required are dropped", async () => {
  const withLifetime = (seconds: number) => ({
    Authority: { ...fileAuthority, DPoP: { RequireNonce: true, NonceLifetime: seconds } },
  });
  const first = await build(withLifetime(60));
  const nonce = await first.dpopState.nonces!.current(NOW_SECONDS);
  const longer = await build(withLifetime(120), first);
  assert.ok(longer.dpopState.nonces);
  assert.notEqual(longer.dpopState.nonces, first.dpopState.nonces);
  assert.equal(await longer.dpopState.nonces.accepts(nonce, NOW_SECONDS), false);

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

// --- several Authorities ----------------------------------------------------------------------

Deno.test("a reload carries each Authority's remote keys over by Name", async () => {
  const remoteCi = { Name: "ci", Issuer: ci.issuer, JwksUri: "https://ci.test/jwks" };
  const stellaops = { Name: "stellaops", ...remoteAuthority };
  const first = await build(listed(stellaops, remoteCi));
  const keys = (service: Service, name: string) => service.authorityKeys.get(name);
  const moved = await build(
    listed(stellaops, { ...remoteCi, JwksUri: "https://ci.test/jwks/2" }),
    first,
  );
  assert.equal(keys(moved, "stellaops"), keys(first, "stellaops"), "unchanged: kept");
  assert.notEqual(keys(moved, "ci"), keys(first, "ci"), "another location: fetched afresh");
  const renamed = await build(listed({ ...stellaops, Name: "authority" }, remoteCi), moved);
  assert.notEqual(keys(renamed, "authority"), keys(moved, "stellaops"), "matched by Name");
  assert.equal(renamed.authorityKeys.has("stellaops"), false);
  const single = await build({ Authority: remoteAuthority }, first);
  assert.notEqual(keys(single, "default"), keys(first, "stellaops"));
  assert.deepEqual([...single.authorityKeys.keys()], ["default"]);
});

Deno.test("close() closes every Authority's keys, except those carried over", async () => {
  const first = await build(listed({ Name: "stellaops", ...remoteAuthority }, ciAuthority));
  const closed: string[] = [];
  for (const [name, keys] of first.authorityKeys) {
    const close = keys.close;
    keys.close = () => (closed.push(name), close());
  }
  const next = await build(listed({ Name: "stellaops", ...remoteAuthority }, ciAuthority), first);
  await first.close(next);
  assert.deepEqual(closed, ["ci"], "the JWKS file keys; the remote ones went on");
  await next.close();
  assert.deepEqual(closed, ["ci", "stellaops"], "a stop closes the keys it was handed, too");
});

Deno.test("a JWKS file that cannot be read names its own Authority's key", async () => {
  await assertConfigErrorAsync(
    build(
      listed({ Name: "stellaops", ...fileAuthority }, {
        ...ciAuthority,
        JwksPath: "/nonexistent/jwks.json",
      }),
    ),
    "RegistryTokenService:Authorities:1:JwksPath",
    /No such file|not found/i,
  );
});

Deno.test("every Authority shares one replay cache, sized for them all, and one nonce source", async () => {
  const nonces = (lifetime: number) => ({ RequireNonce: true, NonceLifetime: lifetime });
  const service = await build(listed(
    { Name: "stellaops", ...fileAuthority, DPoP: { ...nonces(120), ReplayCacheSize: 1_000 } },
    { ...ciAuthority, DPoP: { ...nonces(60), ReplayCacheSize: 1_000 } },
    {
      Name: "k8s",
      Issuer: "https://k8s.test",
      JwksPath: CI_JWKS_PATH,
      DPoP: { ReplayCacheSize: 1_000 },
    },
  ));
  // 3 × 1000 entries, a tenth per owner: 300 for one owner fit, the 301st does not.
  const { replay, nonces: source } = service.dpopState;
  for (let i = 0; i < 300; i++) {
    assert.equal(
      await replay.remember(
        "owner",
        acceptedProof(`proof-${i}`, NOW_SECONDS, NOW_SECONDS + 60),
        NOW_SECONDS,
      ),
      "fresh",
    );
  }
  assert.equal(
    await replay.remember(
      "owner",
      acceptedProof("proof-300", NOW_SECONDS, NOW_SECONDS + 60),
      NOW_SECONDS,
    ),
    "full",
  );
  // The shortest lifetime: a nonce of the epoch before last is no longer accepted 120 s on.
  const nonce = await source!.current(NOW_SECONDS);
  assert.ok(await source!.accepts(nonce, NOW_SECONDS + 60));
  assert.equal(await source!.accepts(nonce, NOW_SECONDS + 120), false);
  // Kept by a reload while that shortest lifetime is unchanged, whatever the others do.
  const next = await build(
    listed(
      { Name: "stellaops", ...fileAuthority, DPoP: nonces(600) },
      { ...ciAuthority, DPoP: nonces(60) },
    ),
    service,
  );
  assert.equal(next.dpopState.nonces, source);
  assert.equal(next.dpopState.replay, replay);
});

Deno.test("a DPoP proof accepted once is refused after a reload renames or moves its Authority", async () => {
  const key = await createDpopKey();
  const token = await authority.token({
    claims: { cnf: { jkt: await jwkThumbprint(key.publicJwk) } },
  });
  const proof = await dpopProof(key, {
    htm: "GET",
    htu: "https://tokens.test/token",
    accessToken: token,
    iat: NOW_SECONDS,
  });
  const ask = (service: Service) =>
    Promise.resolve(service.fetch(
      new Request(`https://tokens.test/token?service=${REGISTRY}`, {
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      }),
    ));
  const first = await build({ Authority: fileAuthority });
  assert.equal((await ask(first)).status, 200);
  const renamed = await build(listed({ Name: "stellaops", ...fileAuthority }), first);
  const replayed = await ask(renamed);
  assert.equal(replayed.status, 401);
  assert.equal((await replayed.json()).errors[0].detail.reason, "dpop_proof_replayed");
  const moved = await build(listed(ciAuthority, { Name: "authority", ...fileAuthority }), renamed);
  assert.equal((await (await ask(moved)).json()).errors[0].detail.reason, "dpop_proof_replayed");
});

Deno.test("a DPoP proof accepted once is refused after a reload raises ProofMaxAge", async () => {
  const key = await createDpopKey();
  const token = await authority.token({
    claims: { cnf: { jkt: await jwkThumbprint(key.publicJwk) }, exp: NOW_SECONDS + 3600 },
  });
  const proof = await dpopProof(key, {
    htm: "GET",
    htu: "https://tokens.test/token",
    accessToken: token,
    iat: NOW_SECONDS,
  });
  const ask = async (service: Service) => {
    const answer = await service.fetch(
      new Request(`https://tokens.test/token?service=${REGISTRY}`, {
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      }),
    );
    return answer.status === 200 ? "granted" : (await answer.json()).errors[0].detail.reason;
  };
  const dpop = (ProofMaxAge: number) => ({
    Authority: { ...fileAuthority, SenderConstraint: "dpop", DPoP: { ProofMaxAge } },
    Server: { PublicBaseUrl: "https://tokens.test" },
  });
  const first = await build(dpop(60));
  assert.equal(await ask(first), "granted");
  try {
    // Past the old window (60 s + 10 s), inside the new one: the proof is still on record.
    clock = new Date((NOW_SECONDS + 120) * 1000);
    const raised = await build(dpop(600), first);
    assert.equal(await ask(raised), "dpop_proof_replayed");
  } finally {
    clock = NOW;
  }
});

Deno.test("several workers with state in memory refuse a DPoP-bound token even without a DPoP constraint", async () => {
  const key = await createDpopKey();
  const token = await authority.token({
    claims: { cnf: { jkt: await jwkThumbprint(key.publicJwk) } },
  });
  const ask = async (service: Service) => {
    const proof = await dpopProof(key, {
      htm: "GET",
      htu: "https://tokens.test/token",
      accessToken: token,
      iat: NOW_SECONDS,
    });
    const answer = await service.fetch(
      new Request(`https://tokens.test/token?service=${REGISTRY}`, {
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      }),
    );
    return answer.status === 200 ? "granted" : (await answer.json()).errors[0].detail.reason;
  };
  const server = { PublicBaseUrl: "https://tokens.test", Port: 5055 };
  // Each worker would keep its own replay cache: a proof accepted by one, replayed at another.
  const workers = await build({ Authority: fileAuthority, Server: { ...server, Workers: 2 } });
  assert.equal(await ask(workers), "dpop_not_configured");
  const single = await build({ Authority: fileAuthority, Server: { ...server, Workers: 1 } });
  assert.equal(await ask(single), "granted");
});
