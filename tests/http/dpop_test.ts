import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { basic, createTestAuthority, NOW_SECONDS } from "../support/authority.ts";
import { createDpopKey, type DpopKey, dpopProof, jwkThumbprint } from "../support/dpop.ts";
import { ORIGIN, REGISTRY, startTestService } from "../support/service.ts";

const authority = await createTestAuthority();
const HTU = `${ORIGIN}/token`;
const PATH = `/token?service=${REGISTRY}&scope=repository:any/repo:pull`;

/** A DPoP key and an Authority token bound to it. */
async function boundToken(key?: DpopKey) {
  const dpopKey = key ?? await createDpopKey();
  const token = await authority.token({
    claims: { cnf: { jkt: await jwkThumbprint(dpopKey.publicJwk) } },
  });
  return { key: dpopKey, token };
}

function proofFor(key: DpopKey, token: string, overrides: Record<string, unknown> = {}) {
  return dpopProof(key, {
    htm: "GET",
    htu: HTU,
    accessToken: token,
    iat: NOW_SECONDS,
    ...overrides,
  });
}

async function get(
  service: Awaited<ReturnType<typeof startTestService>>,
  headers: Record<string, string>,
  path = PATH,
) {
  const response = await service.request(path, { headers });
  const body = await response.json();
  return { response, body, reason: body.errors?.[0]?.detail?.reason as string | undefined };
}

Deno.test("a DPoP-bound token with a valid proof gets a registry token", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  const { response, body } = await get(service, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token),
  });
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.ok(body.token);
});

Deno.test("each broken DPoP proof is refused with invalid_dpop_proof and its own reason", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  const other = await createDpopKey();
  const privateJwk = await crypto.subtle.exportKey("jwk", key.privateKey);
  const cases: [string, Promise<string> | string, string][] = [
    ["wrong htu", proofFor(key, token, { htu: `${ORIGIN}/other` }), "dpop_proof_invalid"],
    ["wrong host", proofFor(key, token, { htu: "https://evil.test/token" }), "dpop_proof_invalid"],
    ["wrong htm", proofFor(key, token, { htm: "POST" }), "dpop_proof_invalid"],
    ["stale iat", proofFor(key, token, { iat: NOW_SECONDS - 120 }), "dpop_proof_invalid"],
    ["future iat", proofFor(key, token, { iat: NOW_SECONDS + 120 }), "dpop_proof_invalid"],
    [
      "ath of another token",
      proofFor(key, token, { accessToken: `${token}x` }),
      "dpop_proof_invalid",
    ],
    ["no ath", proofFor(key, token, { accessToken: undefined }), "dpop_proof_invalid"],
    ["typ JWT", proofFor(key, token, { typ: "JWT" }), "dpop_proof_invalid"],
    ["no jti", proofFor(key, token, { claims: { jti: undefined } }), "dpop_proof_invalid"],
    ["no jwk", proofFor(key, token, { header: { jwk: undefined } }), "dpop_proof_invalid"],
    [
      "private key in jwk",
      proofFor(key, token, { header: { jwk: privateJwk } }),
      "dpop_proof_invalid",
    ],
    [
      "jwk of the bound key, signed by another",
      proofFor(other, token, { header: { jwk: key.publicJwk } }),
      "dpop_proof_invalid",
    ],
    ["signed by another key", proofFor(other, token), "dpop_proof_binding_mismatch"],
    [
      "HS256",
      new SignJWT({ jti: "x", htm: "GET", htu: HTU, iat: NOW_SECONDS })
        .setProtectedHeader({ alg: "HS256", typ: "dpop+jwt", jwk: key.publicJwk })
        .sign(new TextEncoder().encode("a-shared-secret-that-is-long-enough")),
      "dpop_proof_invalid",
    ],
    [
      "alg none",
      `${btoa(JSON.stringify({ alg: "none", typ: "dpop+jwt", jwk: key.publicJwk }))}.${
        btoa(JSON.stringify({ jti: "x", htm: "GET", htu: HTU, iat: NOW_SECONDS }))
      }.`,
      "dpop_proof_invalid",
    ],
    ["garbage", "not-a-jwt", "dpop_proof_invalid"],
  ];
  for (const [name, proof, reason] of cases) {
    const { response, reason: actual } = await get(service, {
      authorization: `DPoP ${token}`,
      dpop: await proof,
    });
    assert.equal(response.status, 401, name);
    assert.equal(actual, reason, name);
    const challenge = response.headers.get("www-authenticate")!;
    assert.match(challenge, /^DPoP /, name);
    assert.match(challenge, /error="invalid_dpop_proof"/, name);
    assert.match(challenge, /algs="[^"]*ES256/, name);
  }
});

Deno.test("a DPoP proof carrying a private key is refused for that reason", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  const privateJwk = await crypto.subtle.exportKey("jwk", key.privateKey);
  const { body } = await get(service, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token, { header: { jwk: privateJwk } }),
  });
  assert.match(body.errors[0].message, /must be a public key/);
});

Deno.test("a replayed DPoP proof is refused", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  const headers = { authorization: `DPoP ${token}`, dpop: await proofFor(key, token) };
  assert.equal((await get(service, headers)).response.status, 200);
  const replay = await get(service, headers);
  assert.equal(replay.response.status, 401);
  assert.equal(replay.reason, "dpop_proof_replayed");
});

Deno.test("a DPoP-bound token sent as Bearer or Basic is refused", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  for (const authorization of [`Bearer ${token}`, basic(token)]) {
    const { response, reason } = await get(service, {
      authorization,
      dpop: await proofFor(key, token),
    });
    assert.equal(response.status, 401);
    assert.equal(reason, "dpop_token_as_bearer");
    assert.match(response.headers.get("www-authenticate")!, /^DPoP /);
  }
});

Deno.test("the DPoP scheme needs a proof, exactly one, and a DPoP-bound token", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  assert.equal(
    (await get(service, { authorization: `DPoP ${token}` })).reason,
    "dpop_proof_missing",
  );
  const proof = await proofFor(key, token);
  const two = await proofFor(key, token);
  assert.equal(
    (await get(service, { authorization: `DPoP ${token}`, dpop: `${proof}, ${two}` })).reason,
    "dpop_proof_invalid",
  );
  const unbound = await authority.token();
  assert.equal(
    (await get(service, {
      authorization: `DPoP ${unbound}`,
      dpop: await proofFor(key, unbound),
    })).reason,
    "dpop_proof_binding_mismatch",
  );
});

Deno.test("SenderConstraint dpop refuses unbound tokens and challenges with DPoP", async () => {
  const service = await startTestService(authority, {
    Authority: {
      Issuer: authority.issuer,
      JwksPath: "memory:authority-jwks.json",
      SenderConstraint: "DPoP",
    },
  });
  const unbound = await get(service, { authorization: `Bearer ${await authority.token()}` });
  assert.equal(unbound.response.status, 401);
  assert.equal(unbound.reason, "token_unbound");
  const anonymous = await get(service, {});
  assert.match(anonymous.response.headers.get("www-authenticate")!, /^DPoP realm=/);
  const { key, token } = await boundToken();
  const bound = await get(service, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token),
  });
  assert.equal(bound.response.status, 200);
});

Deno.test("with RequireNonce the server hands out a DPoP-Nonce and demands it", async () => {
  const service = await startTestService(authority, {
    Authority: {
      Issuer: authority.issuer,
      JwksPath: "memory:authority-jwks.json",
      DPoP: { RequireNonce: true },
    },
  });
  const { key, token } = await boundToken();
  const first = await get(service, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token),
  });
  assert.equal(first.response.status, 401);
  assert.equal(first.reason, "dpop_nonce_required");
  assert.match(first.response.headers.get("www-authenticate")!, /error="use_dpop_nonce"/);
  const nonce = first.response.headers.get("dpop-nonce");
  assert.ok(nonce);

  const wrong = await get(service, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token, { nonce: "made-up" }),
  });
  assert.equal(wrong.reason, "dpop_nonce_required");

  const second = await get(service, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token, { nonce }),
  });
  assert.equal(second.response.status, 200, JSON.stringify(second.body));
  assert.equal(second.response.headers.get("dpop-nonce"), nonce);
});

Deno.test("htu is compared normalised, behind Server:PublicBaseUrl when configured", async () => {
  const direct = await startTestService(authority);
  const { key, token } = await boundToken();
  const normalisedVariant = await proofFor(key, token, {
    htu: "HTTPS://Tokens.Test:443/%74oken?query=ignored#fragment",
  });
  const ok = await get(direct, { authorization: `DPoP ${token}`, dpop: normalisedVariant });
  assert.equal(ok.response.status, 200, JSON.stringify(ok.body));

  const proxied = await startTestService(authority, {
    Server: { PublicBaseUrl: "https://registry.example/auth/" },
  });
  const internal = await get(proxied, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token),
  });
  assert.equal(
    internal.reason,
    "dpop_proof_invalid",
    "the internal URL is not what the caller used",
  );
  const public_ = await get(proxied, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token, { htu: "https://registry.example/auth/token" }),
  });
  assert.equal(public_.response.status, 200, JSON.stringify(public_.body));
});

Deno.test("POST /token accepts a DPoP-bound token from the form with a POST proof", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  const response = await service.request("/token", {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      dpop: await proofFor(key, token, { htm: "POST" }),
    },
    body: new URLSearchParams({ grant_type: "password", password: token, service: REGISTRY }),
  });
  assert.equal(response.status, 200);
});

Deno.test("DPoP refusals are counted under their own reasons", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  const proof = await proofFor(key, token);
  await get(service, { authorization: `DPoP ${token}`, dpop: proof });
  await get(service, { authorization: `DPoP ${token}`, dpop: proof });
  await get(service, { authorization: `Bearer ${token}` });
  const metrics = await (await service.request("/metrics")).text();
  assert.match(metrics, /registry_token_rejected_total\{reason="dpop_proof_replayed"\} 1/);
  assert.match(metrics, /registry_token_rejected_total\{reason="dpop_token_as_bearer"\} 1/);
});

Deno.test("htu is checked against Registry:Realm, not the Host header the caller chose", async () => {
  const service = await startTestService(authority);
  const { key, token } = await boundToken();
  const htu = "https://other.example/token";
  const response = await service.fetch(
    new Request(`${htu}?service=${REGISTRY}`, {
      headers: { authorization: `DPoP ${token}`, dpop: await proofFor(key, token, { htu }) },
    }),
  );
  assert.equal(response.status, 401);
  assert.equal((await response.json()).errors[0].detail.reason, "dpop_proof_invalid");
});

Deno.test("with several Authorities, DPoP is preferred only when all demand it, and each keeps its own policy", async () => {
  const ci = await createTestAuthority("https://ci.test", "ci-key");
  const jwksPath = "memory:authority-jwks.json";
  const items = (ciConstraint: string) => ({
    Authority: undefined,
    Authorities: [
      {
        Name: "stellaops",
        Issuer: authority.issuer,
        JwksPath: jwksPath,
        SenderConstraint: "dpop",
        DPoP: { Algorithms: ["ES256"], RequireNonce: true },
      },
      {
        Name: "ci",
        Issuer: ci.issuer,
        JwksPath: jwksPath,
        SenderConstraint: ciConstraint,
        DPoP: { Algorithms: ["EdDSA", "ES256"] },
      },
    ],
  });
  const mixed = await startTestService(authority, items("none"));
  const anonymous = await get(mixed, {});
  const challenge = anonymous.response.headers.get("www-authenticate")!;
  assert.match(challenge, /^Bearer realm=/, "one Authority accepts bearer tokens");
  assert.ok(anonymous.response.headers.get("dpop-nonce"), "an Authority requires nonces");

  const allDpop = await startTestService(authority, items("dpop"));
  const dpopChallenge = (await get(allDpop, {})).response.headers.get("www-authenticate")!;
  assert.match(dpopChallenge, /^DPoP realm=/);
  assert.match(dpopChallenge, /algs="ES256 EdDSA"/, "every Authority's algorithms, once each");

  // The StellaOps Authority's own policy: its nonce and its algorithms.
  const { key, token } = await boundToken();
  const withoutNonce = await get(mixed, {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(key, token),
  });
  assert.equal(withoutNonce.reason, "dpop_nonce_required");
  const edKey = await createDpopKey("EdDSA");
  const edToken = await authority.token({
    claims: { cnf: { jkt: await jwkThumbprint(edKey.publicJwk) } },
  });
  const nonce = withoutNonce.response.headers.get("dpop-nonce")!;
  const edProof = await get(mixed, {
    authorization: `DPoP ${edToken}`,
    dpop: await proofFor(edKey, edToken, { nonce }),
  });
  assert.equal(edProof.reason, "dpop_proof_invalid", "EdDSA is the CI Authority's, not its own");
});
