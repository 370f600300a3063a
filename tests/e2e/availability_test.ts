/**
 * Availability under hostile load, against the real service process over real sockets: no
 * client without credentials can take the service down or make it useless for others.
 * Loads are on loopback, bounded in count and time.
 *
 * @module
 */

import assert from "node:assert/strict";
import { basic, createTestAuthority, liveToken } from "../support/authority.ts";
import { createDpopKey, dpopProof, jwkThumbprint } from "../support/dpop.ts";
import { freePort } from "../support/peers.ts";
import {
  LAUNCHER,
  localAuthority,
  MAIN,
  productionFlags,
  runDeno,
  type ServiceProcess,
  spawnService,
  startTaskFlags,
  writeConfig,
} from "../support/process.ts";
import {
  openRaw,
  rawRequest,
  readUntilClosed,
  residentBytes,
  timedFetch,
} from "../support/raw_http.ts";
import { fixture, SIGNING_KEY_PATH } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");
const REGISTRY = "registry.availability-test";

/** A config document in `dir` with a local Authority and `server` merged into Server. */
async function configIn(
  dir: string,
  server: Record<string, unknown>,
  { authorityPatch = {}, ...rest }: Record<string, unknown> = {},
) {
  return await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 0, ...server },
      Authority: { ...await localAuthority(authority, dir), ...authorityPatch as object },
      Signing: { Issuer: "registry-token-availability", KeyPath: SIGNING_KEY_PATH },
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] }],
      DefaultPlan: "ci",
      ...rest,
    },
  }, dir);
}

/** A running service process and its base URL. */
interface Running {
  readonly process: ServiceProcess;
  readonly port: number;
  readonly url: string;
  readonly config: string;
}

async function start(
  server: Record<string, unknown> = {},
  rest: Record<string, unknown> = {},
): Promise<Running> {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-availability-" });
  const config = await configIn(dir, server, rest);
  const process = await spawnService(config);
  const { port } = await process.waitForLog("listening") as { port: number };
  return { process, port, url: `http://127.0.0.1:${port}`, config };
}

/** The request log record with `requestId`, waiting for it to be written. */
async function loggedRequest(running: Running, requestId: string) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const record = running.process.stdout.map((line) => JSON.parse(line)).find((r) =>
      r.msg === "request" && r.request_id === requestId
    );
    if (record) return record;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no request log record ${requestId}`);
}

/** Stops `running` and asserts it exited 0 (it never died or restarted on the way). */
async function stop(running: Running) {
  const status = await running.process.stop();
  assert.equal(status.code, 0, running.process.stderr.join("\n"));
}

const tokenPath = (scope = "repository:team/app:pull") =>
  `/token?service=${REGISTRY}&scope=${encodeURIComponent(scope)}`;

Deno.test("cleartext HTTP/2 is refused; unfinished bodies cost bounded memory until their deadline", async () => {
  const running = await start({ BodyTimeout: "2s", HeadersTimeout: "3s" });
  try {
    const preface = await rawRequest(running.port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert.match(preface.statusLine, /^HTTP\/1\.1 400 /, "h2c with prior knowledge is not spoken");

    const pid = running.process.child.pid;
    for (let i = 0; i < 20; i++) await timedFetch(`${running.url}/healthz`);
    const before = await residentBytes(pid);
    const head =
      `POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded` +
      `\r\nContent-Length: 60000\r\n\r\n`;
    const connections = await Promise.all(
      Array.from({ length: 200 }, () => openRaw(running.port, head + "a".repeat(30_000))),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const peak = await residentBytes(pid);
    const perConnection = (peak - before) / connections.length;
    // SECURITY.md: at most 192 KiB per connection (a 64 KiB form, buffers, garbage not yet collected).
    assert.ok(perConnection < 192 * 1024, `${Math.round(perConnection / 1024)} KiB per connection`);
    const healthy = await timedFetch(`${running.url}/healthz`);
    assert.equal(healthy.status, 200);
    assert.ok(healthy.ms < 1000, `/healthz took ${healthy.ms} ms`);

    const closed = await Promise.all(connections.map((c) => readUntilClosed(c, 10_000)));
    const latest = Math.max(...closed.map((c) => c.closedAfterMs));
    // Opened ~1 s ago with a 2 s body deadline, closed within a few seconds of it.
    assert.ok(latest < 6000, `the last unfinished body was closed after ${latest} ms`);
    assert.ok(closed.every((c) => !c.text.includes(" 200 ")), "no truncated form was processed");
  } finally {
    await stop(running);
  }
});

Deno.test("slowloris: idle, trickling and unfinished connections close at their deadlines while others are served", async () => {
  const running = await start({ HeadersTimeout: "2s", IdleTimeout: "1s" });
  try {
    const partial = await Promise.all(
      Array.from(
        { length: 300 },
        () => openRaw(running.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n"),
      ),
    );
    const idle = await openRaw(running.port);
    const trickle = await openRaw(running.port, "GET /healthz HTTP/1.1\r\n");
    let trickling = true;
    const trickled = (async () => {
      while (trickling) {
        await trickle.write(new TextEncoder().encode("X-A: b\r\n")).catch(() => trickling = false);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const token = await liveToken(authority);
    for (let i = 0; i < 5; i++) {
      const health = await timedFetch(`${running.url}/healthz`);
      const issued = await timedFetch(`${running.url}${tokenPath()}`, {
        headers: { authorization: basic(token) },
      });
      for (const [name, answer] of [["healthz", health], ["token", issued]] as const) {
        assert.equal(answer.status, 200, name);
        assert.ok(answer.ms < 1000, `${name} took ${answer.ms} ms under slowloris`);
      }
    }
    const [idleClosed, trickleClosed, ...partialClosed] = await Promise.all(
      [idle, trickle, ...partial].map((c) => readUntilClosed(c, 10_000)),
    );
    trickling = false;
    await trickled;
    assert.ok(idleClosed.closedAfterMs < 4000, `idle closed after ${idleClosed.closedAfterMs} ms`);
    assert.ok(
      trickleClosed.closedAfterMs < 5000,
      `trickling headers closed after ${trickleClosed.closedAfterMs} ms`,
    );
    const latest = Math.max(...partialClosed.map((c) => c.closedAfterMs));
    assert.ok(latest < 5000, `the last unfinished header block closed after ${latest} ms`);
  } finally {
    await stop(running);
  }
});

/** Floods `port` with connections held open until the service's descriptors run out. */
async function floodDescriptors(port: number, count: number): Promise<Deno.Conn[]> {
  const held: Deno.Conn[] = [];
  for (let i = 0; i < count; i++) {
    try {
      held.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch {
      break;
    }
  }
  return held;
}

/** Polls `probe` until it answers 200; how long that took, or `Infinity` after `limitMs`. */
async function servingAgainWithin(probe: () => Promise<number>, limitMs: number) {
  const started = performance.now();
  while (performance.now() - started < limitMs) {
    if (await probe().catch(() => 0) === 200) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return Infinity;
}

Deno.test("after a descriptor flood under a low RLIMIT_NOFILE, deno task start serves again by itself", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-emfile-" });
  const tls = {
    CertificatePath: fixture("mtls/server.pem"),
    KeyPath: fixture("mtls/server.key"),
  };
  for (const [name, extra] of [["plain", {}], ["TLS", { Tls: tls }]] as const) {
    await t.step(`${name} listener`, async () => {
      const port = freePort();
      const config = await configIn(dir, { Port: port, ...extra });
      const launched = new Deno.Command("prlimit", {
        args: [
          "--nofile=160:160",
          Deno.execPath(),
          "run",
          ...startTaskFlags(),
          LAUNCHER,
          "--config",
          config,
        ],
        stdout: "null",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      const stderr = new Response(launched.stderr).text();
      const scheme = name === "TLS" ? "https" : "http";
      const ca = await Deno.readTextFile(fixture("mtls/ca.pem"));
      const client = Deno.createHttpClient({ caCerts: [ca], poolMaxIdlePerHost: 0 });
      const health = async () => {
        const response = await fetch(`${scheme}://localhost:${port}/healthz`, {
          client,
          signal: AbortSignal.timeout(1000),
        });
        await response.body?.cancel();
        return response.status;
      };
      try {
        assert.ok(await servingAgainWithin(health, 20_000) < Infinity, "the service started");
        const held = await floodDescriptors(port, 400);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        held.forEach((connection) => connection.close());
        const recovered = await servingAgainWithin(health, 30_000);
        assert.ok(recovered < 30_000, `${name}: not serving 30 s after the flood stopped`);
      } finally {
        launched.kill("SIGTERM");
        const status = await launched.status;
        client.close();
        const log = await stderr;
        assert.equal(status.code, 0, `launcher exited ${status.code}: ${log}`);
        // The flood did wedge the listener: the watchdog noticed and the launcher restarted it.
        assert.match(log, /restarting in \d+ ms/, `${name}: no restart happened`);
      }
    });
  }
});

Deno.test("one client's bad credentials never cost the valid callers at its address their tokens", async () => {
  const running = await start({ FailedAuthLimit: { Burst: 5, PerMinute: 6 } });
  try {
    const impostor = await createTestAuthority(authority.issuer, authority.kid);
    const now = Math.floor(Date.now() / 1000);
    const forged = await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) => impostor.token({ claims: { sub: `attacker-${i}`, iat: now, exp: now + 300 } }),
      ),
    );
    const expired = await authority.token({ claims: { iat: now - 900, exp: now - 600 } });
    const bad = [...forged, expired, "garbage", forged[0]];
    let flooding = true;
    let floodRequests = 0;
    const flood = Array.from({ length: 4 }, async (_, worker) => {
      for (let i = worker; flooding; i += 4) {
        await timedFetch(`${running.url}${tokenPath()}`, {
          headers: { authorization: basic(bad[i % bad.length]) },
        });
        floodRequests++;
      }
    });
    const cached = await liveToken(authority, { sub: "cached-caller" });
    assert.equal(
      (await timedFetch(`${running.url}${tokenPath()}`, {
        headers: { authorization: basic(cached) },
      })).status,
      200,
    );
    const slow: string[] = [];
    for (let round = 0; round < 10; round++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const token of [cached, await liveToken(authority, { sub: `new-caller-${round}` })]) {
        const answer = await timedFetch(`${running.url}${tokenPath()}`, {
          headers: { authorization: basic(token) },
        });
        if (answer.status !== 200 || answer.ms >= 1000) {
          slow.push(`${answer.status} in ${answer.ms} ms`);
        }
      }
    }
    flooding = false;
    await Promise.all(flood);
    assert.deepEqual(slow, [], `valid callers refused or slow during a flood of ${floodRequests}`);
    assert.ok(floodRequests > 100, `the flood sent only ${floodRequests} requests`);
  } finally {
    await stop(running);
  }
});

Deno.test("only addresses a trusted proxy appended decide the client, in every spelling", async () => {
  const running = await start({ TrustedProxies: ["127.0.0.1", "10.0.0.5"] });
  try {
    const cases: [string | undefined, string][] = [
      ["10.0.0.7, 192.0.2.9", "192.0.2.9"],
      ["198.51.100.1, 203.0.113.9, 10.0.0.5", "203.0.113.9"],
      ["192.0.2.1:5555", "192.0.2.1"],
      ["[2001:db8::1]:4711", "2001:db8::1"],
      ["2001:DB8:0:0::1", "2001:db8::1"],
      ["[::ffff:192.0.2.3]", "192.0.2.3"],
      ["not an address", "127.0.0.1"],
      ["192.0.2.1, nonsense", "127.0.0.1"],
      [undefined, "127.0.0.1"],
    ];
    for (const [index, [forwarded]] of cases.entries()) {
      const headers: Record<string, string> = { "x-request-id": `xff-${index}` };
      if (forwarded) headers["x-forwarded-for"] = forwarded;
      await timedFetch(`${running.url}${tokenPath()}`, { headers });
    }
    for (const [index, [forwarded, client]] of cases.entries()) {
      const record = await loggedRequest(running, `xff-${index}`);
      assert.equal(record.client, client, `X-Forwarded-For: ${forwarded}`);
    }
  } finally {
    await stop(running);
  }
});

Deno.test("client mistakes are 4xx: a broken Host, a garbage forwarded certificate, a form cut short", async () => {
  const running = await start({
    TrustedProxies: ["127.0.0.1"],
    ClientCertificateHeader: "X-Client-Cert",
  });
  try {
    for (const host of ["a b", "[::1", "x:99999999"]) {
      for (const method of ["GET", "POST"]) {
        const answer = await rawRequest(
          running.port,
          `${method} ${tokenPath()} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\n` +
            "Connection: close\r\n\r\n",
        );
        assert.match(answer.statusLine, /^HTTP\/1\.1 400 /, `${method} with Host: ${host}`);
      }
    }
    // Base64 letters whose length is 1 mod 4 (once a 500): an unreadable certificate is a 401.
    for (const garbage of ["AAAAA", "%ZZ", "-----BEGIN CERTIFICATE-----x"]) {
      const refused = await fetch(`${running.url}${tokenPath()}`, {
        headers: { authorization: basic(await liveToken(authority)), "x-client-cert": garbage },
      });
      assert.equal(refused.status, 401, garbage);
      assert.equal((await refused.json()).errors[0].detail.reason, "mtls_certificate_missing");
    }

    const form = `grant_type=password&service=${REGISTRY}&password=${await liveToken(authority)}`;
    const cut = await openRaw(
      running.port,
      `POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
        `X-Request-Id: cut-form\r\nContent-Length: ${form.length + 40}\r\n\r\n${form}`,
    );
    await cut.closeWrite();
    const { text } = await readUntilClosed(cut, 5000);
    assert.doesNotMatch(text, / 200 /, "a truncated form is never processed");
    const refusal = await loggedRequest(running, "cut-form");
    assert.equal(refusal.status, 400);
    assert.equal(refusal.reason, "request_invalid");
    assert.equal(refusal.granted, undefined, "the pipeline never ran on the truncated form");
    assert.ok(!running.process.stdout.some((line) => JSON.parse(line).status >= 500));
  } finally {
    await stop(running);
  }
});

Deno.test("without PublicBaseUrl or Realm a DPoP-bound token is refused with a clear 401, and --check says why", async () => {
  const running = await start();
  try {
    const key = await createDpopKey();
    const token = await liveToken(authority, { cnf: { jkt: await jwkThumbprint(key.publicJwk) } });
    const proof = await dpopProof(key, {
      htm: "GET",
      htu: `${running.url}/token`,
      accessToken: token,
      iat: Math.floor(Date.now() / 1000),
    });
    const answer = await fetch(`${running.url}${tokenPath()}`, {
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    });
    assert.equal(answer.status, 401);
    const body = await answer.json();
    assert.equal(body.errors[0].detail.reason, "dpop_not_configured");
    assert.match(body.errors[0].message, /Server:PublicBaseUrl or Registry:Realm/);
    assert.ok(
      running.process.stdout.some((line) => /dpop_not_configured/.test(JSON.parse(line).msg)),
      "the start-up log warns",
    );
    const checked = await runDeno(startTaskFlags(), LAUNCHER, [
      "--config",
      running.config,
      "--check",
    ]);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stderr, /^warning: DPoP-bound caller tokens will be refused/m);
  } finally {
    await stop(running);
  }
});

Deno.test("one caller's DPoP proofs from many self-chosen keys cannot fill the replay cache for others", async () => {
  const htu = "https://tokens.availability.test/token";
  const running = await start({ PublicBaseUrl: "https://tokens.availability.test" }, {
    authorityPatch: { DPoP: { ReplayCacheSize: 1000 } },
  });
  try {
    const dpopRequest = async (sub: string, scope: string) => {
      const key = await createDpopKey();
      const token = await liveToken(authority, {
        sub,
        cnf: { jkt: await jwkThumbprint(key.publicJwk) },
      });
      return async () => {
        const proof = await dpopProof(key, {
          htm: "GET",
          htu,
          accessToken: token,
          iat: Math.floor(Date.now() / 1000),
        });
        const answer = await fetch(`${running.url}${tokenPath(scope)}`, {
          headers: { authorization: `DPoP ${token}`, dpop: proof },
        });
        const body = await answer.json();
        return `${answer.status} ${body.errors?.[0]?.detail?.reason ?? ""}`.trim();
      };
    };
    const allowed = "repository:team/app:pull";
    // Proofs for a scope the plan refuses never reach the cache: 150 of them cost nothing.
    const refusedScope = await dpopRequest("careful", "repository:other/app:pull");
    for (let i = 0; i < 150; i++) assert.equal(await refusedScope(), "403 access_denied");
    const careful = await dpopRequest("careful", allowed);
    for (let i = 0; i < 50; i++) assert.equal(await careful(), "200");

    // ReplayCacheSize 1000: one subject may hold a tenth, whatever keys it signs with.
    const flooder = await Promise.all(
      Array.from({ length: 10 }, () => dpopRequest("flooder", allowed)),
    );
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 30; round++) {
      for (const send of flooder) {
        const outcome = await send();
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }
    assert.equal(outcomes.get("200"), 100, JSON.stringify([...outcomes]));
    assert.equal(outcomes.get("503 dpop_replay_cache_full"), 200);
    const victim = await dpopRequest("victim", allowed);
    for (let i = 0; i < 20; i++) assert.equal(await victim(), "200", "others are not affected");
  } finally {
    await stop(running);
  }
});

/** Starts the service with its stdout as a pipe nobody reads (or one closed at once). */
async function startWithStdout(mode: "stalled" | "closed") {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-stdout-" });
  const port = freePort();
  const config = await configIn(dir, { Port: port });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...await productionFlags(config), MAIN, "--config", config],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  if (mode === "closed") await child.stdout.cancel();
  const url = `http://127.0.0.1:${port}`;
  const up = await servingAgainWithin(
    () => timedFetch(`${url}/healthz`).then((a) => a.status),
    20_000,
  );
  assert.ok(up < Infinity, "the service started");
  return { child, url };
}

for (const mode of ["stalled", "closed"] as const) {
  Deno.test(`a ${mode} stdout never blocks or kills the service, and SIGTERM still drains`, async () => {
    const { child, url } = await startWithStdout(mode);
    try {
      // Each request logs ~5 KB of requested scopes: the pipe's buffer fills within a dozen
      // requests, the 1 MiB queue behind it within about 200.
      const scopes = Array.from(
        { length: 20 },
        (_, i) => `repository:team/${"a".repeat(200)}-${i}:pull`,
      );
      const path = `/token?service=${REGISTRY}&${
        scopes.map((s) => `scope=${encodeURIComponent(s)}`).join("&")
      }`;
      const token = await liveToken(authority);
      for (let i = 0; i < 300; i++) {
        const answer = await timedFetch(`${url}${path}`, {
          headers: { authorization: basic(token) },
        });
        assert.equal(answer.status, 200, `request ${i}`);
        assert.ok(answer.ms < 1000, `request ${i} took ${answer.ms} ms`);
      }
      const health = await timedFetch(`${url}/healthz`);
      assert.ok(health.status === 200 && health.ms < 1000, "/healthz still answers at once");
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /^registry_token_log_lines_dropped_total \d+/m, "drops are counted");
    } finally {
      child.kill("SIGTERM");
      const status = await Promise.race([
        child.status,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
      ]);
      if (status === undefined) child.kill("SIGKILL");
      if (mode === "stalled") await child.stdout.cancel();
      assert.equal(status?.code, 0, "SIGTERM drained and exited 0");
    }
  });
}
