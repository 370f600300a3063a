import assert from "node:assert/strict";
import { createVerificationBudget, MAX_WAITING_CHECKS } from "../../src/http/failure_limit.ts";
import { budgetKey, clientAddress } from "../../src/http/client_address.ts";
import { Denial } from "../../src/denial.ts";
import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../../src/http/limits.ts";
import { basic, createTestAuthority, forgedTokens, NOW_SECONDS } from "../support/authority.ts";
import { REGISTRY, startTestService } from "../support/service.ts";
import { reasonOf } from "../support/http.ts";

const authority = await createTestAuthority();

const tokenPath = `/token?service=${REGISTRY}`;

/** A failing signature check that notes how many of its kind ran at once, at most. */
function concurrencyCounter() {
  let running = 0;
  let most = 0;
  const failing = async () => {
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, 2));
    running--;
    throw new Denial("token_signature_invalid", "forged");
  };
  return { failing, most: () => most };
}
const as = (token: string) => ({ headers: { authorization: basic(token) } });

Deno.test("cheap rejections and a repeated bad token never spend the verification budget", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 1, PerMinute: 1 } },
  });
  const nat = { remoteAddress: "198.51.100.7" };
  const expired = await authority.token({ claims: { exp: NOW_SECONDS - 3600 } });
  const [forged] = await forgedTokens(authority, 1);
  for (let i = 0; i < 20; i++) {
    for (
      const [token, reason] of [
        ["not-a-token", "token_malformed"],
        [expired, "token_expired"],
        [forged, "token_signature_invalid"],
      ]
    ) {
      const answer = await service.request(tokenPath, as(token), nat);
      assert.equal(answer.status, 401);
      assert.equal(await reasonOf(answer), reason);
    }
  }
  const good = await service.request(tokenPath, as(await authority.token()), nat);
  assert.equal(good.status, 200, "a new valid caller at the same address is served at once");
});

Deno.test("a cached caller token is never refused, however its address has failed", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 2, PerMinute: 1 } },
  });
  const nat = { remoteAddress: "198.51.100.8" };
  const valid = await authority.token();
  assert.equal((await service.request(tokenPath, as(valid), nat)).status, 200);
  const flood = await Promise.all(
    (await forgedTokens(authority, 60)).map((token) => service.request(tokenPath, as(token), nat)),
  );
  assert.ok(flood.some((answer) => answer.status === 429), "the flood itself is slowed down");
  assert.equal((await service.request(tokenPath, as(valid), nat)).status, 200);
});

Deno.test("over budget, a client's checks run one at a time and the rest wait or get 429 with Retry-After", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 5, PerMinute: 6 } },
  });
  const answers = await Promise.all(
    (await forgedTokens(authority, 50)).map((token) =>
      service.request(tokenPath, as(token), { remoteAddress: "198.51.100.9" })
    ),
  );
  const statuses = answers.map((answer) => answer.status);
  // Five within the budget, then one running and MAX_WAITING_CHECKS queued behind it.
  assert.equal(statuses.filter((status) => status === 401).length, 5 + 1 + MAX_WAITING_CHECKS);
  const limited = answers.filter((answer) => answer.status === 429);
  assert.equal(limited.length, 50 - 5 - 1 - MAX_WAITING_CHECKS);
  assert.equal(limited[0].headers.get("retry-after"), "10");
  assert.equal(await reasonOf(limited[0]), "rate_limited");
  const someoneElse = await service.request(tokenPath, as(await authority.token()), {
    remoteAddress: "198.51.100.10",
  });
  assert.equal(someoneElse.status, 200, "other addresses are not affected");
  const metrics = await (await service.request("/metrics")).text();
  assert.match(metrics, new RegExp(`rejected_total\\{reason="rate_limited"\\} ${limited.length}`));
});

Deno.test("an over-budget client's signature checks never run concurrently", async () => {
  const budget = createVerificationBudget(1, 1);
  const { failing, most } = concurrencyCounter();
  await budget.check("a", 0, failing).catch(() => {});
  const outcomes = await Promise.allSettled(
    Array.from({ length: 10 }, () => budget.check("a", 0, failing)),
  );
  assert.equal(most(), 1);
  assert.ok(outcomes.every((outcome) => outcome.status === "rejected"));
  assert.equal(await budget.check("a", 0, () => Promise.resolve("ok")), "ok", "a valid one passes");
  const other = await budget.check("b", 0, () => Promise.resolve("ok"));
  assert.equal(other, "ok");
  const off = createVerificationBudget(0, 60);
  for (let i = 0; i < 100; i++) await off.check("a", 0, failing).catch(() => {});
});

Deno.test("behind a trusted proxy the forwarded client's budget is spent, not the proxy's", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 1, PerMinute: 1 }, TrustedProxies: ["10.0.0.5"] },
  });
  const proxy = { remoteAddress: "10.0.0.5" };
  const from = (client: string, token: string) => ({
    headers: { authorization: basic(token), "x-forwarded-for": `203.0.113.1, ${client}` },
  });
  const flood = await Promise.all(
    (await forgedTokens(authority, 40)).map((token) =>
      service.request(tokenPath, from("192.0.2.1", token), proxy)
    ),
  );
  assert.ok(flood.some((answer) => answer.status === 429), "the flooding client is slowed");
  const good = await authority.token();
  assert.equal((await service.request(tokenPath, from("192.0.2.2", good), proxy)).status, 200);
});

Deno.test("many concurrent valid requests from one address are not limited", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 3, PerMinute: 1 } },
  });
  const good = as(await authority.token());
  const statuses = await Promise.all(
    Array.from(
      { length: 40 },
      () => service.request(tokenPath, good, { remoteAddress: "192.0.2.77" }).then((r) => r.status),
    ),
  );
  assert.deepEqual([...new Set(statuses)], [200]);
});

Deno.test("an oversized URL is 414 and oversized headers are 431, before any work", async () => {
  const service = await startTestService(authority);
  const longUrl = await service.request(
    `/token?service=${REGISTRY}&scope=${"a".repeat(MAX_URL_LENGTH)}`,
  );
  assert.equal(longUrl.status, 414);
  assert.equal(await reasonOf(longUrl), "uri_too_long");
  const bigHeaders = await service.request(`/token?service=${REGISTRY}`, {
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

Deno.test("/readyz is ready only when every Authority's keys are usable, and names those that are not", async () => {
  const service = await startTestService(authority, {
    Authority: undefined,
    Authorities: [
      { Name: "stellaops", Issuer: authority.issuer, JwksPath: "memory:authority-jwks.json" },
      { Name: "ci", Issuer: "https://ci.test", JwksUri: "https://ci.test/jwks" },
    ],
  });
  const notReady = await service.request("/readyz");
  assert.equal(notReady.status, 503);
  assert.equal((await notReady.json()).reason, 'the signing keys of Authority "ci" are not loaded');
});

Deno.test("anonymous requests do not count as failed authentications", async () => {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 1, PerMinute: 1 } },
  });
  const nat = { remoteAddress: "192.0.2.50" };
  for (let i = 0; i < 5; i++) {
    assert.equal((await service.request(`/token?service=${REGISTRY}`, {}, nat)).status, 401);
  }
  const good = { headers: { authorization: basic(await authority.token()) } };
  assert.equal((await service.request(`/token?service=${REGISTRY}`, good, nat)).status, 200);
});

Deno.test("IPv6 clients share one budget per /64, so address hopping within a prefix does not help", () => {
  assert.equal(budgetKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  assert.equal(budgetKey("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
  assert.equal(budgetKey("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  assert.equal(budgetKey("::1"), "0:0:0:0::/64");
  assert.equal(budgetKey("192.0.2.1"), "192.0.2.1");
});

Deno.test("a check that ends with an old clock reading does not refill the budget", async () => {
  const budget = createVerificationBudget(5, 60);
  const fail = () => Promise.reject(new Denial("token_signature_invalid", "forged"));
  for (let i = 0; i < 5; i++) await budget.check("a", 100, fail).catch(() => {});
  // A request that started 9 s ago (a slow form) fails now: nothing may come back from it.
  await budget.check("a", 91, fail).catch(() => {});
  const { failing, most } = concurrencyCounter();
  await Promise.allSettled(Array.from({ length: 10 }, () => budget.check("a", 100, failing)));
  assert.equal(most(), 1, "still over budget: one check at a time");
});

Deno.test("a padded X-Forwarded-For still names the client its trusted proxy appended", () => {
  const proxies = new Set(["10.0.0.5"]);
  const padded = `${"1.1.1.1, ".repeat(400)}203.0.113.9`;
  assert.equal(clientAddress("10.0.0.5", padded, proxies), "203.0.113.9");
  assert.equal(
    clientAddress("10.0.0.5", `${"x".repeat(5000)}, 203.0.113.9`, proxies),
    "203.0.113.9",
  );
});
