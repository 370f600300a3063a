import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { createTestAuthority, NOW_SECONDS } from "../support/authority.ts";
import { REGISTRY, startTestService } from "../support/service.ts";
import { reasonOf } from "../support/http.ts";

const authority = await createTestAuthority();

function form(fields: Record<string, string>): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  };
}

Deno.test("POST /token with grant_type=password returns an OAuth2 token response", async () => {
  const service = await startTestService(authority);
  const response = await service.request(
    "/token",
    form({
      grant_type: "password",
      username: "oauth2accesstoken",
      password: await authority.token({ claims: { "stellaops:plan": "ci" } }),
      service: REGISTRY,
      client_id: "containerd-client",
      scope: "repository:team/app:pull,push repository:team/base:pull",
      access_type: "offline",
    }),
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const body = await response.json();
  assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "issued_at", "scope"]);
  assert.equal(body.scope, "repository:team/app:pull,push repository:team/base:pull");
  assert.equal(body.expires_in, 300);
  assert.equal(body.issued_at, "2026-11-30T12:00:00.000Z");
  const claims = decodeJwt(body.access_token);
  assert.equal(claims.sub, "ci-bot");
  assert.equal(claims.exp, NOW_SECONDS + 300);
  assert.deepEqual(claims.access, [
    { type: "repository", name: "team/app", actions: ["pull", "push"] },
    { type: "repository", name: "team/base", actions: ["pull"] },
  ]);
});

Deno.test("POST /token with grant_type=refresh_token takes the Authority token from refresh_token", async () => {
  const service = await startTestService(authority);
  const response = await service.request(
    "/token",
    form({
      grant_type: "refresh_token",
      refresh_token: await authority.token(),
      service: REGISTRY,
      client_id: "containerd-client",
    }),
  );
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.refresh_token, undefined, "no refresh tokens are issued");
  assert.equal(body.scope, "");
});

Deno.test("POST /token applies the same authorization rules and errors as GET", async () => {
  const service = await startTestService(authority);
  const denied = await service.request(
    "/token",
    form({
      grant_type: "password",
      password: await authority.token(),
      service: REGISTRY,
      scope: "repository:team/app:push",
    }),
  );
  assert.equal(denied.status, 403);
  assert.equal(await reasonOf(denied), "access_denied");

  const expired = await service.request(
    "/token",
    form({
      grant_type: "password",
      password: await authority.token({ claims: { exp: NOW_SECONDS - 3600 } }),
      service: REGISTRY,
    }),
  );
  assert.equal(expired.status, 401);
  const body = await expired.json();
  assert.equal(body.errors[0].detail.reason, "token_expired");
  assert.match(body.errors[0].message, /expired/);
});

Deno.test("POST /token refuses malformed forms with 400 before authentication", async () => {
  const service = await startTestService(authority);
  const cases: [RequestInit, string][] = [
    [form({ grant_type: "client_credentials", service: REGISTRY }), "grant_type_unsupported"],
    [form({ service: REGISTRY, password: "x" }), "grant_type_unsupported"],
    [
      form({ grant_type: "password", password: "x", scope: "repository:a/b:pull" }),
      "service_missing",
    ],
    [
      form({ grant_type: "password", password: "x", service: REGISTRY, scope: "repo:" }),
      "scope_invalid",
    ],
    [
      { method: "POST", headers: { "content-type": "application/json" }, body: "{}" },
      "request_invalid",
    ],
    [
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded-evil" },
        body: "grant_type=password&password=x&service=s",
      },
      "request_invalid",
    ],
    [
      form({ grant_type: "password", service: REGISTRY, password: "x".repeat(70_000) }),
      "request_invalid",
    ],
  ];
  for (const [init, reason] of cases) {
    const response = await service.request("/token", init);
    assert.equal(response.status, 400, reason);
    assert.equal(await reasonOf(response), reason);
  }
});

Deno.test("POST /token whose body breaks off is 400, not a server error", async () => {
  const service = await startTestService(authority);
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("grant_type=password&pass"));
      controller.error(new Error("connection reset"));
    },
  });
  const response = await service.request("/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  assert.equal(response.status, 400);
  assert.equal(await reasonOf(response), "request_invalid");
  assert.ok(!service.logs.some((line) => JSON.parse(line).level === "error"));
});

Deno.test("POST /token without the credential field is 401 credentials_missing", async () => {
  const service = await startTestService(authority);
  const response = await service.request(
    "/token",
    form({ grant_type: "password", username: "someone", service: REGISTRY }),
  );
  assert.equal(response.status, 401);
  assert.equal(await reasonOf(response), "credentials_missing");
});

Deno.test("GET /token accepts and ignores offline_token, client_id and account", async () => {
  const service = await startTestService(authority);
  const params = new URLSearchParams({
    service: REGISTRY,
    scope: "repository:team/app:pull",
    offline_token: "true",
    client_id: "docker",
    account: "admin",
  });
  const response = await service.request(`/token?${params}`, {
    headers: { authorization: `Bearer ${await authority.token()}` },
  });
  assert.equal(response.status, 200);
  assert.equal(decodeJwt((await response.json()).token).sub, "ci-bot");
});
