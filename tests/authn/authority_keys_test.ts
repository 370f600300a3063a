import assert from "node:assert/strict";
import type { JSONWebKeySet } from "jose";
import type { Denial } from "../../src/denial.ts";
import { authenticate } from "../../src/authn/authenticate.ts";
import { type Caller } from "../../src/authn/caller.ts";
import {
  type AuthorityKeys,
  parseJwks,
  remoteAuthorityKeys,
  type RemoteKeyTiming,
} from "../../src/authn/authority_keys.ts";
import { createTestAuthority, NOW, type TestAuthority } from "../support/authority.ts";
import { assertDenied } from "../support/denial.ts";
import { authorityOptions } from "../support/service.ts";

const ISSUER = "https://authority.test";
const DISCOVERY_URL = `${ISSUER}/.well-known/openid-configuration`;
const JWKS_URL = `${ISSUER}/jwks`;
const TIMING: RemoteKeyTiming = { maxAgeMs: 600_000, cooldownMs: 5_000, timeoutMs: 1_000 };

const current = await createTestAuthority(ISSUER, "key-current");
const rotated = await createTestAuthority(ISSUER, "key-rotated");
const stranger = await createTestAuthority(ISSUER, "key-stranger");

type Mode = "up" | "down" | "hang";

/** An Authority on a fake network: counts requests, serves discovery and JWKS, can fail or hang. */
class FakeAuthority {
  mode: Mode = "up";
  jwks: unknown;
  discovery: Record<string, unknown> = { issuer: ISSUER, jwks_uri: JWKS_URL };
  readonly requests: string[] = [];
  readonly errors: string[] = [];
  /** Each fetch's outcome, as `onRefresh` reports it. */
  readonly refreshes: boolean[] = [];
  ms = 1_000_000;

  constructor(...authorities: TestAuthority[]) {
    this.jwks = jwksOf(...authorities);
  }

  readonly fetch: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    this.requests.push(url);
    if (this.mode === "down") return Promise.reject(new TypeError("connection refused"));
    if (this.mode === "hang") {
      return new Promise((_, reject) => {
        const signal = init?.signal;
        assert.ok(signal, "every Authority fetch carries an abort signal");
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    return this.gate.then(() => {
      if (url === DISCOVERY_URL) return Response.json(this.discovery);
      if (url === JWKS_URL) return Response.json(this.jwks);
      return new Response("not found", { status: 404 });
    });
  };

  /** Answers are held back until this settles (see `hold`). */
  private gate: Promise<void> = Promise.resolve();

  /** Holds every answer back until the returned function is called. */
  hold(): () => void {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.gate = promise;
    return () => {
      this.gate = Promise.resolve();
      resolve();
    };
  }

  keys(
    location: Parameters<typeof remoteAuthorityKeys>[0] = {
      kind: "discovery",
      metadataAddress: DISCOVERY_URL,
    },
    timing: RemoteKeyTiming = TIMING,
  ): AuthorityKeys {
    return remoteAuthorityKeys(location, ISSUER, {
      fetch: this.fetch,
      now: () => this.ms,
      onFetchError: (message) => this.errors.push(message),
      onRefresh: (ok) => this.refreshes.push(ok),
    }, timing);
  }

  advance(ms: number): void {
    this.ms += ms;
  }

  count(url: string): number {
    return this.requests.filter((request) => request === url).length;
  }
}

function jwksOf(...authorities: TestAuthority[]): JSONWebKeySet {
  return { keys: authorities.flatMap((authority) => authority.jwks.keys) };
}

const AUTHORITY_OPTIONS = authorityOptions(current, {
  keys: { kind: "discovery", metadataAddress: DISCOVERY_URL },
});

async function verify(keys: AuthorityKeys, signer: TestAuthority): Promise<Caller> {
  return await authenticate(await signer.token(), keys.getKey, AUTHORITY_OPTIONS, NOW);
}

/** Lets background work (a fire-and-forget refresh) run to completion. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Starts verifying all `tokens` at once while `authority` holds its answers back, then lets
 * them through; returns each caller's subject, or its denial reason.
 */
async function verifyConcurrently(
  authority: FakeAuthority,
  keys: AuthorityKeys,
  tokens: readonly string[],
): Promise<string[]> {
  const release = authority.hold();
  const pending = Promise.allSettled(
    tokens.map((token) => authenticate(token, keys.getKey, AUTHORITY_OPTIONS, NOW)),
  );
  await settle();
  release();
  const results = await pending;
  return results.map((result) =>
    result.status === "fulfilled" ? result.value.subject : (result.reason as Denial).reason
  );
}

// --- parseJwks --------------------------------------------------------------------------------

Deno.test("parseJwks accepts a JWKS of public keys", () => {
  const jwks = jwksOf(current, rotated);
  assert.deepEqual(parseJwks(jwks, "test"), jwks);
});

Deno.test("parseJwks refuses a JWKS carrying private key material (d)", () => {
  const [publicJwk] = current.jwks.keys;
  assert.throws(
    () => parseJwks({ keys: [{ ...publicJwk, d: "c2VjcmV0" }] }, "https://authority.test/jwks"),
    /https:\/\/authority\.test\/jwks holds private or symmetric key material/,
  );
});

Deno.test("parseJwks refuses a JWKS carrying a symmetric key (k)", () => {
  assert.throws(
    () => parseJwks({ keys: [{ kty: "oct", k: "c2VjcmV0", kid: "hmac" }] }, "jwks"),
    /private or symmetric key material/,
  );
});

Deno.test("parseJwks refuses documents that are not a non-empty JWKS", () => {
  for (const document of [null, "keys", {}, { keys: [] }, { keys: {} }, []]) {
    assert.throws(() => parseJwks(document, "jwks"), /is not a JWKS/);
  }
  for (const entry of [null, "key", { kid: "no-kty" }, { kty: 1 }]) {
    assert.throws(() => parseJwks({ keys: [entry] }, "jwks"), /not a JWK/);
  }
});

// --- fetching ---------------------------------------------------------------------------------

Deno.test("remoteAuthorityKeys finds the JWKS through discovery and verifies tokens", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  assert.equal(keys.ready(), false);
  assert.deepEqual(authority.requests, []);
  assert.equal((await verify(keys, current)).subject, "ci-bot");
  assert.deepEqual(authority.requests, [DISCOVERY_URL, JWKS_URL]);
  assert.equal(keys.ready(), true);
});

Deno.test("remoteAuthorityKeys reports each fetch's success or failure, not one cut by close", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys({ kind: "jwks-uri", jwksUri: JWKS_URL });
  await keys.refresh();
  authority.mode = "down";
  await assert.rejects(keys.refresh());
  authority.mode = "hang";
  const cut = keys.refresh();
  await settle();
  await keys.close();
  await cut;
  assert.deepEqual(authority.refreshes, [true, false]);
});

Deno.test("remoteAuthorityKeys fetches a configured JWKS URL without discovery", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys({ kind: "jwks-uri", jwksUri: JWKS_URL });
  await keys.refresh();
  assert.deepEqual(authority.requests, [JWKS_URL]);
  assert.equal((await verify(keys, current)).subject, "ci-bot");
});

Deno.test("remoteAuthorityKeys rejects a discovery document naming another issuer", async () => {
  const authority = new FakeAuthority(current);
  authority.discovery = { issuer: "https://evil.test", jwks_uri: JWKS_URL };
  const keys = authority.keys();
  await assert.rejects(
    keys.refresh(),
    /names issuer "https:\/\/evil\.test", expected "https:\/\/authority\.test"/,
  );
  assert.equal(authority.count(JWKS_URL), 0, "the JWKS of a mismatched issuer is not fetched");
  assert.equal(keys.ready(), false);

  authority.advance(TIMING.cooldownMs);
  await assertDenied(verify(keys, current), "authority_unavailable");
  assert.equal(authority.errors.length, 1);
  assert.match(authority.errors[0], /^Authority keys: .*names issuer "https:\/\/evil\.test"/);
});

Deno.test("remoteAuthorityKeys rejects a jwks_uri that is not an https URL without credentials", async () => {
  const authority = new FakeAuthority(current);
  const unusable = [
    "not a url",
    undefined,
    'data:application/json,{"keys":[]}',
    "file:///etc/registry-token/jwks.json",
    "http://authority.test/jwks",
    "https://user:secret@authority.test/jwks",
  ];
  for (const jwksUri of unusable) {
    authority.discovery = { issuer: ISSUER, jwks_uri: jwksUri };
    await assert.rejects(authority.keys().refresh(), /has no usable jwks_uri/, String(jwksUri));
  }
});

Deno.test("remoteAuthorityKeys rejects error statuses and non-JSON answers", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys({ kind: "jwks-uri", jwksUri: `${ISSUER}/missing` });
  await assert.rejects(keys.refresh(), /https:\/\/authority\.test\/missing answered 404/);

  const notJson = remoteAuthorityKeys({ kind: "jwks-uri", jwksUri: JWKS_URL }, ISSUER, {
    fetch: () => Promise.resolve(new Response("<html>maintenance</html>")),
    now: () => 0,
    onFetchError: () => {},
  }, TIMING);
  await assert.rejects(notJson.refresh(), /did not send JSON/);
});

Deno.test("remoteAuthorityKeys refuses a remote JWKS with private key material", async () => {
  const authority = new FakeAuthority();
  authority.jwks = { keys: [{ ...current.jwks.keys[0], d: "c2VjcmV0" }] };
  const keys = authority.keys();
  await assert.rejects(keys.refresh(), /private or symmetric key material/);
  assert.equal(keys.ready(), false);
});

// --- caching ----------------------------------------------------------------------------------

Deno.test("remoteAuthorityKeys caches keys: a second verification fetches nothing", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  await verify(keys, current);
  authority.advance(60_000);
  await verify(keys, current);
  await verify(keys, current);
  assert.deepEqual(authority.requests, [DISCOVERY_URL, JWKS_URL]);
});

Deno.test("remoteAuthorityKeys refetches once for an unknown kid, not again within the cooldown", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  await verify(keys, current);
  assert.equal(authority.count(JWKS_URL), 1);

  // The Authority rotates in a new key; a token signed with it triggers one refetch.
  authority.advance(TIMING.cooldownMs + 1);
  authority.jwks = jwksOf(current, rotated);
  assert.equal((await verify(keys, rotated)).subject, "ci-bot");
  assert.equal(authority.count(JWKS_URL), 2);

  // Another unknown kid within the cooldown cannot force a fetch.
  authority.advance(TIMING.cooldownMs - 1);
  await assertDenied(verify(keys, stranger), "token_key_unknown");
  await assertDenied(verify(keys, stranger), "token_key_unknown");
  assert.equal(authority.count(JWKS_URL), 2);

  // Once the cooldown has passed, it may refetch again (and still not find the key).
  authority.advance(1);
  await assertDenied(verify(keys, stranger), "token_key_unknown");
  assert.equal(authority.count(JWKS_URL), 3);
  assert.equal((await verify(keys, current)).subject, "ci-bot");
  assert.equal(authority.count(JWKS_URL), 3);
});

Deno.test("remoteAuthorityKeys does not refetch for an unknown kid right after a fetch", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  await keys.refresh();
  authority.jwks = jwksOf(current, rotated);
  await assertDenied(verify(keys, rotated), "token_key_unknown");
  assert.equal(authority.count(JWKS_URL), 1);
});

Deno.test("remoteAuthorityKeys refreshes in the background once the keys are older than maxAge", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  await verify(keys, current);

  authority.advance(TIMING.maxAgeMs);
  await verify(keys, current);
  await settle();
  assert.equal(authority.count(JWKS_URL), 1, "keys exactly maxAge old are still fresh");

  authority.advance(1);
  authority.jwks = jwksOf(rotated);
  // Served from the cached keys while the refresh runs in the background.
  assert.equal((await verify(keys, current)).subject, "ci-bot");
  await settle();
  assert.equal(authority.count(JWKS_URL), 2);

  // The refreshed set is in use: the new key verifies, the retired one is gone.
  assert.equal((await verify(keys, rotated)).subject, "ci-bot");
  await assertDenied(verify(keys, current), "token_key_unknown");
  assert.equal(authority.count(JWKS_URL), 2);
});

Deno.test("remoteAuthorityKeys keeps serving cached keys when the Authority goes down", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  await keys.refresh();
  authority.mode = "down";

  authority.advance(TIMING.maxAgeMs + 1);
  assert.equal((await verify(keys, current)).subject, "ci-bot");
  await settle();
  assert.equal(keys.ready(), true);
  assert.equal(authority.errors.length, 1);
  assert.match(authority.errors[0], /connection refused/);

  await assert.rejects(keys.refresh(), /connection refused/);
  authority.advance(TIMING.cooldownMs);
  assert.equal((await verify(keys, current)).subject, "ci-bot");
  await settle();
  await assertDenied(verify(keys, rotated), "token_key_unknown");
  assert.equal(keys.ready(), true);
});

Deno.test("remoteAuthorityKeys denies with authority_unavailable when the Authority never answered", async () => {
  const authority = new FakeAuthority(current);
  authority.mode = "down";
  const keys = authority.keys();
  const denial = await assertDenied(verify(keys, current), "authority_unavailable");
  assert.equal(denial.rendering.status, 503);
  assert.equal(keys.ready(), false);
  assert.equal(authority.requests.length, 1);
  assert.match(authority.errors[0], /connection refused/);

  // Within the cooldown, requests do not hammer the Authority.
  await assertDenied(verify(keys, current), "authority_unavailable");
  assert.equal(authority.requests.length, 1);

  // Once it is back and the cooldown has passed, keys load on demand.
  authority.mode = "up";
  authority.advance(TIMING.cooldownMs);
  assert.equal((await verify(keys, current)).subject, "ci-bot");
  assert.equal(keys.ready(), true);
});

Deno.test("remoteAuthorityKeys aborts a hanging fetch after the timeout", async () => {
  const authority = new FakeAuthority(current);
  authority.mode = "hang";
  const keys = authority.keys(undefined, { ...TIMING, timeoutMs: 50 });
  const started = performance.now();
  await assert.rejects(keys.refresh(), (error: Error) => error.name === "TimeoutError");
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 40 && elapsed < 2_000, `aborted after ${elapsed}ms`);

  authority.advance(TIMING.cooldownMs);
  await assertDenied(verify(keys, current), "authority_unavailable");
  assert.equal(authority.errors.length, 1);
  assert.equal(keys.ready(), false);
});

// --- concurrency ------------------------------------------------------------------------------

Deno.test("remoteAuthorityKeys shares one fetch between concurrent refreshes", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  const first = keys.refresh();
  assert.equal(keys.refresh(), first);
  await Promise.all([first, keys.refresh(), keys.refresh()]);
  assert.deepEqual(authority.requests, [DISCOVERY_URL, JWKS_URL]);

  // Once settled, a new refresh fetches again.
  await keys.refresh();
  assert.equal(authority.count(JWKS_URL), 2);
});

Deno.test("remoteAuthorityKeys lets concurrent first verifications wait for the same fetch", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  const tokens = await Promise.all([current.token(), current.token(), current.token()]);
  const outcomes = await verifyConcurrently(authority, keys, tokens);
  assert.deepEqual(authority.requests, [DISCOVERY_URL, JWKS_URL]);
  assert.deepEqual(outcomes, ["ci-bot", "ci-bot", "ci-bot"]);
});

Deno.test("remoteAuthorityKeys lets concurrent verifications with a new kid share one refetch", async () => {
  const authority = new FakeAuthority(current);
  const keys = authority.keys();
  await keys.refresh();
  authority.advance(TIMING.cooldownMs);
  authority.jwks = jwksOf(current, rotated);
  const tokens = await Promise.all([rotated.token(), rotated.token()]);
  const outcomes = await verifyConcurrently(authority, keys, tokens);
  assert.equal(authority.count(JWKS_URL), 2);
  assert.deepEqual(outcomes, ["ci-bot", "ci-bot"]);
});

Deno.test("remoteAuthorityKeys close aborts a fetch under way and reports no failure", async () => {
  const authority = new FakeAuthority(current);
  authority.mode = "hang";
  const keys = authority.keys();
  const refresh = keys.refresh();
  await keys.close();
  await refresh;
  await assertDenied(verify(keys, current), "authority_unavailable");
  assert.deepEqual(authority.errors, []);
});
