/**
 * `Server:Workers: 2` through the launcher, as `deno task start` runs it: two worker processes
 * share the port, a signal to the launcher reaches both, and the DPoP-with-memory refusal.
 */

import assert from "node:assert/strict";
import { get } from "node:http";
import { basic, createTestAuthority, liveToken } from "../support/authority.ts";
import {
  LAUNCHER,
  localAuthority,
  MAIN,
  productionFlags,
  runDeno,
  type ServiceProcess,
  spawnDeno,
  startTaskFlags,
  writeConfig,
} from "../support/process.ts";
import { freePort } from "../support/peers.ts";
import { SIGNING_KEY_PATH } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");

/** A GET on a connection of its own (no keep-alive), so the kernel picks a worker afresh. */
function freshGet(url: string, authorization: string): Promise<{ status: number; id: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { authorization } }, (response) => {
      response.resume();
      response.on("end", () =>
        resolve({
          status: response.statusCode!,
          id: String(response.headers["x-request-id"]),
        }));
    }).on("error", reject);
  });
}

function records(service: ServiceProcess): Record<string, unknown>[] {
  return service.stdout.flatMap((line) => {
    try {
      return [JSON.parse(line)];
    } catch {
      return [];
    }
  });
}

async function waitForCount(service: ServiceProcess, message: string, count: number) {
  for (let attempt = 0; attempt < 400; attempt++) {
    const found = records(service).filter((record) => record.msg === message);
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`fewer than ${count} "${message}": ${service.stdout.join("\n")}`);
}

/** The workers that answered `ids`, from the request log. */
async function workersOf(service: ServiceProcess, ids: string[]): Promise<Set<unknown>> {
  const wanted = new Set(ids);
  for (let attempt = 0; attempt < 100; attempt++) {
    const answered = records(service).filter((record) =>
      record.msg === "request" && wanted.has(String(record.request_id))
    );
    if (answered.length === ids.length) return new Set(answered.map((record) => record.worker));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("not every request was logged");
}

Deno.test("Server:Workers 2: both workers serve, SIGHUP reloads both, SIGTERM drains both", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-workers-" });
  const port = freePort();
  const trusted = await localAuthority(authority, dir);
  const document = (extra: Record<string, unknown>) => ({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: port, Workers: 2 },
      Authority: trusted,
      Signing: { Issuer: "registry-token-workers", KeyPath: SIGNING_KEY_PATH },
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "*", Actions: ["pull"] }] }],
      DefaultPlan: "ci",
      ...extra,
    },
  });
  const path = await writeConfig(document({}), dir);
  const launcher = spawnDeno(startTaskFlags(), LAUNCHER, ["--config", path]);
  try {
    const listening = await waitForCount(launcher, "listening", 2);
    assert.deepEqual(new Set(listening.map((record) => record.worker)), new Set([1, 2]));
    assert.ok(listening.every((record) => record.port === port), "one shared port");
    // The launcher runs the workers: no process that listens may run programs.
    const started = await waitForCount(launcher, "worker started", 2);
    for (const { pid } of started) {
      const commandLine = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
      assert.ok(commandLine.includes("--worker"), commandLine.join(" "));
      assert.ok(!commandLine.some((arg) => arg.startsWith("--allow-run")), commandLine.join(" "));
    }
    const url = `http://127.0.0.1:${port}/token?service=registry.workers&scope=repository:a/b:pull`;
    const authorization = basic(await liveToken(authority, { "stellaops:license": "lic-7" }));
    const round = () => Promise.all(Array.from({ length: 40 }, () => freshGet(url, authorization)));

    const before = await round();
    assert.ok(before.every(({ status }) => status === 200));
    assert.deepEqual(await workersOf(launcher, before.map(({ id }) => id)), new Set([1, 2]));

    // A revoked licence, visible to requests whichever worker answers them.
    await writeConfig(document({ RevokedLicenses: ["lic-7"] }), dir);
    launcher.child.kill("SIGHUP");
    const reloaded = await waitForCount(launcher, "reloaded", 2);
    assert.deepEqual(new Set(reloaded.map((record) => record.worker)), new Set([1, 2]));
    const after = await round();
    assert.ok(after.every(({ status }) => status === 403), JSON.stringify(after));
    assert.deepEqual(await workersOf(launcher, after.map(({ id }) => id)), new Set([1, 2]));

    // A reload cannot make a worker believe it is alone (it would then accept a configuration
    // checked for one process): each refuses it and keeps serving the running one.
    await writeConfig({
      RegistryTokenService: {
        ...document({}).RegistryTokenService,
        Server: { Host: "127.0.0.1", Port: port, Workers: 1 },
      },
    }, dir);
    launcher.child.kill("SIGHUP");
    let refused: Record<string, unknown>[] = [];
    for (let attempt = 0; attempt < 200 && refused.length < 2; attempt++) {
      refused = records(launcher).filter((record) =>
        String(record.msg).startsWith("reload failed") &&
        String(record.msg).includes("Server:Workers")
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(new Set(refused.map((record) => record.worker)), new Set([1, 2]));
    const still = await round();
    assert.ok(
      still.every(({ status }) => status === 403),
      "the running configuration still serves",
    );
  } finally {
    const { code } = await launcher.stop();
    assert.equal(code, 0, launcher.stderr.join("\n"));
  }
  const stopped = records(launcher).filter((record) => record.msg === "stopped");
  assert.deepEqual(new Set(stopped.map((record) => record.worker)), new Set([1, 2]));
});

Deno.test("Server:Workers 2: a SIGHUP while the workers start ends nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-workers-" });
  const port = freePort();
  const path = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: port, Workers: 2 },
      Authority: await localAuthority(authority, dir),
      Signing: { Issuer: "registry-token-workers", KeyPath: SIGNING_KEY_PATH },
    },
  }, dir);
  const launcher = spawnDeno(startTaskFlags(), LAUNCHER, ["--config", path]);
  try {
    await waitForCount(launcher, "worker started", 2);
    launcher.child.kill("SIGHUP"); // passed on to workers still loading their configuration
    const listening = await waitForCount(launcher, "listening", 2);
    assert.deepEqual(new Set(listening.map((record) => record.worker)), new Set([1, 2]));
  } finally {
    const { code } = await launcher.stop();
    assert.equal(code, 0, launcher.stderr.join("\n"));
  }
});

Deno.test("Server:Workers 2 with state in memory and a DPoP Authority: exit 2, one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-workers-" });
  const path = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: freePort(), Workers: 2 },
      Registry: { Realm: "https://tokens.test/token" },
      Authority: { ...await localAuthority(authority, dir), SenderConstraint: "dpop" },
      Signing: { Issuer: "registry-token-workers", KeyPath: SIGNING_KEY_PATH },
    },
  }, dir);
  for (const args of [["--check"], []]) {
    const result = await runDeno(startTaskFlags(), LAUNCHER, ["--config", path, ...args]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^config error: RegistryTokenService:Server:Workers: 2 workers with State:Backend memory .*Authority:SenderConstraint requires DPoP.*\n$/,
    );
  }
});

Deno.test("Server:Workers 2 under deno run src/main.ts: exit 1, one line naming the launcher", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-workers-" });
  const path = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: freePort(), Workers: 2 },
      Authority: await localAuthority(authority, dir),
      Signing: { Issuer: "registry-token-workers", KeyPath: SIGNING_KEY_PATH },
    },
  }, dir);
  const result = await runDeno(await productionFlags(path), MAIN, ["--config", path]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^startup error: Server:Workers above 1 runs .*deno task start.*\n$/);
});

Deno.test("Server:Workers 2 with an unreadable signing key: the launcher says so once, exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-workers-" });
  const path = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: freePort(), Workers: 2 },
      Authority: await localAuthority(authority, dir),
      Signing: { Issuer: "registry-token-workers", KeyPath: `${dir}/missing.pem` },
    },
  }, dir);
  const result = await runDeno(startTaskFlags(), LAUNCHER, ["--config", path]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^config error: RegistryTokenService:Signing:KeyPath: .*\n$/);
});
