/**
 * `--doctor` against real distribution 2.8 registries, each configured wrongly in one way it can
 * diagnose, through the launcher as `deno task start` runs it (so under its least privilege).
 */

import assert from "node:assert/strict";
import { createTestAuthority, liveToken } from "../support/authority.ts";
import {
  exportTrust,
  LAUNCHER,
  localAuthority,
  runDeno,
  spawnService,
  startTaskFlags,
  writeConfig,
} from "../support/process.ts";
import { freePort, type RegistryProcess, startRegistry } from "../support/peers.ts";
import { fixture, SIGNING_KEY_PATH } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");
const ISSUER = "registry-token-doctor-test";
const SERVICE = "registry.test";

const dir = await Deno.makeTempDir({ prefix: "registry-token-doctor-" });
const port = freePort();
const realm = `http://127.0.0.1:${port}/token`;
const document = async (signing: Record<string, unknown> = {}) => ({
  RegistryTokenService: {
    Server: { Host: "127.0.0.1", Port: port },
    Authority: await localAuthority(authority, dir),
    Signing: { Issuer: ISSUER, KeyPath: SIGNING_KEY_PATH, ...signing },
    Registry: { AllowedServices: [SERVICE] },
    Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull"] }] }],
    DefaultPlan: "ci",
  },
});
const configPath = await writeConfig(await document(), dir);
const trustDir = `${dir}/trust`;
await Deno.mkdir(trustDir);
const exported = await exportTrust(configPath, trustDir);
assert.equal(exported.code, 0, exported.stderr);
const bundle = `${trustDir}/rootcertbundle.pem`;

/** `deno task start --config … --doctor <registry> --repository team/app`. */
async function doctor(registry: RegistryProcess, config = configPath, withToken = true) {
  const env: Record<string, string> = withToken
    ? { REGISTRY_TOKEN_DOCTOR_TOKEN: await liveToken(authority) }
    : {};
  return await runDeno(startTaskFlags(), LAUNCHER, [
    "--config",
    config,
    "--doctor",
    `http://${registry.address}`,
    "--repository",
    "team/app",
  ], env);
}

function registryWith(
  patch: { service?: string; issuer?: string; bundle?: string; realm?: string },
) {
  return startRegistry({
    realm: patch.realm ?? realm,
    service: patch.service ?? SERVICE,
    issuer: patch.issuer ?? ISSUER,
    rootCertBundle: patch.bundle ?? bundle,
  });
}

/** The line of `stdout` starting with `prefix`. */
function line(stdout: string, prefix: string): string {
  const found = stdout.split("\n").find((candidate) => candidate.startsWith(prefix));
  assert.ok(found, `no "${prefix}" line in:\n${stdout}`);
  return found;
}

const service = await spawnService(configPath);
await service.waitForLog("listening");
const [healthy, wrongService, wrongIssuer, foreignBundle, realmElsewhere] = await Promise.all([
  registryWith({}),
  registryWith({ service: "other.test" }),
  registryWith({ issuer: "someone-else" }),
  registryWith({ bundle: fixture("keys/ec-p256.cert.pem") }),
  registryWith({ realm: "http://127.0.0.2:5999/token" }),
]);

Deno.test("doctor: a registry that accepts the tokens gets ok and exit 0", async () => {
  const result = await doctor(healthy);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(line(result.stdout, "ok: the realm is this service"), /signing kid /);
  assert.match(
    line(result.stdout, "ok: the realm issued"),
    /repository:team\/app:pull/,
  );
  // 404: the repository does not exist yet, but the registry took the token to say so.
  assert.match(line(result.stdout, "ok: the registry accepts it"), /404 for \/v2\/team\/app\/tags/);
  assert.doesNotMatch(result.stdout, /eyJ/, "no token is printed");
});

Deno.test("doctor: a registry whose service is not allowed names Registry:AllowedServices", async () => {
  const result = await doctor(wrongService);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(
    line(result.stdout, "problem:"),
    /service "other\.test" is not in Registry:AllowedServices \(registry\.test\)/,
  );
  assert.match(line(result.stdout, "fix:"), /add "other\.test" to Registry:AllowedServices/);
});

Deno.test("doctor: a registry with another issuer leaves issuer or trust, naming Signing:Issuer", async () => {
  const result = await doctor(wrongIssuer);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(line(result.stdout, "problem: the registry refused it"), /401 invalid_token/);
  assert.ok(result.stdout.split("\n").filter((l) => l.startsWith("  refused")).length >= 3);
  const cause = line(result.stdout, "cause:");
  assert.match(cause, /refused every token tried/);
  assert.match(cause, new RegExp(`auth\\.token\\.issuer is not "${ISSUER}" \\(Signing:Issuer\\)`));
  assert.match(line(result.stdout, "fix:"), /auth\.token\.issuer to "registry-token-doctor-test"/);
});

Deno.test("doctor: a registry with a foreign bundle leaves issuer or trust, naming the signing kid", async () => {
  const result = await doctor(foreignBundle);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const cause = line(result.stdout, "cause:");
  assert.match(cause, /refused every token tried/);
  assert.match(
    cause,
    /rootcertbundle \(or jwks\) holds none of this service's keys \(signing kid /,
  );
  assert.match(line(result.stdout, "fix:"), /rootcertbundle\.pem and jwks\.json of --export-trust/);
});

Deno.test("doctor: thumbprint kids at distribution 2.8 are diagnosed as the kid form, with the setting", async () => {
  // The same key without its certificate: with one, tokens carry x5c and distribution never
  // looks at the kid.
  const thumbprint = await writeConfig(
    await document({ KeyPath: fixture("keys/rsa.pkcs8.pem"), KeyIdFormat: "thumbprint" }),
    dir,
  );
  // No caller token: the running service uses libtrust kids; only tokens minted here are tried.
  const result = await doctor(healthy, thumbprint, false);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(line(result.stdout, "  accepted:"), /kid in libtrust form/);
  assert.match(
    line(result.stdout, "cause:"),
    /accepts the libtrust kid .* \(the thumbprint form\)/,
  );
  assert.match(line(result.stdout, "fix:"), /^fix: set Signing:KeyIdFormat: libtrust/);
});

Deno.test("doctor: a bundle without the new signing key but with the published one is a stale trust export", async () => {
  const rotated = await writeConfig(
    await document({
      KeyPath: fixture("keys/ec-p256.pkcs8.pem"),
      PublishedKeys: [{ KeyPath: SIGNING_KEY_PATH }],
    }),
    dir,
  );
  const result = await doctor(healthy, rotated, false);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(line(result.stdout, "  accepted:"), /signed with the published key/);
  assert.match(
    line(result.stdout, "cause:"),
    /trusts the published key .* but not the signing key/,
  );
  assert.match(line(result.stdout, "fix:"), /run --export-trust/);
});

Deno.test("doctor: a realm on another host is not contacted, and says which settings name this service's", async () => {
  const result = await doctor(realmElsewhere);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(
    line(result.stdout, "problem:"),
    /realm http:\/\/127\.0\.0\.2:5999\/token is not on one of this service's hosts/,
  );
});

Deno.test("doctor: a realm on the registry's host that does not prove itself never sees the caller token", async () => {
  // A registry (a stand-in: no real one names a realm on its own host) whose challenge sends the
  // doctor to a path of its own choosing, as a compromised or mistyped registry could.
  const authorizations: string[] = [];
  const standIn = freePort();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: standIn, onListen: () => {} },
    (request) => {
      authorizations.push(request.headers.get("authorization") ?? "");
      const port = standIn;
      return new Response("{}", {
        status: 401,
        headers: {
          "www-authenticate": `Bearer realm="http://127.0.0.1:${port}/steal",service="${SERVICE}"`,
        },
      });
    },
  );
  try {
    const result = await doctor({ address: `127.0.0.1:${standIn}` } as RegistryProcess);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      line(result.stdout, "problem: the caller token is not sent"),
      /nothing shows it is this service/,
    );
    assert.ok(
      authorizations.every((value) => !value.startsWith("Basic ")),
      `the caller token reached the stand-in: ${authorizations.join(", ")}`,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("doctor: stop the shared peers", async () => {
  await Promise.all(
    [healthy, wrongService, wrongIssuer, foreignBundle, realmElsewhere].map((r) => r.stop()),
  );
  assert.equal((await service.stop()).code, 0);
  await Deno.remove(dir, { recursive: true });
});
