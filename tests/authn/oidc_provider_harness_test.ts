/**
 * Proves the test Authority harness (tests/support/oidc_provider.ts): real oidc-provider tokens
 * verify against its published JWKS and carry the scope, audience, custom claims and sender
 * constraints that the service's tests rely on.
 */

import assert from "node:assert/strict";
import { base64url, createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from "jose";
import { createDpopKey, dpopProof, jwkThumbprint } from "../support/dpop.ts";
import {
  BEARER_CLIENT_ID,
  CLIENT_SECRET,
  DEFAULT_RESOURCE,
  DPOP_CLIENT_ID,
  readMtlsFixture,
  REGISTRY_SCOPE,
  startOidcProvider,
  type TestOidcProvider,
} from "../support/oidc_provider.ts";

/** Runs `body` against a fresh provider and always closes it. */
async function withProvider(
  body: (provider: TestOidcProvider) => Promise<void>,
  options?: Parameters<typeof startOidcProvider>[0],
): Promise<void> {
  const provider = await startOidcProvider(options);
  try {
    await body(provider);
  } finally {
    await provider.close();
  }
}

async function discovery(provider: TestOidcProvider): Promise<Record<string, unknown>> {
  const response = await fetch(provider.metadataAddress);
  assert.equal(response.status, 200);
  return await response.json();
}

/** Verifies `token` the way a resource server would: signature from jwks_uri, iss, aud. */
async function verify(provider: TestOidcProvider, token: string): Promise<JWTPayload> {
  return await verifySignedWith(provider, token, "ES256");
}

async function verifySignedWith(
  provider: TestOidcProvider,
  token: string,
  alg: string,
): Promise<JWTPayload> {
  const { jwks_uri } = await discovery(provider);
  const { payload, protectedHeader } = await jwtVerify(
    token,
    createRemoteJWKSet(new URL(String(jwks_uri))),
    { issuer: provider.issuer, audience: provider.resource, typ: "at+jwt" },
  );
  assert.equal(protectedHeader.alg, alg);
  return payload;
}

/** RFC 8705 `x5t#S256` of a PEM certificate: base64url(SHA-256(DER)), DER decoded by hand. */
async function certificateThumbprint(pem: string): Promise<string> {
  const base64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, "");
  const der = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", der)));
}

Deno.test("oidc-provider harness: discovery names issuer, jwks_uri and the mTLS alias", async () => {
  await withProvider(async (provider) => {
    assert.match(provider.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(provider.mtlsTokenEndpoint, /^https:\/\/127\.0\.0\.1:\d+\/token$/);
    const metadata = await discovery(provider);
    assert.equal(metadata.issuer, provider.issuer);
    assert.equal(metadata.jwks_uri, `${provider.issuer}/jwks`);
    assert.equal(metadata.token_endpoint, `${provider.issuer}/token`);
    assert.deepEqual(metadata.mtls_endpoint_aliases, {
      token_endpoint: provider.mtlsTokenEndpoint,
    });
    assert.equal(metadata.tls_client_certificate_bound_access_tokens, true);
    assert.ok((metadata.dpop_signing_alg_values_supported as string[]).includes("ES256"));
    const jwks = await (await fetch(String(metadata.jwks_uri))).json();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].d, undefined, "the JWKS must not publish the private key");
  });
});

Deno.test("oidc-provider harness: a bearer token verifies and has scope, aud and claims", async () => {
  await withProvider(async (provider) => {
    const token = await provider.bearerToken({ plan: "enterprise", license: "lic-42" });
    const claims = await verify(provider, token);
    assert.equal(claims.aud, DEFAULT_RESOURCE);
    assert.equal(claims.sub, BEARER_CLIENT_ID);
    assert.equal(claims.scope, REGISTRY_SCOPE);
    assert.equal(claims["stellaops:plan"], "enterprise");
    assert.equal(claims["stellaops:license"], "lic-42");
    assert.equal(claims.cnf, undefined);
    assert.equal((claims.exp as number) - (claims.iat as number), 600);

    const plain = decodeJwt(await provider.bearerToken());
    assert.equal("stellaops:plan" in plain, false);
    assert.equal("stellaops:license" in plain, false);
  });
});

Deno.test("oidc-provider harness: resource and lifetime are options", async () => {
  await withProvider(async (provider) => {
    const claims = await verify(provider, await provider.bearerToken({ plan: "free" }));
    assert.equal(claims.aud, "urn:other-service");
    assert.equal((claims.exp as number) - (claims.iat as number), 60);
    assert.equal(claims["stellaops:plan"], "free");
  }, { resource: "urn:other-service", accessTokenTtl: 60 });
});

Deno.test("oidc-provider harness: RS256 or EdDSA keys, CI-shaped tokens with no scope and any claims", async () => {
  await withProvider(async (provider) => {
    assert.equal(provider.signingAlg, "RS256");
    const claims = await verifySignedWith(provider, await provider.bearerToken(), "RS256");
    assert.equal(claims.scope, REGISTRY_SCOPE);
    const jwks = await (await fetch(`${provider.issuer}/jwks`)).json();
    assert.equal(jwks.keys[0].kty, "RSA");
  }, { signingAlg: "RS256" });
  await withProvider(async (provider) => {
    const token = await provider.bearerToken({
      extra: { project_path: "team/app", ref: "main", groups: ["developers", "release"] },
    });
    const claims = await verifySignedWith(provider, token, "EdDSA");
    assert.equal("scope" in claims, false, "a CI issuer's tokens carry no scope");
    assert.equal(claims.project_path, "team/app");
    assert.equal(claims.ref, "main");
    assert.deepEqual(claims.groups, ["developers", "release"]);
  }, { signingAlg: "EdDSA", scoped: false });
});

Deno.test("oidc-provider harness: a DPoP token is bound to the proof key's thumbprint", async () => {
  await withProvider(async (provider) => {
    const { token, key } = await provider.dpopToken(undefined, { plan: "pro" });
    const claims = await verify(provider, token);
    assert.deepEqual(claims.cnf, { jkt: await jwkThumbprint(key.publicJwk) });
    assert.equal(claims.scope, REGISTRY_SCOPE);
    assert.equal(claims["stellaops:plan"], "pro");

    const own = await createDpopKey("RS256");
    const bound = await provider.dpopToken(own);
    assert.equal(bound.key, own);
    assert.deepEqual(decodeJwt(bound.token).cnf, { jkt: await jwkThumbprint(own.publicJwk) });
  });
});

Deno.test("oidc-provider harness: an mTLS token is bound to the client certificate", async () => {
  await withProvider(async (provider) => {
    const a = await provider.mtlsToken("client-a", { license: "lic-a" });
    const claims = await verify(provider, a.token);
    const expected = await certificateThumbprint(await readMtlsFixture("client-a.pem"));
    assert.deepEqual(claims.cnf, { "x5t#S256": expected });
    assert.equal(claims.sub, "client-a");
    assert.equal(claims.scope, REGISTRY_SCOPE);
    assert.equal(claims["stellaops:license"], "lic-a");
    assert.equal(a.certificatePem, await readMtlsFixture("client-a.pem"));
    assert.equal(a.keyPem, await readMtlsFixture("client-a.key"));

    const b = await provider.mtlsToken("client-b");
    const bThumbprint = (decodeJwt(b.token).cnf as Record<string, string>)["x5t#S256"];
    assert.equal(bThumbprint, await certificateThumbprint(b.certificatePem));
    assert.notEqual(bThumbprint, expected);
  });
});

Deno.test("oidc-provider harness: the mTLS alias refuses a certificate from another CA", async () => {
  await withProvider(async (provider) => {
    const client = Deno.createHttpClient({
      caCerts: [provider.caPem],
      cert: await readMtlsFixture("rogue.pem"),
      key: await readMtlsFixture("rogue.key"),
    });
    try {
      const response = await fetch(provider.mtlsTokenEndpoint, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: "client-a",
          scope: REGISTRY_SCOPE,
        }),
        client,
      });
      assert.equal(response.status, 401);
      assert.equal((await response.json()).error, "invalid_client");
    } finally {
      client.close();
    }
  });
});

Deno.test("oidc-provider harness: the DPoP client needs a valid proof", async () => {
  await withProvider(async (provider) => {
    const key = await createDpopKey();
    const tokenEndpoint = `${provider.issuer}/token`;
    const request = async (proof?: string) => {
      const response = await fetch(tokenEndpoint, {
        method: "POST",
        headers: {
          authorization: `Basic ${btoa(`${DPOP_CLIENT_ID}:${CLIENT_SECRET}`)}`,
          ...(proof ? { dpop: proof } : {}),
        },
        body: new URLSearchParams({ grant_type: "client_credentials", scope: REGISTRY_SCOPE }),
      });
      return { status: response.status, body: await response.json() };
    };
    assert.equal((await request()).status, 400);
    const wrongHtu = await dpopProof(key, { htm: "POST", htu: `${provider.issuer}/other` });
    assert.equal((await request(wrongHtu)).body.error, "invalid_dpop_proof");
    const wrongTyp = await dpopProof(key, { htm: "POST", htu: tokenEndpoint, typ: "JWT" });
    assert.equal((await request(wrongTyp)).body.error, "invalid_dpop_proof");
    const good = await request(await dpopProof(key, { htm: "POST", htu: tokenEndpoint }));
    assert.equal(good.status, 200);
    assert.equal(good.body.token_type, "DPoP");
  });
});

Deno.test("oidc-provider harness: close() releases both ports", async () => {
  const provider = await startOidcProvider();
  await provider.bearerToken();
  await provider.mtlsToken("client-a");
  await provider.close();
  for (const address of [provider.issuer, provider.mtlsTokenEndpoint]) {
    const port = Number(new URL(address).port);
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
  }
});
