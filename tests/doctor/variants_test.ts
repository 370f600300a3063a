import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { mintVariants, type VariantInputs } from "../../src/doctor/variants.ts";
import { loadSigningKey } from "../../src/token/keys.ts";
import { fixture } from "../support/service.ts";

async function inputs(patch: Partial<VariantInputs> = {}): Promise<VariantInputs> {
  return {
    signingKey: await loadSigningKey({ keyPath: fixture("keys/rsa.pkcs8.pem") }),
    publishedKeys: [],
    issuer: "registry-token",
    service: "registry.example",
    lifetimeSeconds: 300,
    now: new Date("2026-12-01T12:00:00Z"),
    randomId: () => "jti",
    ...patch,
  };
}

Deno.test("variants differ from the configured token in one property each, none repeated", async () => {
  const variants = await mintVariants(await inputs());
  // The configured kid is the libtrust one and there is no chain: that variant would repeat it.
  assert.deepEqual(variants.map(({ change }) => change.kind), ["none", "kid"]);
  const kid = variants[1].change.kind === "kid" ? variants[1].change : undefined;
  assert.equal(kid?.format, "thumbprint");
  assert.equal(decodeProtectedHeader(variants[1].token).kid, kid?.kid);
});

Deno.test("aud, the registry's clock and published keys each get a variant when they could matter", async () => {
  const published = await loadSigningKey({ keyPath: fixture("keys/ec-p256.pkcs8.pem") });
  const variants = await mintVariants(
    await inputs({ audience: "other", skewSeconds: 120, publishedKeys: [published] }),
  );
  assert.deepEqual(
    variants.map(({ change }) => change.kind),
    ["none", "kid", "audience", "clock", "published-key"],
  );
  assert.equal(decodeJwt(variants[2].token).aud, "registry.example");
  assert.equal(decodeJwt(variants[3].token).iat, Date.parse("2026-12-01T12:02:00Z") / 1000);
  assert.equal(decodeProtectedHeader(variants[4].token).kid, published.kid);
  // A small skew is within distribution's leeway: not worth a variant.
  const small = await mintVariants(await inputs({ skewSeconds: 5 }));
  assert.ok(!small.some(({ change }) => change.kind === "clock"));
});

Deno.test("an Ed25519 key gets no libtrust variant: libtrust has no form for it", async () => {
  const signingKey = await loadSigningKey({ keyPath: fixture("keys/ed25519.pkcs8.pem") });
  const variants = await mintVariants(await inputs({ signingKey }));
  // Its kid is already the thumbprint, so nothing differs in the kid alone.
  assert.deepEqual(variants.map(({ change }) => change.kind), ["none"]);
  assert.equal(decodeProtectedHeader(variants[0].token).alg, "EdDSA");
});
