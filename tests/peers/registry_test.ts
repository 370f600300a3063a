import assert from "node:assert/strict";
import { createTestAuthority } from "../support/authority.ts";
import { productionFlags, spawnDeno, writeConfig } from "../support/process.ts";
import { requirePeer, skopeo, startRegistry, writeOciImage } from "../support/peers.ts";
import { fixture } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");
const SERVICE = "registry.peer-test";
const ISSUER = "registry-token-peer-test";

/** Caller tokens for the real service, which uses the real clock. */
async function callerCreds(claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const token = await authority.token({ claims: { iat: now, exp: now + 600, ...claims } });
  return `oauth2accesstoken:${token}`;
}

/** The service (production permissions) plus a distribution 2.8 registry trusting it. */
async function startStack(keyFile: string, patch: Record<string, unknown> = {}) {
  await requirePeer("skopeo");
  const dir = await Deno.makeTempDir({ prefix: "registry-token-peer-" });
  const jwksPath = `${dir}/authority-jwks.json`;
  await Deno.writeTextFile(jwksPath, JSON.stringify(authority.jwks));
  const configPath = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 0 },
      Authority: { Issuer: authority.issuer, JwksPath: jwksPath },
      Signing: { Issuer: ISSUER, KeyPath: fixture(`keys/${keyFile}`) },
      Plans: [
        { Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] },
        { Name: "reader", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
        { Name: "admin", Repositories: [{ Pattern: "*", Actions: ["*"] }] },
      ],
      DefaultPlan: "reader",
      ...patch,
    },
  }, dir);
  const service = spawnDeno(
    await productionFlags(configPath),
    new URL("../../src/main.ts", import.meta.url).pathname,
    [
      "--config",
      configPath,
    ],
  );
  const { port } = await service.waitForLog("listening");
  const registry = await startRegistry({
    realm: `http://127.0.0.1:${port}/token`,
    service: SERVICE,
    issuer: ISSUER,
    rootCertBundle: fixture("keys/rsa.cert.pem"),
  });
  const home = `${dir}/home`;
  await Deno.mkdir(home);
  return {
    dir,
    home,
    registry,
    service,
    /** Reasons the service logged for refused requests. */
    refusals: () =>
      service.stdout.map((line) => JSON.parse(line)).filter((record) => record.reason).map((
        record,
      ) => record.reason),
    async stop() {
      await registry.stop();
      assert.equal((await service.stop()).code, 0);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("skopeo pushes, inspects and pulls through distribution 2.8 with x5c-signed tokens", async () => {
  const stack = await startStack("rsa.key-and-cert.pem");
  try {
    const { layout, manifestDigest } = await writeOciImage(stack.dir);
    const target = `docker://${stack.registry.address}/team/app:latest`;
    const creds = await callerCreds({ "stellaops:plan": "ci" });

    const push = await skopeo(
      stack.home,
      "copy",
      "--dest-tls-verify=false",
      "--dest-creds",
      creds,
      `oci:${layout}:latest`,
      target,
    );
    assert.ok(push.success, `push: ${push.output}\nregistry: ${stack.registry.log()}`);

    const inspect = await skopeo(
      stack.home,
      "inspect",
      "--tls-verify=false",
      "--creds",
      creds,
      "--format",
      "{{.Digest}}",
      target,
    );
    assert.ok(inspect.success, inspect.output);
    assert.equal(inspect.output.trim(), manifestDigest);

    const pulled = `${stack.dir}/pulled`;
    const pull = await skopeo(
      stack.home,
      "copy",
      "--src-tls-verify=false",
      "--src-creds",
      creds,
      target,
      `oci:${pulled}:latest`,
    );
    assert.ok(pull.success, pull.output);
    const index = JSON.parse(await Deno.readTextFile(`${pulled}/index.json`));
    assert.equal(index.manifests[0].digest, manifestDigest, "the pulled image is the pushed one");
  } finally {
    await stack.stop();
  }
});

Deno.test("distribution 2.8 accepts tokens identified only by the libtrust kid", async () => {
  const stack = await startStack("rsa.pkcs8.pem");
  try {
    const { layout } = await writeOciImage(stack.dir);
    const creds = await callerCreds({ "stellaops:plan": "ci" });
    const push = await skopeo(
      stack.home,
      "copy",
      "--dest-tls-verify=false",
      "--dest-creds",
      creds,
      `oci:${layout}:latest`,
      `docker://${stack.registry.address}/team/kid-only:latest`,
    );
    assert.ok(push.success, `push: ${push.output}\nregistry: ${stack.registry.log()}`);
  } finally {
    await stack.stop();
  }
});

Deno.test("a plan without push cannot push, and a revoked licence cannot pull", async () => {
  const stack = await startStack("rsa.key-and-cert.pem", { RevokedLicenses: ["lic-revoked"] });
  try {
    const { layout } = await writeOciImage(stack.dir);
    const target = `docker://${stack.registry.address}/team/app:latest`;
    const admin = await callerCreds({ "stellaops:plan": "admin" });
    const seeded = await skopeo(
      stack.home,
      "copy",
      "--dest-tls-verify=false",
      "--dest-creds",
      admin,
      `oci:${layout}:latest`,
      target,
    );
    assert.ok(seeded.success, seeded.output);

    const reader = await callerCreds({});
    const push = await skopeo(
      stack.home,
      "copy",
      "--dest-tls-verify=false",
      "--dest-creds",
      reader,
      `oci:${layout}:latest`,
      `docker://${stack.registry.address}/team/other:latest`,
    );
    assert.ok(!push.success, "a reader cannot push");
    assert.ok(stack.refusals().includes("access_denied"), stack.service.stdout.join("\n"));

    const revoked = await callerCreds({
      "stellaops:plan": "admin",
      "stellaops:license": "lic-revoked",
    });
    const pull = await skopeo(
      stack.home,
      "inspect",
      "--tls-verify=false",
      "--creds",
      revoked,
      target,
    );
    assert.ok(!pull.success, "a revoked licence cannot pull");
    assert.ok(stack.refusals().includes("license_revoked"));

    const expired = await skopeo(
      stack.home,
      "inspect",
      "--tls-verify=false",
      "--creds",
      `oauth2accesstoken:${await authority.token({
        claims: { exp: Math.floor(Date.now() / 1000) - 3600 },
      })}`,
      target,
    );
    assert.ok(!expired.success);
    assert.match(
      expired.output,
      /the Authority token has expired/,
      "skopeo shows errors[0].message of a 401",
    );
  } finally {
    await stack.stop();
  }
});
