/**
 * Two real service processes (production permission set) sharing one real redis-server
 * (`State:Backend: redis`): DPoP replay records, nonces and the failure budget are one across
 * them, and a Redis outage refuses DPoP requests only, until it is back.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createClient } from "@redis/client";
import { basic, createTestAuthority, liveToken } from "../support/authority.ts";
import { createDpopKey, dpopProof, jwkThumbprint } from "../support/dpop.ts";
import {
  localAuthority,
  productionFlags,
  type ServiceProcess,
  spawnService,
  writeConfig,
} from "../support/process.ts";
import { startRedis } from "../support/redis.ts";
import { SIGNING_KEY_PATH } from "../support/service.ts";

// One redis-server for the file, with a password (read from a file by the service).
const PASSWORD = "shared-state-test-password";
const redis = await startRedis(PASSWORD);
const authority = await createTestAuthority("https://authority.shared-state.test");
const PUBLIC = "https://tokens.shared-state.test";
const HTU = `${PUBLIC}/token`;
const REGISTRY = "registry.shared-state.test";
const SCOPE = "repository:team/app:pull";
const PATH = `/token?service=${REGISTRY}&scope=${encodeURIComponent(SCOPE)}`;

interface Running {
  readonly process: ServiceProcess;
  readonly url: string;
}

/** Two processes on one config: Burst 4 (refills at 1 a minute), nonces required. */
async function startPair(prefix: string): Promise<{ a: Running; b: Running; config: string }> {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-shared-state-" });
  await Deno.writeTextFile(`${dir}/state-password`, `${PASSWORD}\n`);
  const config = await writeConfig({
    RegistryTokenService: {
      Server: {
        Host: "127.0.0.1",
        Port: 0,
        PublicBaseUrl: PUBLIC,
        FailedAuthLimit: { Burst: 4, PerMinute: 1 },
      },
      Authority: { ...await localAuthority(authority, dir), DPoP: { RequireNonce: true } },
      Signing: { Issuer: "registry-token-shared-state", KeyPath: SIGNING_KEY_PATH },
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull"] }] }],
      DefaultPlan: "ci",
      State: {
        Backend: "redis",
        Address: `${redis.address}/0`,
        PasswordPath: `${dir}/state-password`,
        KeyPrefix: prefix,
      },
    },
  }, dir);
  const start = async () => {
    const process = await spawnService(config);
    const { port } = await process.waitForLog("listening") as { port: number };
    return { process, url: `http://127.0.0.1:${port}` };
  };
  const [a, b] = await Promise.all([start(), start()]);
  return { a, b, config };
}

async function stopPair(...running: Running[]) {
  await Promise.all(running.map(({ process }) => process.stop()));
}

/** A bearer request; answers its status and the DPoP-Nonce it was handed. */
async function bearer(at: Running) {
  const answer = await fetch(`${at.url}${PATH}`, {
    headers: { authorization: basic(await liveToken(authority, { sub: "bearer-caller" })) },
  });
  await answer.body?.cancel();
  return { status: answer.status, nonce: answer.headers.get("dpop-nonce") };
}

/** A DPoP caller: its key, its bound token, and a way to send a proof. */
async function dpopCaller(sub: string) {
  const key = await createDpopKey();
  const token = await liveToken(authority, {
    sub,
    cnf: { jkt: await jwkThumbprint(key.publicJwk) },
  });
  return {
    proof: (nonce: string) => dpopProof(key, { htm: "GET", htu: HTU, accessToken: token, nonce }),
    async send(at: Running, proof: string) {
      const answer = await fetch(`${at.url}${PATH}`, {
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      });
      const body = await answer.json();
      return {
        outcome: `${answer.status} ${body.errors?.[0]?.detail?.reason ?? ""}`.trim(),
        retryAfter: answer.headers.get("retry-after"),
        nonce: answer.headers.get("dpop-nonce"),
      };
    },
  };
}

Deno.test("the permission set reaches exactly the state host:port and reads the password file's directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-shared-state-" });
  const secrets = await Deno.makeTempDir({ prefix: "registry-token-state-secret-" });
  await Deno.writeTextFile(`${secrets}/password`, "x\n");
  const config = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 5001 },
      Authority: await localAuthority(authority, dir),
      Signing: { Issuer: "i", KeyPath: SIGNING_KEY_PATH },
      State: {
        Backend: "redis",
        Address: "redis://10.1.2.3:6380/2",
        PasswordPath: `${secrets}/password`,
      },
    },
  }, dir);
  const flags = await productionFlags(config);
  const net = flags.find((flag) => flag.startsWith("--allow-net="))!;
  assert.equal(net, "--allow-net=127.0.0.1:5001,10.1.2.3:6380");
  const read = flags.find((flag) => flag.startsWith("--allow-read="))!;
  assert.ok(read.split("=")[1].split(",").includes(secrets), read);
  assert.ok(
    flags.includes(
      "--ignore-env=LOG_TOKENS,LOG_STREAM,REDIS_DEBUG_MAINTENANCE,REDIS_EMIT_DIAGNOSTICS,OTEL_*",
    ),
  );
});

Deno.test("two processes share DPoP replay records and nonces: a proof used at A is refused at B and at A", async () => {
  const { a, b } = await startPair("e2e-replay:");
  try {
    const issued = await bearer(a);
    assert.equal(issued.status, 200);
    assert.ok(issued.nonce, "A hands out a nonce");
    const caller = await dpopCaller("dpop-caller");
    const proof = await caller.proof(issued.nonce!);
    // A's nonce is accepted by B.
    assert.equal((await caller.send(b, proof)).outcome, "200");
    // The same proof, at A, then at B again.
    assert.equal((await caller.send(a, proof)).outcome, "401 dpop_proof_replayed");
    assert.equal((await caller.send(b, proof)).outcome, "401 dpop_proof_replayed");
    // A nonce nobody issued is refused everywhere.
    const made = await caller.send(a, await caller.proof("made-up"));
    assert.equal(made.outcome, "401 dpop_nonce_required");
    // The nonce A hands out with that refusal is accepted by B.
    assert.equal((await caller.send(b, await caller.proof(made.nonce!))).outcome, "200");
  } finally {
    await stopPair(a, b);
  }
});

Deno.test("failed authentications spread over two processes drain one shared budget", async () => {
  const prefix = "e2e-budget:";
  const { a, b } = await startPair(prefix);
  const client = createClient({ url: redis.address, password: PASSWORD });
  await client.connect();
  try {
    const impostor = await createTestAuthority(authority.issuer, authority.kid);
    const now = Math.floor(Date.now() / 1000);
    for (const [index, at] of [a, b, a, b].entries()) {
      const forged = await impostor.token({
        claims: { sub: `f-${index}`, iat: now, exp: now + 300 },
      });
      const answer = await fetch(`${at.url}${PATH}`, { headers: { authorization: basic(forged) } });
      const body = await answer.json();
      assert.equal(body.errors[0].detail.reason, "token_signature_invalid");
    }
    const keys = await client.keys(`${prefix}budget:*`);
    assert.equal(keys.length, 1, `one bucket for the one client: ${keys}`);
    const level = Number(await client.hGet(keys[0], "t"));
    // Burst 4: two failures at A and two at B leave (about) nothing; per process they would
    // have left two each. Refill is one a minute, so at most a few hundredths came back.
    assert.ok(level < 0.2, `level ${level}`);
  } finally {
    client.destroy();
    await stopPair(a, b);
  }
});

Deno.test("redis-server stopped mid-run: DPoP requests get 503 state_unavailable, bearer ones 200; restarted: DPoP works again, proofs from before its data loss do not", async () => {
  const { a, b } = await startPair("e2e-outage:");
  try {
    const caller = await dpopCaller("outage-caller");
    const { nonce } = await bearer(a);
    const used = await caller.proof(nonce!);
    const usedAt = Date.now();
    assert.equal((await caller.send(a, used)).outcome, "200");

    await redis.stop();
    for (const at of [a, b]) {
      const refused = await caller.send(at, await caller.proof(nonce!));
      assert.equal(refused.outcome, "503 state_unavailable");
      assert.equal(refused.retryAfter, "1");
      assert.equal((await bearer(at)).status, 200, "requests that need no DPoP are served");
      const ready = await fetch(`${at.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual((await ready.json()).state, { backend: "redis", status: "unavailable" });
    }
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    assert.match(metrics, /registry_token_rejected_total\{reason="state_unavailable"\} [1-9]/);
    const warnings = a.process.stdout.filter((line) => line.includes('"shared state unavailable"'));
    assert.equal(warnings.length, 1, "the outage is logged once");

    // Past the 2 s grace, so that `used` predates the records the restarted (empty) Redis keeps.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, usedAt + 3_000 - Date.now())));
    await redis.start();
    const deadline = Date.now() + 15_000;
    let outcome = "";
    while (Date.now() < deadline) {
      const fresh = await bearer(b);
      const answer = await caller.send(b, await caller.proof(fresh.nonce ?? nonce!));
      outcome = answer.outcome;
      if (outcome === "200") break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(outcome, "200", "DPoP requests succeed again without a restart");
    const { nonce: after } = await bearer(a);
    assert.equal((await caller.send(a, await caller.proof(after!))).outcome, "200");
    const ready = await (await fetch(`${a.url}/readyz`)).json();
    assert.deepEqual(ready.state, { backend: "redis", status: "up" });
    // The restart lost the record of `used`: replaying it is still refused. At A, which handed out
    // its nonce, because it predates the new records; B now knows only the backend's new nonce.
    assert.equal((await caller.send(a, used)).outcome, "401 dpop_proof_invalid");
    assert.equal((await caller.send(b, used)).outcome, "401 dpop_nonce_required");
    // A recorded a proof before the loss, so it noticed; B had recorded none, so it had nothing
    // to lose.
    const lost = (at: typeof a) =>
      at.process.stdout.filter((line) =>
        line.includes('"shared state lost its DPoP replay records"')
      ).length;
    assert.equal(lost(a), 1, "said once");
    assert.equal(lost(b), 0);
  } finally {
    await stopPair(a, b);
  }
});

Deno.test("SIGHUP keeps the shared state: a proof used before the reload stays refused, DPoP keeps working", async () => {
  const { a, b } = await startPair("e2e-reload:");
  try {
    const caller = await dpopCaller("reload-caller");
    const { nonce } = await bearer(a);
    const proof = await caller.proof(nonce!);
    assert.equal((await caller.send(a, proof)).outcome, "200");
    a.process.child.kill("SIGHUP");
    await a.process.waitForLog("reloaded");
    assert.equal((await caller.send(a, proof)).outcome, "401 dpop_proof_replayed");
    const { nonce: after } = await bearer(a);
    assert.equal((await caller.send(a, await caller.proof(after!))).outcome, "200");
    assert.equal((await caller.send(b, proof)).outcome, "401 dpop_proof_replayed");
  } finally {
    await stopPair(a, b);
  }
});

Deno.test("SIGTERM closes the state connection: the service exits 0", async () => {
  const { a, b } = await startPair("e2e-stop:");
  const statuses = await Promise.all([a.process.stop(), b.process.stop()]);
  assert.deepEqual(statuses.map(({ code }) => code), [0, 0]);
  await redis.stop();
});
