import assert from "node:assert/strict";
import { decodeProtectedHeader } from "jose";
import { stringify as toYaml } from "yaml";
import { basic, createTestAuthority, liveToken } from "../support/authority.ts";
import {
  MAIN,
  productionFlags,
  runDeno,
  type ServiceProcess,
  spawnDeno,
} from "../support/process.ts";
import { fixture } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");
const KID_PATTERN = /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/;

/** A config directory whose file can be rewritten between reloads. */
async function configDir() {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-ops-" });
  await Deno.writeTextFile(`${dir}/authority-jwks.json`, JSON.stringify(authority.jwks));
  // Keys live next to the config, as in /etc/registry-token: the permission set covers the directory.
  for (const file of ["rsa.key-and-cert.pem", "rsa.pkcs8.pem", "ca.pkcs8.pem", "ca.cert.pem"]) {
    await Deno.copyFile(fixture(`keys/${file}`), `${dir}/${file}`);
  }
  const path = `${dir}/registry-token.yaml`;
  const write = (section: Record<string, unknown>) =>
    Deno.writeTextFile(
      path,
      toYaml({
        RegistryTokenService: {
          Server: { Host: "127.0.0.1", Port: 0 },
          Authority: { Issuer: authority.issuer, JwksPath: `${dir}/authority-jwks.json` },
          Signing: { Issuer: "registry-token-ops", KeyPath: `${dir}/rsa.key-and-cert.pem` },
          Plans: [{ Name: "ci", Repositories: [{ Pattern: "*", Actions: ["pull"] }] }],
          DefaultPlan: "ci",
          ...section,
        },
      }),
    );
  return { dir, path, write };
}

async function waitForRecord(
  service: ServiceProcess,
  test: (record: Record<string, unknown>) => boolean,
) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const found = service.stdout.map((line) => JSON.parse(line)).find(test);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no such log record: ${service.stdout.join("\n")}`);
}

Deno.test("SIGHUP reloads revoked licences; an invalid config is refused and the old one keeps serving", async () => {
  const config = await configDir();
  await config.write({});
  const service = spawnDeno(await productionFlags(config.path), MAIN, ["--config", config.path]);
  try {
    const { port } = await service.waitForLog("listening");
    const url = `http://127.0.0.1:${port}/token?service=registry.ops&scope=repository:a/b:pull`;
    const licensed = async () =>
      (await fetch(url, {
        headers: {
          authorization: basic(await liveToken(authority, { "stellaops:license": "lic-9" })),
        },
      }))
        .status;
    assert.equal(await licensed(), 200);

    await config.write({ RevokedLicenses: ["lic-9"] });
    service.child.kill("SIGHUP");
    await waitForRecord(service, (record) => record.msg === "reloaded");
    assert.equal(await licensed(), 403, "the revocation applies to the next request");

    await Deno.writeTextFile(config.path, "RegistryTokenService:\n  Signing: { Lifetime: 2h }\n");
    service.child.kill("SIGHUP");
    const failure = await waitForRecord(
      service,
      (record) => String(record.msg).startsWith("reload failed"),
    );
    assert.equal(failure.level, "error");
    assert.match(
      String(failure.msg),
      /still serving the previous configuration: RegistryTokenService:/,
    );
    assert.equal(await licensed(), 403, "the previous configuration keeps serving");
    const other = await fetch(url, {
      headers: { authorization: basic(await liveToken(authority)) },
    });
    assert.equal(other.status, 200);
    await other.body?.cancel();
  } finally {
    assert.equal((await service.stop()).code, 0);
  }
});

Deno.test("key rotation: published keys appear in /jwks and the export, and a reload swaps the signer", async () => {
  const config = await configDir();
  const oldKey = `${config.dir}/rsa.key-and-cert.pem`;
  const newKey = `${config.dir}/ca.pkcs8.pem`;
  const expired = `${config.dir}/rsa.pkcs8.pem`;
  // Step 1: the next key is published before it signs anything.
  await config.write({
    Signing: {
      Issuer: "registry-token-ops",
      KeyPath: oldKey,
      CertificatePath: undefined,
      KeyIdFormat: "thumbprint",
      PublishedKeys: [{ KeyPath: newKey, CertificatePath: `${config.dir}/ca.cert.pem` }],
    },
  });
  const service = spawnDeno(await productionFlags(config.path), MAIN, ["--config", config.path]);
  try {
    const { port, kid: oldKid } = await service.waitForLog("listening");
    const base = `http://127.0.0.1:${port}`;
    const jwksKids = async () =>
      ((await (await fetch(`${base}/jwks`)).json()).keys as { kid: string }[]).map((key) =>
        key.kid
      );
    const signingKid = async () => {
      const response = await fetch(`${base}/token?service=registry.ops`, {
        headers: { authorization: basic(await liveToken(authority)) },
      });
      return decodeProtectedHeader((await response.json()).token).kid;
    };
    const [, newKid] = await jwksKids();
    assert.ok(newKid && newKid !== oldKid);
    assert.equal(await signingKid(), oldKid);

    // Step 2: swap; the old key stays published; an expired one is no longer published.
    await config.write({
      Signing: {
        Issuer: "registry-token-ops",
        KeyPath: newKey,
        KeyIdFormat: "thumbprint",
        PublishedKeys: [
          { KeyPath: oldKey },
          { KeyPath: expired, Until: "2020-01-01T00:00:00Z" },
        ],
      },
    });
    service.child.kill("SIGHUP");
    await waitForRecord(service, (record) => record.msg === "reloaded");
    assert.equal(await signingKid(), newKid);
    assert.deepEqual(await jwksKids(), [newKid, oldKid]);

    const exported = await runDeno(
      [
        ...(await productionFlags(config.path)).filter((flag) => !flag.startsWith("--allow-net")),
        `--allow-write=${config.dir}/trust`,
      ],
      MAIN,
      ["--config", config.path, "--export-trust", `${config.dir}/trust`],
    );
    assert.equal(exported.code, 0, exported.stderr);
    const jwks = JSON.parse(await Deno.readTextFile(`${config.dir}/trust/jwks.json`));
    assert.deepEqual(jwks.keys.map((key: { kid: string }) => key.kid), [newKid, oldKid]);
    const bundle = await Deno.readTextFile(`${config.dir}/trust/rootcertbundle.pem`);
    assert.equal(
      bundle.match(/BEGIN CERTIFICATE/g)?.length,
      2,
      "one certificate per published key",
    );
  } finally {
    assert.equal((await service.stop()).code, 0);
  }
});

Deno.test("SIGTERM lets an in-flight request finish, then exits 0", async () => {
  const slowAuthority = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return Response.json(authority.jwks);
    },
  );
  const config = await configDir();
  await config.write({
    Authority: {
      Issuer: authority.issuer,
      JwksUri: `http://127.0.0.1:${slowAuthority.addr.port}/jwks`,
    },
  });
  const service = spawnDeno(await productionFlags(config.path), MAIN, ["--config", config.path]);
  try {
    const { port } = await service.waitForLog("listening");
    // The first request waits for the slow Authority's keys; stop the service meanwhile.
    const inFlight = fetch(`http://127.0.0.1:${port}/token?service=registry.ops`, {
      headers: { authorization: basic(await liveToken(authority)) },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    service.child.kill("SIGTERM");
    const response = await inFlight;
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal((await service.stop()).code, 0);
    assert.ok(service.stdout.some((line) => JSON.parse(line).msg === "stopped"));
  } finally {
    await service.stop();
    await slowAuthority.shutdown();
  }
});

Deno.test("SIGTERM gives up on requests that outlast Server:DrainTimeout and still exits 0", async () => {
  const unanswered: ((response: Response) => void)[] = [];
  const hangingAuthority = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Promise<Response>((resolve) => unanswered.push(resolve)),
  );
  const config = await configDir();
  await config.write({
    Server: { Host: "127.0.0.1", Port: 0, DrainTimeout: "1s" },
    Authority: {
      Issuer: authority.issuer,
      JwksUri: `http://127.0.0.1:${hangingAuthority.addr.port}/jwks`,
    },
  });
  const service = spawnDeno(await productionFlags(config.path), MAIN, ["--config", config.path]);
  try {
    const { port } = await service.waitForLog("listening");
    const inFlight = fetch(`http://127.0.0.1:${port}/token?service=registry.ops`, {
      headers: { authorization: basic(await liveToken(authority)) },
    }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    service.child.kill("SIGTERM");
    const status = await service.stop();
    assert.equal(status.code, 0);
    assert.ok(
      Date.now() - started < 8_000,
      "bounded by the drain timeout, not the hanging request",
    );
    assert.ok(
      service.stdout.some((line) => JSON.parse(line).msg === "stopped after the drain timeout"),
    );
    await inFlight;
  } finally {
    // Answer what is still hanging, or shutdown() would wait for it forever.
    unanswered.forEach((resolve) => resolve(new Response(null, { status: 503 })));
    await hangingAuthority.shutdown();
  }
});

Deno.test("--check prints the effective configuration with passwords redacted", async () => {
  const config = await configDir();
  await Deno.copyFile(fixture("keys/rsa.modern.pfx"), `${config.dir}/signing.pfx`);
  await config.write({
    Signing: {
      Issuer: "registry-token-ops",
      KeyPath: `${config.dir}/signing.pfx`,
      KeyPassword: "fixture-password",
    },
  });
  const result = await runDeno(await productionFlags(config.path), MAIN, [
    "--config",
    config.path,
    "--check",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(!result.stdout.includes("fixture-password"), "the password is not printed");
  const effective = JSON.parse(result.stdout.slice(result.stdout.indexOf("\n") + 1));
  assert.equal(effective.signing.keyPassword, "<redacted>");
  assert.equal(effective.signing.lifetimeSeconds, 300);
  assert.match(result.stdout.split("\n")[0], /signing kid /);
  assert.match(result.stdout.split("\n")[0].split("kid ")[1], KID_PATTERN);
});

Deno.test("as PID 1 of its own PID namespace the service still stops on SIGTERM with exit 0", async () => {
  const config = await configDir();
  await config.write({});
  const flags = await productionFlags(config.path);
  // unshare forks the service into a new PID namespace, where it is PID 1: the kernel then
  // delivers only signals it has handlers for, so a missing handler would hang here.
  const unshare = new Deno.Command("unshare", {
    args: ["--pid", "--fork", Deno.execPath(), "run", ...flags, MAIN, "--config", config.path],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = unshare.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes('"msg":"listening"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the service did not start: ${output}`);
    output += value;
  }
  const children = await new Deno.Command("pgrep", { args: ["-P", String(unshare.pid)] }).output();
  const pid = Number(new TextDecoder().decode(children.stdout).trim());
  assert.ok(pid > 0, "found the service process");
  const status = await new Deno.Command("grep", { args: ["^NSpid", `/proc/${pid}/status`] })
    .output();
  assert.match(new TextDecoder().decode(status.stdout), /\t1$/m, "it is PID 1 in its namespace");
  Deno.kill(pid, "SIGTERM");
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    output += value;
  }
  await unshare.stderr.cancel();
  assert.equal((await unshare.status).code, 0);
  assert.match(output, /"msg":"stopped"/);
});

Deno.test("--version prints the version from deno.json", async () => {
  const result = await runDeno(["--no-prompt"], MAIN, ["--version"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^registry-token-service \d+\.\d+\.\d+\n$/);
});

Deno.test("a key file that became corrupt or unreadable at reload leaves the old key signing", async () => {
  const config = await configDir();
  await config.write({});
  const service = spawnDeno(await productionFlags(config.path), MAIN, ["--config", config.path]);
  try {
    const { port, kid } = await service.waitForLog("listening");
    const issue = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/token?service=registry.ops`, {
        headers: { authorization: basic(await liveToken(authority)) },
      });
      assert.equal(response.status, 200);
      return decodeProtectedHeader((await response.json()).token).kid;
    };
    const keyPath = `${config.dir}/rsa.key-and-cert.pem`;
    await Deno.writeTextFile(
      keyPath,
      "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n",
    );
    service.child.kill("SIGHUP");
    const corrupt = await waitForRecord(
      service,
      (record) => String(record.msg).startsWith("reload failed"),
    );
    assert.match(String(corrupt.msg), /Signing:KeyPath/);
    assert.equal(await issue(), kid, "the old key keeps signing");

    await Deno.remove(keyPath);
    service.child.kill("SIGHUP");
    await waitForRecord(
      service,
      (record) =>
        String(record.msg).startsWith("reload failed") && record !== corrupt &&
        /No such file|not found|cannot read/i.test(String(record.msg)),
    );
    assert.equal(await issue(), kid);
  } finally {
    assert.equal((await service.stop()).code, 0);
  }
});

Deno.test("with Server:ReloadOnChange an edited config applies without a signal", async () => {
  const config = await configDir();
  const watched = { Server: { Host: "127.0.0.1", Port: 0, ReloadOnChange: true } };
  await config.write(watched);
  const service = spawnDeno(await productionFlags(config.path), MAIN, ["--config", config.path]);
  try {
    const { port } = await service.waitForLog("listening");
    const url = `http://127.0.0.1:${port}/token?service=registry.ops`;
    const licensed = async () =>
      (await fetch(url, {
        headers: {
          authorization: basic(await liveToken(authority, { "stellaops:license": "lic-5" })),
        },
      })).status;
    assert.equal(await licensed(), 200);
    await config.write({ ...watched, RevokedLicenses: ["lic-5"] });
    await waitForRecord(service, (record) => record.msg === "reloaded");
    assert.equal(await licensed(), 403);
  } finally {
    assert.equal((await service.stop()).code, 0);
  }
});
