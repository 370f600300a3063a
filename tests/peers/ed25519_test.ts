/**
 * What the real distribution 2.8 registry (Debian's docker-registry) does with Ed25519: it
 * refuses EdDSA tokens even when their `x5c` chains to its bundle, and does not start with an
 * Ed25519 certificate in its bundle. This is why `--export-trust` prints no 2.8 section for an
 * Ed25519 key (docs/registry.md).
 */

import assert from "node:assert/strict";
import { decodeProtectedHeader } from "jose";
import { createTestAuthority } from "../support/authority.ts";
import { callerCreds, startRegistry, startTokenStack, writeOciImage } from "../support/peers.ts";
import { fixture } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");
const REGISTRY = "registry.ed25519-test";
const ISSUER = "registry-token-ed25519-test";

Deno.test("distribution 2.8 refuses EdDSA tokens whose x5c chains an Ed25519 leaf to its bundle", async () => {
  const stack = await startTokenStack({
    authority,
    issuer: ISSUER,
    service: REGISTRY,
    signing: {
      KeyPath: fixture("keys/ed25519.pkcs8.pem"),
      CertificatePath: fixture("keys/ed25519.chain.pem"),
    },
    bundle: fixture("keys/ca.cert.pem"),
  });
  try {
    const creds = await callerCreds(authority, { "stellaops:plan": "ci" });
    const response = await fetch(
      `${stack.realm}?service=${REGISTRY}&scope=repository:team/app:pull`,
      { headers: { authorization: `Basic ${btoa(creds)}` } },
    );
    assert.equal(response.status, 200, "the service mints the token");
    const header = decodeProtectedHeader((await response.json()).token);
    assert.equal(header.alg, "EdDSA");
    assert.equal(header.x5c?.length, 2, "leaf and CA, the CA in the registry's bundle");

    const { layout } = await writeOciImage(stack.dir);
    const push = await stack.push(creds, layout, "team/app");
    assert.ok(!push.success, `the registry must refuse the token: ${push.output}`);
    assert.match(push.output, /401|unauthorized|authentication required/i);
    assert.deepEqual(stack.refusals(), [], "the service refused nothing: the registry did");
    // 2.8 logs only "invalid token" for it; the same chain with an EC leaf is accepted
    // (tests/peers/es256_test.ts), so it is the key type that is refused, not the chain.
    assert.match(stack.registry.log(), /error authorizing context: invalid token/);
  } finally {
    await stack.stop();
  }
});

Deno.test("distribution 2.8 does not start with an Ed25519 certificate in its bundle", async () => {
  await assert.rejects(
    startRegistry({
      realm: "http://127.0.0.1:9/token",
      service: REGISTRY,
      issuer: ISSUER,
      rootCertBundle: fixture("keys/ed25519.cert.pem"),
    }),
    /exited with \d+ before it was ready:.*public key type ed25519\.PublicKey is not supported/s,
  );
});
