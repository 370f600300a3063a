import assert from "node:assert/strict";
import { acceptedProof } from "../support/dpop.ts";
import { Denial } from "../../src/denial.ts";
import { createBudget } from "../../src/http/failure_limit.ts";
import type { StateOptions } from "../../src/state/options.ts";
import { createClient } from "@redis/client";
import { openRedisState, type RedisStateIo } from "../../src/state/redis.ts";
import type { SharedState } from "../../src/state/shared.ts";
import { freePort } from "../support/peers.ts";
import { fixture } from "../support/service.ts";
import { startRedis } from "../support/redis.ts";

// One real redis-server for the whole file, on a free loopback port.
const redis = await startRedis("s3cret");
const dir = await Deno.makeTempDir({ prefix: "registry-token-state-" });
await Deno.writeTextFile(`${dir}/password`, "s3cret\n");
let prefixes = 0;

function stateOptions(patch: Partial<StateOptions> = {}): StateOptions {
  return {
    backend: "redis",
    address: redis.address,
    hostPort: `127.0.0.1:${redis.port}`,
    passwordPath: `${dir}/password`,
    keyPrefix: `test-${++prefixes}:`,
    timeoutSeconds: 0.25,
    ...patch,
  };
}

/** What a backend under test was given, recording what it logged and counted. */
function recordingIo() {
  const logs: { level: string; message: string }[] = [];
  const counted = { fallbacks: 0, losses: 0 };
  const io: RedisStateIo = {
    readFile: (path) => Deno.readFile(path),
    logger: { log: (level, message) => void logs.push({ level, message }) },
    metrics: {
      stateFallback: () => void counted.fallbacks++,
      stateDataLost: () => void counted.losses++,
    },
    randomId: () => crypto.randomUUID(),
  };
  return {
    io,
    logs,
    counted,
    logged: (message: string) => logs.some((log) => log.message === message),
  };
}

interface Opened extends ReturnType<typeof recordingIo> {
  readonly state: SharedState;
  readonly fallbacks: () => number;
}

async function open(options = stateOptions()): Promise<Opened> {
  const recording = recordingIo();
  const state = await openRedisState(options, recording.io);
  await ready(state);
  return { ...recording, state, fallbacks: () => recording.counted.fallbacks };
}

async function ready(state: SharedState, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await state.report()).status !== "up") {
    if (Date.now() > deadline) throw new Error("the Redis state never came up");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("redis replay records: a proof is fresh once, in any process, until it expires", async () => {
  const options = stateOptions();
  const [a, b] = [await open(options), await open(options)];
  try {
    const [cacheA, cacheB] = [a.state.replayCache(1_000), b.state.replayCache(1_000)];
    assert.equal(
      await cacheA.remember("caller", acceptedProof("key:jti-1", 1_000, 1_000.5), 1_000),
      "fresh",
    );
    assert.equal(
      await cacheB.remember("caller", acceptedProof("key:jti-1", 1_000, 1_000.5), 1_000),
      "replayed",
    );
    assert.equal(
      await cacheA.remember("other", acceptedProof("key:jti-1", 1_000, 1_000.5), 1_000),
      "replayed",
    );
    // Expiry: the record lasts exactly as long as the proof is acceptable (here half a second).
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(
      await cacheB.remember("caller", acceptedProof("key:jti-1", 1_000.7, 2_000), 1_000.7),
      "fresh",
    );
  } finally {
    await Promise.all([a.state.close(), b.state.close()]);
  }
});

Deno.test("redis replay records: concurrent set-if-absent of one jti from two connections, exactly one fresh", async () => {
  const options = stateOptions();
  const [a, b] = [await open(options), await open(options)];
  try {
    const caches = [a.state.replayCache(1_000), b.state.replayCache(1_000)];
    for (let round = 0; round < 20; round++) {
      const outcomes = await Promise.all(
        Array.from(
          { length: 16 },
          (_, i) => caches[i % 2].remember("c", acceptedProof(`k:${round}`, 1_000, 1_060), 1_000),
        ),
      );
      assert.equal(outcomes.filter((outcome) => outcome === "fresh").length, 1, `round ${round}`);
      assert.equal(outcomes.filter((outcome) => outcome === "replayed").length, 15);
    }
  } finally {
    await Promise.all([a.state.close(), b.state.close()]);
  }
});

Deno.test("redis replay records: a caller holds at most a tenth of the capacity, all callers at most all of it", async () => {
  const options = stateOptions();
  const [a, b] = [await open(options), await open(options)];
  try {
    // Capacity 100: a share of 10 per caller, counted across both processes.
    const [cacheA, cacheB] = [a.state.replayCache(100), b.state.replayCache(100)];
    const record = (cache: typeof cacheA, owner: string, id: string, expiresAt = 1_060) =>
      cache.remember(owner, acceptedProof(id, 1_000, expiresAt), 1_000);
    for (let i = 0; i < 10; i++) {
      assert.equal(await record(i % 2 ? cacheA : cacheB, "greedy", `k:g${i}`), "fresh");
    }
    assert.equal(await record(cacheA, "greedy", "k:g10"), "full");
    assert.equal(await record(cacheB, "greedy", "k:g10"), "full", "the share is one, shared");
    assert.equal(await record(cacheB, "other", "k:o0"), "fresh", "others keep theirs");
    for (let owner = 0; owner < 89; owner++) {
      assert.equal(await record(cacheA, `caller-${owner}`, `k:c${owner}`), "fresh");
    }
    assert.equal(await record(cacheB, "late", "k:late"), "full", "100 records at once at most");
    // Records that expired make room again, in the owner's share and in the whole.
    assert.equal(
      await cacheB.remember("greedy", acceptedProof("k:g11", 1_061, 1_200), 1_061),
      "fresh",
    );
    assert.equal(
      await cacheA.remember("late", acceptedProof("k:late", 1_061, 1_200), 1_061),
      "fresh",
    );
  } finally {
    await Promise.all([a.state.close(), b.state.close()]);
  }
});

Deno.test("redis replay records: after the backend loses its data a proof made before is refused, new ones are fresh, each process says so once", async () => {
  const options = stateOptions({ passwordPath: undefined });
  const lossy = await startRedis();
  const address = { address: lossy.address, hostPort: `127.0.0.1:${lossy.port}` };
  const [a, b] = [
    await open({ ...options, ...address }),
    await open({ ...options, ...address }),
  ];
  try {
    const [cacheA, cacheB] = [a.state.replayCache(100), b.state.replayCache(100)];
    const before = acceptedProof("k:before", 1_000, 1_610);
    assert.equal(await cacheA.remember("c", before, 1_000), "fresh");
    assert.equal(await cacheB.remember("c", before, 1_001), "replayed");
    // An outage that takes the data with it (no persistence): the record of `before` is gone.
    await lossy.stop();
    await lossy.start();
    await Promise.all([ready(a.state), ready(b.state)]);
    assert.equal(await cacheA.remember("c", before, 1_100), "predates");
    assert.equal(await cacheB.remember("c", before, 1_100), "predates");
    assert.equal(
      await cacheB.remember("c", acceptedProof("k:after", 1_100, 1_710), 1_100),
      "fresh",
    );
    assert.equal(
      await cacheA.remember("c", acceptedProof("k:after", 1_100, 1_710), 1_100),
      "replayed",
    );
    // Made a moment before the new records began (iat is in whole seconds): still accepted.
    assert.equal(
      await cacheA.remember("c", acceptedProof("k:just-before", 1_099, 1_709), 1_100),
      "fresh",
    );
    for (const process of [a, b]) {
      assert.equal(process.counted.losses, 1);
      assert.equal(
        process.logs.filter(({ message }) =>
          message === "shared state lost its DPoP replay records"
        ).length,
        1,
        JSON.stringify(process.logs),
      );
    }
  } finally {
    await Promise.all([a.state.close(), b.state.close()]);
    await lossy.stop();
  }
});

Deno.test("redis replay records: a restart from an older RDB file is a loss too: a proof recorded after the save is refused", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "registry-token-rdb-" });
  const restored = await startRedis(undefined, undefined, undefined, dataDir);
  const options = stateOptions({
    passwordPath: undefined,
    address: restored.address,
    hostPort: `127.0.0.1:${restored.port}`,
  });
  const process = await open(options);
  try {
    const cache = process.state.replayCache(100);
    assert.equal(await cache.remember("c", acceptedProof("k:saved", 1_000, 1_610), 1_000), "fresh");
    const admin = createClient({ url: restored.address });
    await admin.connect();
    await admin.sendCommand(["SAVE"]);
    await admin.close();
    const after = acceptedProof("k:after-save", 1_001, 1_611);
    assert.equal(await cache.remember("c", after, 1_001), "fresh");
    // A crash, and a start from the snapshot: the generation record is back, `after` is not.
    await restored.stop();
    await restored.start();
    await ready(process.state);
    assert.equal(await cache.remember("c", after, 1_100), "predates");
    assert.equal(process.counted.losses, 1);
  } finally {
    await process.state.close();
    await restored.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("redis nonces: a nonce one process issues is accepted by another, then expires", async () => {
  const options = stateOptions();
  const [a, b] = [await open(options), await open(options)];
  try {
    let counter = 0;
    const nonceA = a.state.nonceSource(60, () => `a-${++counter}`);
    const nonceB = b.state.nonceSource(60, () => `b-${++counter}`);
    const issued = await nonceA.current(6_000);
    assert.equal(await nonceB.current(6_030), issued, "every process hands out the same nonce");
    assert.ok(await nonceB.accepts(issued, 6_059));
    assert.ok(await nonceB.accepts(issued, 6_061), "the previous epoch's nonce still works");
    assert.equal(await nonceB.accepts(issued, 6_121), false, "two lifetimes later it does not");
    assert.notEqual(await nonceA.current(6_121), issued);
    assert.equal(await nonceA.accepts("made-up", 6_000), false);
  } finally {
    await Promise.all([a.state.close(), b.state.close()]);
  }
});

Deno.test("redis buckets: failures in two processes drain one budget", async () => {
  const options = stateOptions();
  const [a, b] = [await open(options), await open(options)];
  try {
    const [bucketsA, bucketsB] = [a.state.buckets(4, 1), b.state.buckets(4, 1)];
    for (const buckets of [bucketsA, bucketsB, bucketsA, bucketsB]) {
      assert.equal(await buckets.take("10.0.0.1", 100), true);
    }
    assert.equal(await bucketsA.take("10.0.0.1", 100), false);
    assert.equal(await bucketsB.take("10.0.0.1", 100), false);
    assert.equal(await bucketsB.take("10.0.0.2", 100), true, "another client has its own");
    await bucketsA.add("10.0.0.1", 100, 1);
    assert.equal(await bucketsB.level("10.0.0.1", 100), 1);
    // Refill at one a minute, and never backwards in time.
    assert.equal(await bucketsB.level("10.0.0.1", 130), 1.5);
    assert.equal(await bucketsA.level("10.0.0.1", 50), 1);
    // Concurrent takes: exactly the bucket's content succeeds.
    const takes = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? bucketsA : bucketsB).take("10.0.0.3", 100)),
    );
    assert.equal(takes.filter(Boolean).length, 4);
  } finally {
    await Promise.all([a.state.close(), b.state.close()]);
  }
});

Deno.test("redis outage: DPoP parts fail closed, the budget falls back per process, both recover", async () => {
  const { state, logs, fallbacks } = await open();
  try {
    const replay = state.replayCache(1_000);
    const nonces = state.nonceSource(60, () => crypto.randomUUID());
    const budget = createBudget(2, 60, state.buckets(2, 60));
    await redis.stop();
    const refusal = (error: unknown) =>
      error instanceof Denial && error.reason === "state_unavailable" &&
      error.retryAfterSeconds !== undefined;
    await assert.rejects(
      replay.remember("c", acceptedProof("k:outage", 1_000, 1_060), 1_000),
      refusal,
    );
    await assert.rejects(nonces.current(99_999_999), refusal);
    assert.deepEqual(await state.report(), { backend: "redis", status: "unavailable" });
    // The budget still runs, counted here, and the outage is logged once.
    assert.equal(await budget.check("10.0.0.9", 1_000, () => Promise.resolve("ok")), "ok");
    assert.equal(await budget.check("10.0.0.9", 1_000, () => Promise.resolve("ok")), "ok");
    assert.ok(fallbacks() >= 2);
    assert.equal(
      logs.filter(({ message }) => message === "shared state unavailable").length,
      1,
      JSON.stringify(logs),
    );
    await redis.start();
    await ready(state);
    assert.equal(
      await replay.remember("c", acceptedProof("k:outage", 1_000, 1_060), 1_000),
      "fresh",
    );
    assert.equal(
      await replay.remember("c", acceptedProof("k:outage", 1_000, 1_060), 1_000),
      "replayed",
    );
    assert.ok(logs.some(({ message }) => message === "shared state available again"));
  } finally {
    await state.close();
  }
});

Deno.test("redis slow: an operation past State:Timeout refuses DPoP and falls back, and recovers", async () => {
  const { state, fallbacks } = await open(stateOptions({ timeoutSeconds: 0.1 }));
  try {
    const replay = state.replayCache(1_000);
    const buckets = state.buckets(3, 60);
    redis.pause();
    const started = Date.now();
    await assert.rejects(
      replay.remember("c", acceptedProof("k:slow", 1_000, 1_060), 1_000),
      (error) => error instanceof Denial && error.reason === "state_unavailable",
    );
    const waited = Date.now() - started;
    assert.ok(waited >= 90 && waited < 1_000, `refused after ${waited} ms`);
    assert.equal(await buckets.take("10.0.0.7", 1_000), true, "counted in this process");
    assert.equal(fallbacks(), 1);
    assert.deepEqual(await state.report(), { backend: "redis", status: "unavailable" });
    redis.resume();
    await ready(state);
    assert.equal(
      await replay.remember("c", acceptedProof("k:slow2", 1_000, 1_060), 1_000),
      "fresh",
    );
  } finally {
    redis.resume();
    await state.close();
  }
});

Deno.test("redis state: a wrong password never comes up, and says so in its report", async () => {
  await Deno.writeTextFile(`${dir}/wrong`, "not-it\n");
  const { io } = recordingIo();
  const state = await openRedisState(stateOptions({ passwordPath: `${dir}/wrong` }), io);
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await state.report(), { backend: "redis", status: "unavailable" });
    await assert.rejects(
      state.replayCache(1_000).remember("c", acceptedProof("k", 1, 2), 1),
      Denial,
    );
  } finally {
    await state.close();
  }
});

Deno.test("redis state: opened while its backend is down, it serves once the backend starts", async () => {
  const port = freePort();
  const { io } = recordingIo();
  const state = await openRedisState(
    stateOptions({ address: `redis://127.0.0.1:${port}`, passwordPath: undefined }),
    io,
  );
  const late = await startRedis(undefined, port).catch(async (error) => {
    await state.close();
    throw error;
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    await ready(state);
    assert.equal(
      await state.replayCache(1_000).remember("c", acceptedProof("k", 1, 2), 1),
      "fresh",
    );
  } finally {
    await state.close();
    await late.stop();
  }
});

Deno.test("rediss://: TLS to a server whose certificate chains to State:CaPath", async () => {
  const mtls = (name: string) => fixture(`mtls/${name}`);
  const tlsRedis = await startRedis(undefined, undefined, {
    certificatePath: mtls("server.pem"),
    keyPath: mtls("server.key"),
    caPath: mtls("ca.pem"),
  });
  try {
    const trusted = await open(
      stateOptions({ address: tlsRedis.address, passwordPath: undefined, caPath: mtls("ca.pem") }),
    );
    try {
      assert.equal(
        await trusted.state.replayCache(1_000).remember("c", acceptedProof("k", 1, 2), 1),
        "fresh",
      );
      assert.equal(
        await trusted.state.replayCache(1_000).remember("c", acceptedProof("k", 1, 2), 1),
        "replayed",
      );
    } finally {
      await trusted.state.close();
    }
    // Another CA: the server's certificate does not verify, so the backend never comes up.
    const { io, logged } = recordingIo();
    const untrusted = await openRedisState(
      stateOptions({
        address: tlsRedis.address,
        passwordPath: undefined,
        caPath: mtls("rogue-ca.pem"),
      }),
      io,
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await untrusted.report(), { backend: "redis", status: "unavailable" });
      assert.ok(logged("shared state unavailable"));
    } finally {
      await untrusted.close();
    }
  } finally {
    await tlsRedis.stop();
  }
});

Deno.test("redis state: the last test stops the file's redis-server", async () => {
  await redis.stop();
});
