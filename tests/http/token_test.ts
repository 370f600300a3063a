import assert from "node:assert/strict";
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importX509,
  jwtVerify,
  SignJWT,
} from "jose";
import { basic, createTestAuthority, NOW_SECONDS } from "../support/authority.ts";
import { REGISTRY, SIGNING_KEY_PATH, startTestService } from "../support/service.ts";
import { errorOf } from "../support/http.ts";

const authority = await createTestAuthority();

function tokenPath(params: Record<string, string | string[]>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of [value].flat()) search.append(name, item);
  }
  return `/token?${search}`;
}

async function requestToken(
  service: Awaited<ReturnType<typeof startTestService>>,
  params: Record<string, string | string[]>,
  authorization?: string,
) {
  return await service.request(tokenPath(params), {
    headers: authorization ? { authorization } : {},
  });
}

/** Verifies a registry token the way distribution does: signature by the x5c leaf certificate. */
async function verifyRegistryToken(token: string) {
  const header = decodeProtectedHeader(token);
  assert.ok(Array.isArray(header.x5c) && header.x5c.length > 0, "x5c header present");
  const leaf = `-----BEGIN CERTIFICATE-----\n${header.x5c[0]}\n-----END CERTIFICATE-----`;
  const { payload } = await jwtVerify(token, await importX509(leaf, "RS256"), {
    currentDate: new Date(NOW_SECONDS * 1000),
  });
  return { header, payload };
}

Deno.test("GET /token with a Bearer Authority token returns a signed registry token", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { service: REGISTRY, scope: "repository:team/app:pull,push" },
    `Bearer ${await authority.token({ claims: { "stellaops:plan": "ci" } })}`,
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const body = await response.json();
  assert.equal(body.token, body.access_token);
  assert.equal(body.expires_in, 300);
  assert.equal(body.issued_at, "2026-11-30T12:00:00.000Z");

  const { header, payload } = await verifyRegistryToken(body.token);
  assert.equal(header.alg, "RS256");
  assert.equal(header.kid, service.signingKey.kid);
  assert.match(header.kid!, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  assert.deepEqual(
    { ...payload, jti: typeof payload.jti },
    {
      iss: "registry-token-test",
      sub: "ci-bot",
      aud: REGISTRY,
      exp: NOW_SECONDS + 300,
      nbf: NOW_SECONDS,
      iat: NOW_SECONDS,
      jti: "string",
      service: REGISTRY,
      access: [{ type: "repository", name: "team/app", actions: ["pull", "push"] }],
    },
  );
});

Deno.test("GET /token accepts the Authority token as the Basic password with any username", async () => {
  const service = await startTestService(authority);
  for (const user of ["oauth2accesstoken", "someone-else", ""]) {
    const response = await requestToken(
      service,
      { service: REGISTRY, scope: "repository:team/app:pull" },
      basic(await authority.token(), user),
    );
    assert.equal(response.status, 200, `username ${JSON.stringify(user)}`);
    const { payload } = await verifyRegistryToken((await response.json()).token);
    assert.equal(payload.sub, "ci-bot", "identity comes from the token, never the username");
  }
});

Deno.test("GET /token ignores the account parameter for identity", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { service: REGISTRY, account: "admin", scope: "repository:team/app:pull" },
    basic(await authority.token(), "admin"),
  );
  const { payload } = await verifyRegistryToken((await response.json()).token);
  assert.equal(payload.sub, "ci-bot");
});

Deno.test("GET /token uses Signing:Audience as a string aud and passes the licence through", async () => {
  const service = await startTestService(authority, {
    Signing: {
      Issuer: "registry-token-test",
      KeyPath: SIGNING_KEY_PATH,
      Audience: "registry.example",
      Lifetime: "00:01:30",
    },
  });
  const response = await requestToken(
    service,
    { service: REGISTRY },
    `Bearer ${await authority.token({ claims: { "stellaops:license": "lic-42" } })}`,
  );
  const body = await response.json();
  assert.equal(body.expires_in, 90);
  const { payload } = await verifyRegistryToken(body.token);
  assert.equal(payload.aud, "registry.example");
  assert.equal(payload.exp, NOW_SECONDS + 90);
  assert.equal(payload["stellaops:license"], "lic-42");
});

Deno.test("GET /token without scope (docker login) returns a token with an empty access list", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { service: REGISTRY },
    basic(await authority.token()),
  );
  assert.equal(response.status, 200);
  const { payload } = await verifyRegistryToken((await response.json()).token);
  assert.deepEqual(payload.access, []);
});

Deno.test("GET /token gives each minted token a unique jti when reuse is off", async () => {
  const service = await startTestService(authority, {
    Signing: { Issuer: "registry-token-test", KeyPath: SIGNING_KEY_PATH, ReuseWindow: 0 },
  });
  const token = basic(await authority.token());
  const ids = new Set<unknown>();
  for (let i = 0; i < 3; i++) {
    const response = await requestToken(service, { service: REGISTRY }, token);
    ids.add((await verifyRegistryToken((await response.json()).token)).payload.jti);
  }
  assert.equal(ids.size, 3);
});

Deno.test("GET /token merges repeated and space-separated scope parameters", async () => {
  const service = await startTestService(authority, {});
  const response = await requestToken(
    service,
    {
      service: REGISTRY,
      scope: ["repository:team/a:pull repository:team/b:push", "repository:team/a:push"],
    },
    basic(await authority.token({ claims: { "stellaops:plan": "ci" } })),
  );
  const { payload } = await verifyRegistryToken((await response.json()).token);
  assert.deepEqual(payload.access, [
    { type: "repository", name: "team/a", actions: ["pull", "push"] },
    { type: "repository", name: "team/b", actions: ["push"] },
  ]);
});

// --- 400: malformed requests -------------------------------------------------------------

Deno.test("GET /token without service is 400 service_missing", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { scope: "repository:a/b:pull" },
    basic(await authority.token()),
  );
  assert.equal(response.status, 400);
  const error = await errorOf(response);
  assert.equal(error.code, "INVALID_REQUEST");
  assert.equal(error.detail.reason, "service_missing");
  assert.equal(response.headers.get("www-authenticate"), null);
});

Deno.test("GET /token with service given twice is 400 request_invalid", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { service: [REGISTRY, "other"] },
    basic(await authority.token()),
  );
  assert.equal(response.status, 400);
  assert.equal((await errorOf(response)).detail.reason, "request_invalid");
});

Deno.test("GET /token with a malformed scope is 400 scope_invalid, before authentication", async () => {
  const service = await startTestService(authority);
  for (const scope of ["repository:Team/App:pull", "repository:a/b", "repository::pull", "x"]) {
    const response = await requestToken(service, { service: REGISTRY, scope });
    assert.equal(response.status, 400, scope);
    assert.equal((await errorOf(response)).detail.reason, "scope_invalid", scope);
  }
});

// --- 401: authentication ------------------------------------------------------------------

Deno.test("GET /token without credentials is 401 with a Bearer challenge naming the realm", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(service, { service: REGISTRY, scope: "repository:a/b:pull" });
  assert.equal(response.status, 401);
  assert.equal(
    response.headers.get("www-authenticate"),
    `Bearer realm="https://tokens.test/token",service="${REGISTRY}"`,
  );
  const error = await errorOf(response);
  assert.equal(error.code, "UNAUTHORIZED");
  assert.equal(error.detail.reason, "credentials_missing");
});

Deno.test("GET /token rejects each kind of bad Authority token with its own 401 reason", async () => {
  const service = await startTestService(authority, {
    Authority: {
      Issuer: authority.issuer,
      JwksPath: "memory:authority-jwks.json",
      Audiences: ["registry-token-service"],
    },
  });
  const impostor = await createTestAuthority(authority.issuer, authority.kid);
  const good = { aud: "registry-token-service" };
  const cases: [string, string, string][] = [
    [
      "expired",
      await authority.token({ claims: { ...good, exp: NOW_SECONDS - 61 } }),
      "token_expired",
    ],
    [
      "not yet valid",
      await authority.token({ claims: { ...good, nbf: NOW_SECONDS + 61 } }),
      "token_not_yet_valid",
    ],
    [
      "wrong issuer",
      await authority.token({ claims: { ...good, iss: "https://evil.test" } }),
      "issuer_unknown",
    ],
    [
      "wrong audience",
      await authority.token({ claims: { aud: "someone-else" } }),
      "token_audience_mismatch",
    ],
    ["no audience", await authority.token(), "token_audience_mismatch"],
    ["other key, same kid", await impostor.token({ claims: good }), "token_signature_invalid"],
    [
      "unknown kid",
      await authority.token({ claims: good, header: { kid: "nope" } }),
      "token_key_unknown",
    ],
    [
      "HS256",
      await new SignJWT({ ...good, iss: authority.issuer, sub: "x", exp: NOW_SECONDS + 60 })
        .setProtectedHeader({ alg: "HS256", kid: authority.kid })
        .sign(new TextEncoder().encode("a-shared-secret-that-is-long-enough")),
      "token_algorithm_not_allowed",
    ],
    ["not a JWT", "definitely-not-a-jwt", "token_malformed"],
  ];
  for (const [name, token, reason] of cases) {
    const response = await requestToken(service, { service: REGISTRY }, `Bearer ${token}`);
    assert.equal(response.status, 401, name);
    const error = await errorOf(response);
    assert.equal(error.detail.reason, reason, name);
    assert.equal(error.code, "UNAUTHORIZED", name);
    // No error in a Bearer challenge: registry clients would print it beside the body's.
    assert.match(
      response.headers.get("www-authenticate")!,
      /^Bearer realm="[^"]+",service="[^"]+"$/,
      name,
    );
  }
});

Deno.test("GET /token rejects an unsigned alg:none token", async () => {
  const service = await startTestService(authority);
  const encode = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, "");
  const token = `${encode({ alg: "none" })}.${
    encode({
      iss: authority.issuer,
      sub: "x",
      scope: "registry.token.issue",
      exp: NOW_SECONDS + 60,
    })
  }.`;
  const response = await requestToken(service, { service: REGISTRY }, `Bearer ${token}`);
  assert.equal(response.status, 401);
  assert.equal((await errorOf(response)).detail.reason, "token_algorithm_not_allowed");
});

Deno.test("GET /token tolerates clock skew within Authority:ClockSkew", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { service: REGISTRY },
    basic(await authority.token({ claims: { exp: NOW_SECONDS - 30, nbf: NOW_SECONDS + 30 } })),
  );
  assert.equal(response.status, 200);
});

Deno.test("GET /token with a token lacking the required scope is 403 token_scope_missing", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { service: REGISTRY },
    basic(await authority.token({ claims: { scope: "openid profile" } })),
  );
  assert.equal(response.status, 403);
  assert.match(response.headers.get("www-authenticate")!, /^Bearer realm="[^"]+",service="[^"]+"$/);
  const error = await errorOf(response);
  assert.equal(error.detail.reason, "token_scope_missing");
  assert.deepEqual(error.detail.required, ["registry.token.issue"]);
});

Deno.test("GET /token accepts required scopes given as an scp array", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { service: REGISTRY },
    basic(await authority.token({ claims: { scope: undefined, scp: ["registry.token.issue"] } })),
  );
  assert.equal(response.status, 200);
});

Deno.test("GET /token takes the subject from nameidentifier, then sub, then client_id", async () => {
  const service = await startTestService(authority);
  const cases: [Record<string, unknown>, string][] = [
    [{ nameidentifier: "nid", sub: "s", client_id: "c" }, "nid"],
    [{ sub: "s", client_id: "c" }, "s"],
    [{ sub: undefined, client_id: "c" }, "c"],
  ];
  for (const [claims, subject] of cases) {
    const response = await requestToken(
      service,
      { service: REGISTRY },
      basic(await authority.token({ claims })),
    );
    const { payload } = await verifyRegistryToken((await response.json()).token);
    assert.equal(payload.sub, subject);
  }
  const none = await requestToken(
    service,
    { service: REGISTRY },
    basic(await authority.token({ claims: { sub: undefined } })),
  );
  assert.equal(none.status, 401);
  assert.equal((await errorOf(none)).detail.reason, "token_subject_missing");
});

// --- 403: authorization -------------------------------------------------------------------

Deno.test("GET /token falls back to DefaultPlan when the token names no plan", async () => {
  const service = await startTestService(authority);
  const token = basic(await authority.token());
  const pull = await requestToken(
    service,
    { service: REGISTRY, scope: "repository:any/repo:pull" },
    token,
  );
  assert.equal(pull.status, 200);
  const push = await requestToken(
    service,
    { service: REGISTRY, scope: "repository:any/repo:push" },
    token,
  );
  assert.equal(push.status, 403);
  const error = await errorOf(push);
  assert.equal(error.code, "DENIED");
  assert.equal(error.detail.reason, "access_denied");
  assert.deepEqual(error.detail.denied, ["repository:any/repo:push"]);
  assert.match(error.message, /reader/);
});

Deno.test("GET /token refuses a token naming an unknown plan instead of falling back", async () => {
  const service = await startTestService(authority);
  const response = await requestToken(
    service,
    { service: REGISTRY, scope: "repository:any/repo:pull" },
    basic(await authority.token({ claims: { "stellaops:plan": "platinum" } })),
  );
  assert.equal(response.status, 403);
  assert.equal((await errorOf(response)).detail.reason, "plan_unknown");
});

Deno.test("GET /token refuses every plan-less token when no DefaultPlan is configured", async () => {
  const service = await startTestService(authority, { DefaultPlan: undefined });
  const response = await requestToken(
    service,
    { service: REGISTRY },
    basic(await authority.token()),
  );
  assert.equal(response.status, 403);
  assert.equal((await errorOf(response)).detail.reason, "plan_unknown");
});

Deno.test("GET /token refuses a revoked licence", async () => {
  const service = await startTestService(authority, { RevokedLicenses: ["lic-revoked"] });
  const revoked = await requestToken(
    service,
    { service: REGISTRY, scope: "repository:any/repo:pull" },
    basic(await authority.token({ claims: { "stellaops:license": "lic-revoked" } })),
  );
  assert.equal(revoked.status, 403);
  assert.equal((await errorOf(revoked)).detail.reason, "license_revoked");
  const valid = await requestToken(
    service,
    { service: REGISTRY, scope: "repository:any/repo:pull" },
    basic(await authority.token({ claims: { "stellaops:license": "lic-valid" } })),
  );
  assert.equal(valid.status, 200);
});

Deno.test("GET /token refuses services outside Registry:AllowedServices", async () => {
  const service = await startTestService(authority, {
    Registry: { Realm: "https://tokens.test/token", AllowedServices: [REGISTRY] },
  });
  const token = basic(await authority.token());
  assert.equal((await requestToken(service, { service: REGISTRY }, token)).status, 200);
  const other = await requestToken(service, { service: "other.registry" }, token);
  assert.equal(other.status, 403);
  assert.equal((await errorOf(other)).detail.reason, "service_not_allowed");
});

Deno.test("GET /token matches wildcard patterns across host:port and path separators", async () => {
  const service = await startTestService(authority, {
    Plans: [{
      Name: "mirror",
      Repositories: [
        { Pattern: "localhost:5000/mirror/*", Actions: ["pull"] },
        { Pattern: "team/*/build", Actions: ["pull", "push"] },
      ],
    }],
    DefaultPlan: "mirror",
  });
  const token = basic(await authority.token());
  const allowed = [
    "repository:localhost:5000/mirror/library/alpine:pull",
    "repository:team/a/b/c/build:push",
  ];
  for (const scope of allowed) {
    const response = await requestToken(service, { service: REGISTRY, scope }, token);
    assert.equal(response.status, 200, scope);
    const { payload } = await verifyRegistryToken((await response.json()).token);
    assert.equal(
      (payload.access as { name: string }[])[0].name,
      scope.split(":").slice(1, -1).join(":"),
    );
  }
  const denied = [
    "repository:localhost:5001/mirror/alpine:pull",
    "repository:localhost:5000/mirror/alpine:push",
    "repository:team/a/build/x:pull",
  ];
  for (const scope of denied) {
    assert.equal(
      (await requestToken(service, { service: REGISTRY, scope }, token)).status,
      403,
      scope,
    );
  }
});

Deno.test("GET /token grants a requested * only where a rule lists *", async () => {
  const service = await startTestService(authority);
  const ci = basic(await authority.token({ claims: { "stellaops:plan": "ci" } }));
  const admin = basic(await authority.token({ claims: { "stellaops:plan": "admin" } }));
  const scope = "repository:team/app:*";
  assert.equal((await requestToken(service, { service: REGISTRY, scope }, ci)).status, 403);
  const granted = await requestToken(service, { service: REGISTRY, scope }, admin);
  assert.equal(granted.status, 200);
  const { payload } = await verifyRegistryToken((await granted.json()).token);
  assert.deepEqual(payload.access, [{ type: "repository", name: "team/app", actions: ["*"] }]);
});

Deno.test("GET /token denies non-repository scopes unless a rule names the type", async () => {
  const service = await startTestService(authority);
  const scope = "registry:catalog:*";
  const reader = basic(await authority.token());
  assert.equal((await requestToken(service, { service: REGISTRY, scope }, reader)).status, 403);
  const admin = basic(await authority.token({ claims: { "stellaops:plan": "admin" } }));
  assert.equal((await requestToken(service, { service: REGISTRY, scope }, admin)).status, 200);
});

Deno.test("GET /token is strict by default and grants the intersection with PartialGrants", async () => {
  const params = {
    service: REGISTRY,
    scope: ["repository:team/app:pull,push", "repository:other/lib:pull"],
  };
  const token = basic(await authority.token({ claims: { "stellaops:plan": "ci" } }));

  const strict = await startTestService(authority);
  const refused = await requestToken(strict, params, token);
  assert.equal(refused.status, 403);
  assert.deepEqual((await errorOf(refused)).detail.denied, ["repository:other/lib:pull"]);

  const partial = await startTestService(authority, { PartialGrants: true });
  const response = await requestToken(partial, params, token);
  assert.equal(response.status, 200);
  const { payload } = await verifyRegistryToken((await response.json()).token);
  assert.deepEqual(payload.access, [{
    type: "repository",
    name: "team/app",
    actions: ["pull", "push"],
  }]);
});

// --- operations ----------------------------------------------------------------------------

Deno.test("GET /healthz answers without authentication", async () => {
  const service = await startTestService(authority);
  const response = await service.request("/healthz");
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: "ok" });
});

Deno.test("unknown paths are 404 and wrong methods 405, in registry error form", async () => {
  const service = await startTestService(authority);
  const missing = await service.request("/v2/");
  assert.equal(missing.status, 404);
  assert.equal((await errorOf(missing)).code, "NOT_FOUND");
  const wrongMethod = await service.request("/token", { method: "DELETE" });
  assert.equal(wrongMethod.status, 405);
  assert.equal((await errorOf(wrongMethod)).code, "UNSUPPORTED");
  assert.equal(wrongMethod.headers.get("allow"), "GET, POST");
  const head = await service.request("/token?service=x", { method: "HEAD" });
  assert.equal(head.status, 405, "HEAD must not mint a token it cannot return");
  assert.equal((await service.request("/healthz", { method: "HEAD" })).status, 200);
});

Deno.test("/metrics counts issued tokens by plan and rejections by reason, with fixed labels", async () => {
  const service = await startTestService(authority);
  await requestToken(
    service,
    { service: REGISTRY },
    basic(await authority.token({ claims: { "stellaops:plan": "ci" } })),
  );
  await requestToken(service, { service: REGISTRY });
  await requestToken(
    service,
    { service: REGISTRY },
    basic(await authority.token({ claims: { "stellaops:plan": "made-up-by-the-caller" } })),
  );
  const text = await (await service.request("/metrics")).text();
  assert.match(text, /^registry_token_issued_total\{plan="ci"\} 1$/m);
  assert.match(text, /^registry_token_rejected_total\{reason="credentials_missing"\} 1$/m);
  assert.match(text, /^registry_token_rejected_total\{reason="plan_unknown"\} 1$/m);
  assert.doesNotMatch(text, /made-up-by-the-caller/);
});

Deno.test("the request log has one structured line per request and never a credential", async () => {
  const service = await startTestService(authority);
  const token = await authority.token({ claims: { "stellaops:plan": "ci" } });
  const response = await requestToken(
    service,
    { service: REGISTRY, scope: "repository:team/app:push" },
    basic(token),
  );
  const registryToken = (await response.json()).token;
  await requestToken(service, { service: REGISTRY }, basic(`${token}x`));
  assert.equal(service.logs.length, 2);
  const [issued, refused] = service.logs.map((line) => JSON.parse(line));
  assert.equal(issued.msg, "request");
  assert.equal(issued.status, 200);
  assert.equal(issued.subject, "ci-bot");
  assert.equal(issued.plan, "ci");
  assert.equal(issued.service, REGISTRY);
  assert.deepEqual(issued.requested, ["repository:team/app:push"]);
  assert.deepEqual(issued.granted, ["repository:team/app:push"]);
  assert.equal(typeof issued.duration_ms, "number");
  assert.equal(typeof issued.request_id, "string");
  assert.equal(refused.status, 401);
  assert.equal(refused.reason, "token_signature_invalid");
  for (const line of service.logs) {
    for (const secret of [token, registryToken, btoa(`oauth2accesstoken:${token}`)]) {
      assert.ok(!line.includes(secret.slice(-40)), "no credential in the log");
    }
  }
});

Deno.test("a caller-supplied X-Request-Id is echoed when well-formed and replaced otherwise", async () => {
  const service = await startTestService(authority);
  const kept = await service.request("/healthz", { headers: { "x-request-id": "abc-123" } });
  assert.equal(kept.headers.get("x-request-id"), "abc-123");
  const replaced = await service.request("/healthz", { headers: { "x-request-id": 'bad id"' } });
  assert.notEqual(replaced.headers.get("x-request-id"), 'bad id"');
});

Deno.test("GET /jwks publishes the public key that verifies minted tokens under their kid", async () => {
  const service = await startTestService(authority);
  const response = await service.request("/jwks");
  assert.equal(response.status, 200);
  const jwks = await response.json();
  assert.deepEqual(Object.keys(jwks.keys[0]).sort(), ["alg", "e", "kid", "kty", "n", "use"]);
  const issued = await requestToken(service, { service: REGISTRY }, basic(await authority.token()));
  const { protectedHeader } = await jwtVerify(
    (await issued.json()).token,
    createLocalJWKSet(jwks),
    {
      currentDate: new Date(NOW_SECONDS * 1000),
    },
  );
  assert.equal(protectedHeader.kid, jwks.keys[0].kid);
});

Deno.test("an identical request within Signing:ReuseWindow gets the same token and its true remaining lifetime", async () => {
  let now = new Date(NOW_SECONDS * 1000);
  const service = await startTestService(authority, {}, () => now);
  const token = basic(await authority.token({ claims: { exp: NOW_SECONDS + 3600 } }));
  const params = { service: REGISTRY, scope: "repository:any/repo:pull" };
  const first = await (await requestToken(service, params, token)).json();
  assert.equal(first.expires_in, 300);

  now = new Date((NOW_SECONDS + 45) * 1000);
  const second = await (await requestToken(service, params, token)).json();
  assert.equal(second.token, first.token, "reused within the default 60 s window");
  assert.equal(second.expires_in, 255, "the remaining lifetime, not the full one");
  assert.equal(second.issued_at, first.issued_at);

  const other =
    await (await requestToken(service, { ...params, scope: "repository:other/repo:pull" }, token))
      .json();
  assert.notEqual(other.token, first.token, "different access, different token");
  const otherService =
    await (await requestToken(service, { ...params, service: "registry.other" }, token)).json();
  assert.notEqual(otherService.token, first.token, "different service, different token");

  now = new Date((NOW_SECONDS + 61) * 1000);
  const third = await (await requestToken(service, params, token)).json();
  assert.notEqual(third.token, first.token, "after the window a new token is minted");
  assert.equal(third.expires_in, 300);
});

Deno.test("token reuse never bypasses authorization: a revoked licence is refused at once", async () => {
  const service = await startTestService(authority, { RevokedLicenses: ["lic-revoked"] });
  const params = { service: REGISTRY, scope: "repository:any/repo:pull" };
  const valid = basic(await authority.token({ claims: { "stellaops:license": "lic-ok" } }));
  assert.equal((await requestToken(service, params, valid)).status, 200);
  const revoked = basic(await authority.token({ claims: { "stellaops:license": "lic-revoked" } }));
  assert.equal((await requestToken(service, params, revoked)).status, 403);
});

Deno.test("a reused token never carries another caller's licence: the licence is part of the reuse key", async () => {
  const service = await startTestService(authority);
  const params = { service: REGISTRY, scope: "repository:any/repo:pull" };
  const licensed = async (license?: string) => {
    const claims = license === undefined ? {} : { "stellaops:license": license };
    const caller = basic(await authority.token({ claims: { sub: "same-subject", ...claims } }));
    const body = await (await requestToken(service, params, caller)).json();
    return decodeJwt(body.token as string)["stellaops:license"];
  };
  assert.equal(await licensed("lic-a"), "lic-a");
  assert.equal(await licensed("lic-b"), "lic-b", "same subject, service and access, other licence");
  assert.equal(await licensed(), undefined, "no licence: no licence claim");
  assert.equal(await licensed("lic-a"), "lic-a");
});

Deno.test("a 403 explains each refused scope: the deny rule that refused it, or no allow rule", async () => {
  const service = await startTestService(authority, {
    Plans: [{
      Name: "teams",
      Repositories: [
        { Pattern: "${claim:groups}/*", Actions: ["pull", "push"] },
        { Pattern: "${claim:groups}/release-*", Actions: ["push"], Effect: "deny" },
      ],
    }],
    DefaultPlan: "teams",
  });
  const token = basic(await authority.token({ claims: { groups: ["web", "db"] } }));
  const response = await requestToken(service, {
    service: REGISTRY,
    scope: [
      "repository:web/release-1:pull,push",
      "repository:ops/app:pull",
      "repository:db/x:push",
    ],
  }, token);
  assert.equal(response.status, 403);
  const error = await errorOf(response);
  assert.equal(error.detail.reason, "access_denied");
  assert.deepEqual(error.detail.denied, [
    "repository:web/release-1:push",
    "repository:ops/app:pull",
  ]);
  assert.deepEqual(error.detail.decisions, [
    {
      scope: "repository:web/release-1:push",
      actions: ["push"],
      granted: false,
      plan: "teams",
      rule: { plan: "teams", index: 1, pattern: "${claim:groups}/release-*" },
      because: "deny rule",
    },
    {
      scope: "repository:ops/app:pull",
      actions: ["pull"],
      granted: false,
      plan: "teams",
      rule: null,
      because: "no allow rule matched",
    },
  ]);

  const [line] = service.logs.map((text) => JSON.parse(text));
  assert.equal(line.reason, "access_denied");
  assert.equal(line.plan, "teams");
  assert.deepEqual(
    line.decisions.map((d: { scope: string; granted: boolean; because: string }) =>
      `${d.scope} ${d.granted ? "granted" : "denied"} (${d.because})`
    ),
    [
      "repository:web/release-1:pull granted (allow rule)",
      "repository:web/release-1:push denied (deny rule)",
      "repository:ops/app:pull denied (no allow rule matched)",
      "repository:db/x:push granted (allow rule)",
    ],
    "the log records granted and refused scopes alike",
  );
  assert.ok(!service.logs[0].includes('"groups"'), "the log names rules, not the claims");
});

Deno.test("rule Services and templates decide per request, through the whole pipeline", async () => {
  const service = await startTestService(authority, {
    Plans: [{
      Name: "users",
      Repositories: [
        { Pattern: "users/${subject}/*", Actions: ["pull", "push"] },
        { Pattern: "*", Actions: ["pull"], Services: ["mirror.test"] },
      ],
    }],
    DefaultPlan: "users",
  });
  const token = basic(await authority.token({ claims: { sub: "alice" } }));
  const own = await requestToken(
    service,
    { service: REGISTRY, scope: "repository:users/alice/app:push" },
    token,
  );
  assert.equal(own.status, 200);
  const { payload } = await verifyRegistryToken((await own.json()).token);
  assert.deepEqual(payload.access, [{
    type: "repository",
    name: "users/alice/app",
    actions: ["push"],
  }]);
  const elsewhere = { scope: "repository:library/alpine:pull" };
  assert.equal(
    (await requestToken(service, { service: REGISTRY, ...elsewhere }, token)).status,
    403,
  );
  assert.equal(
    (await requestToken(service, { service: "mirror.test", ...elsewhere }, token)).status,
    200,
  );
  const [, , issued] = service.logs.map((text) => JSON.parse(text));
  assert.deepEqual(issued.decisions, [{
    scope: "repository:library/alpine:pull",
    actions: ["pull"],
    granted: true,
    plan: "users",
    rule: { plan: "users", index: 1, pattern: "*" },
    because: "allow rule",
  }]);
});
