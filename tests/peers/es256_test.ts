/**
 * ES256 registry tokens against the real distribution 2.8 registry (Debian's docker-registry):
 * an EC P-256 signing key with a self-signed certificate, with a CA-issued certificate in a PFX,
 * and without certificate (trusted through the --export-trust bundle and the libtrust kid).
 */

import assert from "node:assert/strict";
import { decodeProtectedHeader } from "jose";
import { createTestAuthority } from "../support/authority.ts";
import { exportTrust, localAuthority, writeConfig } from "../support/process.ts";
import { callerCreds, startTokenStack, type TokenStack, writeOciImage } from "../support/peers.ts";
import { fixture } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");
const REGISTRY = "registry.es256-test";
const ISSUER = "registry-token-es256-test";

/** The service (production permissions) signing with `signing`, and a registry trusting `bundle`. */
function startStack(signing: Record<string, unknown>, bundle: string) {
  return startTokenStack({ authority, issuer: ISSUER, service: REGISTRY, signing, bundle });
}

/** The protected header of a registry token the stack's service issues directly. */
async function tokenHeader(stack: TokenStack, creds: string) {
  const response = await fetch(
    `${stack.realm}?service=${REGISTRY}&scope=repository:team/app:pull`,
    { headers: { authorization: `Basic ${btoa(creds)}` } },
  );
  assert.equal(response.status, 200, await response.clone().text());
  return decodeProtectedHeader((await response.json()).token);
}

/** Pushes an image and inspects it back; both need registry tokens the registry accepted. */
async function pushAndInspect(stack: TokenStack, repository: string) {
  const { layout, manifestDigest } = await writeOciImage(stack.dir, `${repository}\n`);
  const creds = await callerCreds(authority, { "stellaops:plan": "ci" });
  const push = await stack.push(creds, layout, repository);
  assert.ok(push.success, `push: ${push.output}\nregistry: ${stack.registry.log()}`);
  const inspect = await stack.inspect(creds, repository, "--format", "{{.Digest}}");
  assert.ok(inspect.success, `inspect: ${inspect.output}\nregistry: ${stack.registry.log()}`);
  assert.equal(inspect.output.trim(), manifestDigest);
  return creds;
}

Deno.test("distribution 2.8 accepts ES256 tokens whose x5c is a self-signed EC certificate", async () => {
  const stack = await startStack(
    { KeyPath: fixture("keys/ec-p256.key-and-cert.pem") },
    fixture("keys/ec-p256.cert.pem"),
  );
  try {
    const creds = await pushAndInspect(stack, "team/app");
    const header = await tokenHeader(stack, creds);
    assert.equal(header.alg, "ES256");
    assert.equal(header.x5c?.length, 1);
  } finally {
    await stack.stop();
  }
});

Deno.test("distribution 2.8 accepts ES256 tokens whose x5c chains an EC leaf to an RSA CA, from a PFX", async () => {
  const stack = await startStack(
    { KeyPath: fixture("keys/ec-p256.modern.pfx"), KeyPassword: "fixture-password" },
    fixture("keys/ca.cert.pem"),
  );
  try {
    const creds = await pushAndInspect(stack, "team/chained");
    const header = await tokenHeader(stack, creds);
    assert.equal(header.alg, "ES256");
    assert.equal(header.x5c?.length, 2, "leaf and CA");
  } finally {
    await stack.stop();
  }
});

Deno.test("distribution 2.8 trusts an EC key without certificate through the --export-trust bundle and libtrust kid", async () => {
  const exportDir = await Deno.makeTempDir({ prefix: "registry-token-es256-trust-" });
  try {
    const signing = { KeyPath: fixture("keys/ec-p256.pkcs8.pem") };
    const configPath = await writeConfig({
      RegistryTokenService: {
        Authority: await localAuthority(authority, exportDir),
        Signing: { Issuer: ISSUER, ...signing },
      },
    }, exportDir);
    const out = `${exportDir}/trust`;
    const exported = await exportTrust(configPath, out);
    assert.equal(exported.code, 0, exported.stderr);
    const jwks = JSON.parse(await Deno.readTextFile(`${out}/jwks.json`));
    assert.equal(jwks.keys[0].kty, "EC");
    assert.equal(jwks.keys[0].alg, "ES256");

    const stack = await startStack(signing, `${out}/rootcertbundle.pem`);
    try {
      const creds = await pushAndInspect(stack, "team/kid-only");
      const header = await tokenHeader(stack, creds);
      assert.equal(header.alg, "ES256");
      assert.equal(header.x5c, undefined, "the registry found the key by kid alone");
      assert.equal(header.kid, jwks.keys[0].kid);
    } finally {
      await stack.stop();
    }
  } finally {
    await Deno.remove(exportDir, { recursive: true });
  }
});
