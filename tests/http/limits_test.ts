import assert from "node:assert/strict";
import { createFailureLimiter } from "../../src/http/failure_limit.ts";
import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../../src/http/app.ts";
import { basic, createTestAuthority } from "../support/authority.ts";
import { SERVICE, startTestService } from "../support/service.ts";

const authority = await createTestAuthority();

async function reasonOf(response: Response) {
  return (await response.json()).errors?.[0]?.detail?.reason;
}

Deno.test("failed authentications from one address are limited with 429 and Retry-After", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 3, PerMinute: 6 } },
  });
  const attacker = { remoteAddress: "198.51.100.7" };
  const bad = { headers: { authorization: basic("not-a-token") } };
  for (let i = 0; i < 3; i++) {
    assert.equal((await service.request(`/token?service=${SERVICE}`, bad, attacker)).status, 401);
  }
  const limited = await service.request(`/token?service=${SERVICE}`, bad, attacker);
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "10");
  assert.equal(await reasonOf(limited), "rate_limited");

  const good = { headers: { authorization: basic(await authority.token()) } };
  const stillLimited = await service.request(`/token?service=${SERVICE}`, good, attacker);
  assert.equal(stillLimited.status, 429, "the limit applies before any signature is checked");
  const someoneElse = await service.request(`/token?service=${SERVICE}`, good, {
    remoteAddress: "198.51.100.8",
  });
  assert.equal(someoneElse.status, 200, "other addresses are not affected");
  const metrics = await (await service.request("/metrics")).text();
  assert.match(metrics, /registry_token_rejected_total\{reason="rate_limited"\} 2/);
});

Deno.test("behind a trusted proxy the forwarded client address is limited, not the proxy", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 1, PerMinute: 1 }, TrustedProxies: ["10.0.0.5"] },
  });
  const proxy = { remoteAddress: "10.0.0.5" };
  const from = (client: string, authorization: string) => ({
    headers: { authorization, "x-forwarded-for": `203.0.113.1, ${client}` },
  });
  const path = `/token?service=${SERVICE}`;
  assert.equal((await service.request(path, from("192.0.2.1", basic("bad")), proxy)).status, 401);
  assert.equal((await service.request(path, from("192.0.2.1", basic("bad")), proxy)).status, 429);
  const good = basic(await authority.token());
  assert.equal((await service.request(path, from("192.0.2.2", good), proxy)).status, 200);
});

Deno.test("the failure limiter holds attempts in flight, refills over time and can be switched off", () => {
  const limiter = createFailureLimiter(2, 60);
  assert.equal(limiter.acquire("a", 0), 0);
  limiter.release("a", 0);
  assert.equal(limiter.retryAfter("a", 0), 0, "a released attempt costs nothing");
  assert.equal(limiter.acquire("a", 0), 0);
  limiter.recordFailure("a", 0);
  assert.equal(limiter.retryAfter("a", 0), 1, "one in flight and one failed: wait a second");
  assert.equal(limiter.acquire("a", 0), 1);
  assert.equal(limiter.retryAfter("a", 1), 0, "one attempt per second comes back");
  const off = createFailureLimiter(0, 60);
  for (let i = 0; i < 100; i++) assert.equal(off.acquire("a", 0), 0);
});

Deno.test("many concurrent valid requests from one address are not limited", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 3, PerMinute: 1 } },
  });
  const good = { headers: { authorization: basic(await authority.token()) } };
  const statuses = await Promise.all(
    Array.from(
      { length: 40 },
      () =>
        service.request(`/token?service=${SERVICE}`, good, { remoteAddress: "192.0.2.77" })
          .then((response) => response.status),
    ),
  );
  assert.deepEqual([...new Set(statuses)], [200]);
});

Deno.test("concurrent bad requests cannot slip past the limit before failures are counted", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 5, PerMinute: 1 } },
  });
  const impostor = await createTestAuthority(authority.issuer, authority.kid);
  // Distinct forged tokens: each needs its own signature check.
  const forged = await Promise.all(
    Array.from({ length: 50 }, (_, i) => impostor.token({ claims: { sub: `attacker-${i}` } })),
  );
  const statuses = await Promise.all(
    forged.map((token) =>
      service.request(`/token?service=${SERVICE}`, { headers: { authorization: basic(token) } }, {
        remoteAddress: "198.51.100.9",
      }).then((response) => response.status)
    ),
  );
  assert.equal(statuses.filter((status) => status === 401).length, 5);
  assert.equal(statuses.filter((status) => status === 429).length, 45);
});

Deno.test("an oversized URL is 414 and oversized headers are 431, before any work", async () => {
  const service = await startTestService(authority);
  const longUrl = await service.request(
    `/token?service=${SERVICE}&scope=${"a".repeat(MAX_URL_LENGTH)}`,
  );
  assert.equal(longUrl.status, 414);
  assert.equal(await reasonOf(longUrl), "uri_too_long");
  const bigHeaders = await service.request(`/token?service=${SERVICE}`, {
    headers: { "x-padding": "p".repeat(MAX_HEADER_BYTES) },
  });
  assert.equal(bigHeaders.status, 431);
  assert.equal(await reasonOf(bigHeaders), "headers_too_large");
});

Deno.test("/readyz reports whether the Authority's keys are usable", async () => {
  const ready = await startTestService(authority);
  assert.equal((await ready.request("/readyz")).status, 200);
  const remote = await startTestService(authority, {
    Authority: { Issuer: "https://authority.test", JwksUri: "https://authority.test/jwks" },
  });
  const notReady = await remote.request("/readyz");
  assert.equal(notReady.status, 503);
  assert.match((await notReady.json()).reason, /not loaded/);
  assert.equal((await remote.request("/healthz")).status, 200, "liveness does not depend on it");
});

Deno.test("anonymous requests do not count as failed authentications", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 1, PerMinute: 1 } },
  });
  const nat = { remoteAddress: "192.0.2.50" };
  for (let i = 0; i < 5; i++) {
    assert.equal((await service.request(`/token?service=${SERVICE}`, {}, nat)).status, 401);
  }
  const good = { headers: { authorization: basic(await authority.token()) } };
  assert.equal((await service.request(`/token?service=${SERVICE}`, good, nat)).status, 200);
});

Deno.test("IPv6 clients are limited per /64, so address hopping within a prefix does not help", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 2, PerMinute: 1 } },
  });
  const bad = { headers: { authorization: basic("bad") } };
  const path = `/token?service=${SERVICE}`;
  for (const host of ["2001:db8:1:2::1", "2001:db8:1:2:aaaa::9"]) {
    assert.equal((await service.request(path, bad, { remoteAddress: host })).status, 401);
  }
  const hopped = await service.request(path, bad, { remoteAddress: "2001:db8:1:2:ffff:1:2:3" });
  assert.equal(hopped.status, 429);
  const otherPrefix = await service.request(path, bad, { remoteAddress: "2001:db8:1:3::1" });
  assert.equal(otherPrefix.status, 401);
});
