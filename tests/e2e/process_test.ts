import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { basic, createTestAuthority, liveToken } from "../support/authority.ts";
import {
  exportTrust,
  LAUNCHER,
  localAuthority,
  MAIN,
  PERMISSION_PROBE,
  productionFlags,
  runDeno,
  spawnDeno,
  spawnService,
  startTaskFlags,
  writeConfig,
} from "../support/process.ts";
import { fixture, SIGNING_KEY_PATH } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");

/** A valid config in a fresh temp dir whose Authority keys come from a local JWKS file. */
async function validConfig(signing: Record<string, unknown> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-e2e-" });
  const document = {
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 0 },
      Authority: await localAuthority(authority, dir),
      Signing: { Issuer: "registry-token-e2e", KeyPath: SIGNING_KEY_PATH, ...signing },
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] }],
      DefaultPlan: "ci",
    },
  };
  return { dir, document, path: await writeConfig(document, dir) };
}

Deno.test("the production permission set is least privilege", async () => {
  const { dir, path } = await validConfig();
  const flags = await productionFlags(path);
  assert.deepEqual(flags, [
    `--allow-read=${dir},${fixture("keys")}`,
    "--allow-env=REGISTRY_TOKEN_*",
    "--ignore-env=LOG_TOKENS,LOG_STREAM,REDIS_DEBUG_MAINTENANCE,REDIS_EMIT_DIAGNOSTICS,OTEL_*",
    "--allow-net=127.0.0.1:0,127.0.0.1",
    "--no-remote",
    "--deny-import=jsr.io:443,deno.land:443,esm.sh:443,raw.esm.sh:443,cdn.jsdelivr.net:443,raw.githubusercontent.com:443,gist.githubusercontent.com:443",
    "--v8-flags=--max-semi-space-size=4",
    "--no-prompt",
  ]);
  const outside = await Deno.makeTempFile({ prefix: "registry-token-outside-" });
  const probe = await runDeno(flags, PERMISSION_PROBE, [path, outside], {
    REGISTRY_TOKEN_CONFIG: path,
  });
  assert.equal(probe.code, 0, probe.stderr);
  assert.deepEqual(JSON.parse(probe.stdout), {
    readAllowedFile: "allowed",
    readForbiddenFile: "denied",
    readPasswd: "denied",
    envOwn: "allowed",
    envOther: "denied",
    envListed: [],
    connectElsewhere: "denied",
    write: "denied",
    run: "denied",
    ffi: "denied",
    sys: "denied",
    importRemote: "denied",
  });
});

Deno.test("the service issues tokens over a real socket under the production permission set", async () => {
  const { path } = await validConfig();
  const service = await spawnService(path, {
    REGISTRY_TOKEN_REGISTRYTOKENSERVICE__REVOKEDLICENSES__0: "lic-revoked",
  });
  try {
    const { port } = await service.waitForLog("listening");
    const base = `http://127.0.0.1:${port}`;
    const response = await fetch(
      `${base}/token?service=registry.e2e&scope=repository:team/app:push`,
      {
        headers: { authorization: basic(await liveToken(authority)) },
      },
    );
    assert.equal(response.status, 200);
    const claims = decodeJwt((await response.json()).token);
    assert.equal(claims.iss, "registry-token-e2e");
    assert.deepEqual(claims.access, [{ type: "repository", name: "team/app", actions: ["push"] }]);

    const revoked = await fetch(`${base}/token?service=registry.e2e`, {
      headers: {
        authorization: basic(await liveToken(authority, { "stellaops:license": "lic-revoked" })),
      },
    });
    assert.equal(revoked.status, 403, "REGISTRY_TOKEN_ list override is read under restricted env");
    await revoked.body?.cancel();

    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    const status = await service.stop();
    assert.equal(status.code, 0, service.stderr.join("\n"));
  }
  assert.ok(service.stdout.some((line) => JSON.parse(line).msg === "stopped"));
  assert.equal(
    service.stderr.join("").trim(),
    "",
    "nothing on stderr: no permission prompts or warnings",
  );
});

Deno.test("--check validates configuration and keys, then exits without listening", async () => {
  const { path } = await validConfig();
  const result = await runDeno(await productionFlags(path), MAIN, ["--check", "--config", path]);
  assert.equal(result.code, 0, result.stderr);
  const [summary, ...json] = result.stdout.split("\n");
  assert.match(summary, /^configuration OK, signing kid [A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
  const effective = JSON.parse(json.join("\n"));
  assert.equal(effective.signing.keyPath, SIGNING_KEY_PATH);
  assert.equal(effective.authorities[0].senderConstraint, "none");
  assert.deepEqual(Object.keys(effective.policy.plans), ["ci"]);
});

Deno.test("invalid configuration stops startup with exit 2 and one line naming the key", async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "lifetime",
      { Signing: { Issuer: "x", KeyPath: SIGNING_KEY_PATH, Lifetime: "2h" } },
      /Signing:Lifetime: must be between 1s and 1h/,
    ],
    ["default plan", { DefaultPlan: "gold" }, /DefaultPlan: "gold" is not a configured plan/],
    ["issuer", { Authority: { JwksPath: "/dev/null" } }, /Authority:Issuer: is required/],
    ["typo", { Signing: { Issuer: "x", KeyPth: "/k.pem" } }, /Signing:KeyPth: unknown key/],
    [
      "pattern",
      {
        Plans: [{ Name: "p", Repositories: [{ Pattern: "a b", Actions: ["pull"] }] }],
        DefaultPlan: "p",
      },
      /Plans:0:Repositories:0:Pattern: /,
    ],
  ];
  for (const [name, patch, expected] of cases) {
    const { dir, document } = await validConfig();
    const path = await writeConfig({
      RegistryTokenService: { ...document.RegistryTokenService, ...patch },
    }, dir);
    const flags = [
      `--allow-read=${dir},${fixture("keys")}`,
      "--allow-env=REGISTRY_TOKEN_*",
      "--ignore-env=LOG_TOKENS,LOG_STREAM,REDIS_DEBUG_MAINTENANCE,REDIS_EMIT_DIAGNOSTICS",
      "--no-prompt",
    ];
    const result = await runDeno(flags, MAIN, ["--config", path]);
    assert.equal(result.code, 2, name);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${name}: one line, no stack trace: ${result.stderr}`);
    assert.match(lines[0], /^config error: RegistryTokenService:/, name);
    assert.match(lines[0], expected, name);
  }
});

Deno.test("unusable signing keys stop startup with one readable line and no secret", async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "missing file",
      { KeyPath: "/nonexistent/key.pem" },
      /Signing:KeyPath: .*\/nonexistent\/key\.pem/,
    ],
    ["wrong PFX password", {
      KeyPath: fixture("keys/rsa.modern.pfx"),
      KeyPassword: "not-the-password",
    }, /Signing:KeyPath: .*password/i],
    [
      "Ed448 key",
      { KeyPath: fixture("keys/ed448.pkcs8.pem") },
      /Signing:KeyPath: .*Ed448.*RSA.*P-256 \(ES256\).*Ed25519 key \(EdDSA\)/,
    ],
    [
      "libtrust kid for an Ed25519 key",
      { KeyPath: fixture("keys/ed25519.pkcs8.pem"), KeyIdFormat: "libtrust" },
      /Signing:KeyIdFormat: .*Ed25519 key, which has no libtrust key ID/,
    ],
  ];
  for (const [name, signing, expected] of cases) {
    const { path } = await validConfig(signing);
    const result = await runDeno(await productionFlags(path), MAIN, ["--config", path]);
    assert.equal(result.code, 2, name);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${name}: ${result.stderr}`);
    assert.match(lines[0], expected, name);
    assert.ok(!lines[0].includes("not-the-password"), "the password is never printed");
  }
});

Deno.test("the service loads a legacy PFX under the production permission set", async () => {
  const { path } = await validConfig({
    KeyPath: fixture("keys/rsa.legacy.pfx"),
    KeyPassword: "fixture-password",
  });
  const result = await runDeno(await productionFlags(path), MAIN, ["--check", "--config", path]);
  assert.equal(result.code, 0, result.stderr);
});

Deno.test("deno task start's launcher runs the service and forwards SIGTERM", async () => {
  const { path } = await validConfig();
  const launcher = spawnDeno(startTaskFlags(), LAUNCHER, ["--config", path]);
  try {
    const { port } = await launcher.waitForLog("listening");
    const response = await fetch(`http://127.0.0.1:${port}/token?service=registry.e2e`, {
      headers: { authorization: `Bearer ${await liveToken(authority)}` },
    });
    assert.equal(response.status, 200);
    await response.body?.cancel();
  } finally {
    assert.equal((await launcher.stop()).code, 0, launcher.stderr.join("\n"));
  }
});

Deno.test("the launcher reports an invalid config in one line", async () => {
  const { dir, document } = await validConfig();
  const path = await writeConfig({
    RegistryTokenService: { ...document.RegistryTokenService, DefaultPlan: "gold" },
  }, dir);
  const result = await runDeno(startTaskFlags(), LAUNCHER, ["--config", path]);
  assert.equal(result.code, 2);
  assert.match(result.stderr.trim(), /^config error: RegistryTokenService:DefaultPlan: [^\n]+$/);
});

Deno.test("the development profile serves the caller token it prints", async () => {
  const dev = spawnDeno(startTaskFlags(), LAUNCHER, ["--dev"], {
    REGISTRY_TOKEN_REGISTRYTOKENSERVICE__SERVER__PORT: "0",
  });
  try {
    const { port } = await dev.waitForLog("listening");
    let callerToken: string | undefined;
    for (let attempt = 0; attempt < 100 && !callerToken; attempt++) {
      callerToken = /CALLER_TOKEN='([^']+)'/.exec(dev.stderr.join("\n"))?.[1];
      if (!callerToken) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(callerToken, "the dev profile prints a caller token");
    const response = await fetch(
      `http://127.0.0.1:${port}/token?service=registry.local&scope=repository:demo/app:pull,push`,
      { headers: { authorization: basic(callerToken) } },
    );
    assert.equal(response.status, 200);
    const claims = decodeJwt((await response.json()).token);
    assert.deepEqual(claims.access, [{
      type: "repository",
      name: "demo/app",
      actions: ["pull", "push"],
    }]);
    assert.match(dev.stderr.join("\n"), /BEGIN CERTIFICATE/);
  } finally {
    assert.equal((await dev.stop()).code, 0);
  }
});

Deno.test("--export-trust writes the registry's JWKS and bundle with write access to that directory only", async () => {
  const { dir, path } = await validConfig({ KeyPath: fixture("keys/rsa.pkcs8.pem") });
  const out = `${dir}/registry-trust`;
  const result = await exportTrust(path, out);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /rootcertbundle: .*registry-trust\/rootcertbundle\.pem/);
  assert.match(result.stdout, /jwks: .*registry-trust\/jwks\.json/);
  assert.match(
    result.stdout,
    /self-signed certificates generated for [A-Z2-7:]{59}, which had none/,
  );
  const jwks = JSON.parse(await Deno.readTextFile(`${out}/jwks.json`));
  assert.match(jwks.keys[0].kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  assert.match(
    await Deno.readTextFile(`${out}/rootcertbundle.pem`),
    /^-----BEGIN CERTIFICATE-----/,
  );

  const outside = `${dir}/elsewhere`;
  const flags = (await productionFlags(path)).filter((flag) => !flag.startsWith("--allow-net"));
  const denied = await runDeno([...flags, `--allow-write=${out}`], MAIN, [
    "--config",
    path,
    "--export-trust",
    outside,
  ]);
  assert.equal(denied.code, 1, "writing outside the allowed directory fails");
  assert.match(denied.stderr.trim(), /^export error: [^\n]*elsewhere[^\n]*$/);
});
