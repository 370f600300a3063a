import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { basic, createTestAuthority } from "../support/authority.ts";
import { REGISTRY, startTestService, type TestService } from "../support/service.ts";
import { assertAuditEvent } from "../support/audit_schema.ts";

const authority = await createTestAuthority();
const impostor = await createTestAuthority("https://impostor.test");

function get(service: TestService, query: string, headers: Record<string, string> = {}) {
  return service.request(`/token?service=${REGISTRY}&${query}`, { headers });
}

/** Every event of `service` validates, and none holds any of `secrets` (or their tails). */
function assertEventsClean(service: TestService, secrets: string[]): void {
  for (const event of service.auditEvents) {
    assertAuditEvent(event);
    const text = JSON.stringify(event);
    for (const secret of secrets) assert.ok(!text.includes(secret.slice(-40)), "no credential");
  }
}

Deno.test("an issued token makes one token.issued event with its jti, exp and reuse, never the token", async () => {
  const service = await startTestService(authority);
  const caller = await authority.token({ claims: { "stellaops:plan": "ci" } });
  const scope = "scope=repository:team/app:pull";
  const first = await (await get(service, scope, { authorization: basic(caller) })).json();
  const again = await (await get(service, scope, { authorization: basic(caller) })).json();
  assert.equal(service.auditEvents.length, 2);
  const [issued, reused] = service.auditEvents;
  const { jti, exp } = decodeJwt(first.token);
  assert.equal(issued.event, "token.issued");
  assert.equal(issued.msg, "audit");
  assert.equal(issued.jti, jti);
  assert.equal(issued.exp, exp);
  assert.equal(issued.reused, false);
  assert.equal(issued.subject, "ci-bot");
  assert.equal(issued.plan, "ci");
  assert.equal(issued.authority, "default");
  assert.equal(issued.issuer, authority.issuer);
  assert.equal(issued.service, REGISTRY);
  assert.deepEqual(issued.requested, ["repository:team/app:pull"]);
  assert.deepEqual(issued.granted, ["repository:team/app:pull"]);
  assert.equal(issued.reason, undefined);
  assert.equal(reused.reused, true);
  assert.equal(reused.jti, jti, "the same token, so the same jti");
  assert.equal(again.token, first.token);
  assertEventsClean(service, [caller, first.token, basic(caller)]);
});

Deno.test("failed authentications are auth.failed events with the reason and the claimed issuer", async () => {
  const service = await startTestService(authority);
  const caller = await authority.token();
  const forged = await impostor.token();
  await get(service, "", { authorization: basic(`${caller}x`) });
  await get(service, "", { authorization: basic(forged) });
  await get(service, "", { authorization: "Basic !!!" });
  const events = service.auditEvents.map(({ event, reason, issuer, level, status }) => ({
    event,
    reason,
    issuer,
    level,
    status,
  }));
  assert.deepEqual(events, [
    {
      event: "auth.failed",
      reason: "token_signature_invalid",
      issuer: authority.issuer,
      level: "warn",
      status: 401,
    },
    {
      event: "auth.failed",
      reason: "issuer_unknown",
      issuer: impostor.issuer,
      level: "warn",
      status: 401,
    },
    {
      event: "auth.failed",
      reason: "credentials_malformed",
      issuer: undefined,
      level: "warn",
      status: 401,
    },
  ]);
  assertEventsClean(service, [caller, forged]);
});

Deno.test("a refused scope is a token.denied event naming the denied scopes and the deciding rule", async () => {
  const service = await startTestService(authority);
  const caller = await authority.token({ claims: { "stellaops:plan": "ci" } });
  const response = await get(service, "scope=repository:team/app:pull,delete", {
    authorization: basic(caller),
  });
  assert.equal(response.status, 403);
  const [denied] = service.auditEvents;
  assert.equal(denied.event, "token.denied");
  assert.equal(denied.reason, "access_denied");
  assert.equal(denied.subject, "ci-bot");
  assert.deepEqual(denied.denied, ["repository:team/app:delete"]);
  const decisions = denied.decisions as { scope: string; granted: boolean; because: string }[];
  assert.deepEqual(
    decisions.map(({ scope, granted, because }) => [scope, granted, because]),
    [["repository:team/app:pull", true, "allow rule"], [
      "repository:team/app:delete",
      false,
      "no allow rule matched",
    ]],
  );
  assertEventsClean(service, [caller]);
});

Deno.test("a request without credentials is token.denied, not auth.failed; other routes make no event", async () => {
  const service = await startTestService(authority);
  await get(service, "");
  await service.request("/healthz");
  await service.request("/token", { method: "DELETE" });
  assert.deepEqual(service.auditEvents.map(({ event, reason }) => [event, reason]), [
    ["token.denied", "credentials_missing"],
  ]);
  assertEventsClean(service, []);
});

Deno.test("audit events carry the client address through trusted proxies and a cleaned, bounded user agent", async () => {
  const service = await startTestService(authority, { Server: { TrustedProxies: ["10.0.0.5"] } });
  const agent = `docker/27.0\t\u001b[31m\u007f\u0085${"x".repeat(400)}`;
  await service.request(`/token?service=${REGISTRY}`, {
    headers: { "user-agent": agent, "x-forwarded-for": "203.0.113.9" },
  }, { remoteAddress: "10.0.0.5" });
  const [event] = service.auditEvents;
  assert.equal(event.client_address, "203.0.113.9");
  assert.equal(event.user_agent, `docker/27.0[31m${"x".repeat(256 - 15)}`);
  assertEventsClean(service, []);
});
