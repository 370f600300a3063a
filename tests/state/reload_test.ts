/** A reload keeps the Redis connection while the State settings are unchanged; SIGTERM closes it. */

import assert from "node:assert/strict";
import { acceptedProof } from "../support/dpop.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createTokenMetrics } from "../../src/observability/metrics.ts";
import { carryOver, createService, type Service, type ServiceIo } from "../../src/service.ts";
import { createTestAuthority, NOW } from "../support/authority.ts";
import { startRedis } from "../support/redis.ts";
import { testOptions } from "../support/service.ts";

const redis = await startRedis();
const authority = await createTestAuthority();
const JWKS_PATH = "memory:authority-jwks.json";

function build(state: Record<string, unknown>, previous?: Service): Promise<Service> {
  const io: ServiceIo = {
    readFile: (path) =>
      path === JWKS_PATH
        ? Promise.resolve(new TextEncoder().encode(JSON.stringify(authority.jwks)))
        : Deno.readFile(path),
    fetch: () => Promise.reject(new Error("no network")),
    now: () => NOW,
    randomId: () => crypto.randomUUID(),
    logger: createLogger(() => {}, () => NOW),
    metrics: createTokenMetrics(),
  };
  const options = testOptions(authority, {
    Authority: { Issuer: authority.issuer, JwksPath: JWKS_PATH },
    State: state,
  });
  return createService(options, io, previous);
}

async function up(service: Service) {
  const deadline = Date.now() + 10_000;
  while ((await service.state.report()).status !== "up") {
    if (Date.now() > deadline) throw new Error("never connected");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("a reload with the same State keeps the connection and the replay records; a changed one reconnects", async () => {
  const state = { Backend: "redis", Address: redis.address, KeyPrefix: "reload-a:" };
  const first = await build(state);
  await up(first);
  const now = NOW.getTime() / 1000;
  assert.equal(
    await first.dpopState.replay.remember("c", acceptedProof("k:1", now, now + 60), now),
    "fresh",
  );

  const same = await build(state, first);
  assert.equal(same.state, first.state, "the connection is carried over");
  assert.equal(carryOver(first, same.options).state, first.state);
  await first.close(same);
  assert.equal((await same.state.report()).status, "up", "closing the replaced service kept it");
  assert.equal(
    await same.dpopState.replay.remember("c", acceptedProof("k:1", now, now + 60), now),
    "replayed",
  );

  const changed = await build({ ...state, Timeout: "500ms" }, same);
  assert.notEqual(changed.state, same.state, "changed settings open a new connection");
  await up(changed);
  await same.close(changed);
  assert.equal((await same.state.report()).status, "unavailable", "the old one is closed");
  // Same backend and prefix: what the old connection recorded is still known.
  assert.equal(
    await changed.dpopState.replay.remember("c", acceptedProof("k:1", now, now + 60), now),
    "replayed",
  );

  // A stop (no successor) closes it.
  await changed.close();
  assert.equal((await changed.state.report()).status, "unavailable");
});

Deno.test("a reload after the password file changed reconnects with the new password", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-state-reload-" });
  const passwordPath = `${dir}/password`;
  await Deno.writeTextFile(passwordPath, "old\n");
  const state = { Backend: "redis", Address: redis.address, PasswordPath: passwordPath };
  const first = await build(state);
  const unchanged = await build(state, first);
  assert.equal(unchanged.state, first.state);
  await first.close(unchanged);
  await Deno.writeTextFile(passwordPath, "new\n");
  const rotated = await build(state, unchanged);
  assert.notEqual(rotated.state, unchanged.state, "a rotated password opens a new connection");
  await unchanged.close(rotated);
  await rotated.close();
});

Deno.test("the memory backend is carried over by a reload as before", async () => {
  const first = await build({});
  const next = await build({}, first);
  assert.equal(next.state, first.state);
  assert.equal(next.dpopState.replay, first.dpopState.replay);
  await first.close(next);
  await next.close();
  await redis.stop();
});
