import assert from "node:assert/strict";
import { Denial, DENIAL_REASONS, type DenialReason } from "../../src/denial.ts";
import { type ChallengeContext, denialResponse } from "../../src/http/respond.ts";

const REASONS = Object.keys(DENIAL_REASONS) as DenialReason[];
const RETRY_AFTER_SECONDS = 7;

function context(preferDpop: boolean): ChallengeContext {
  return {
    realm: "https://tokens.test/token",
    service: "registry.test",
    preferDpop,
    dpopAlgorithms: ["ES256", "EdDSA"],
  };
}

/** A denial of `reason`, with the seconds a `Retry-After` reason must carry. */
function denialOf(reason: DenialReason, detail: Record<string, unknown> = {}): Denial {
  return DENIAL_REASONS[reason].retryAfter
    ? new Denial(reason, `refused: ${reason}`, detail, RETRY_AFTER_SECONDS)
    : new Denial(reason, `refused: ${reason}`, detail);
}

Deno.test("every reason renders its row's status and code, with the reason in detail, never cached", async () => {
  for (const reason of REASONS) {
    const response = denialResponse(denialOf(reason), context(false));
    const { status, code } = DENIAL_REASONS[reason];
    assert.equal(response.status, status, reason);
    assert.equal(response.headers.get("cache-control"), "no-store", reason);
    assert.equal(response.headers.get("pragma"), "no-cache", reason);
    const [error] = (await response.json()).errors;
    assert.equal(error.code, code, reason);
    assert.equal(error.message, `refused: ${reason}`, reason);
    assert.equal(error.detail.reason, reason);
  }
});

Deno.test("a challenge is sent exactly for the rows that declare one, in the declared scheme", () => {
  for (const reason of REASONS) {
    const { challenge, challengeError } = DENIAL_REASONS[reason];
    for (const preferDpop of [false, true]) {
      const header = denialResponse(denialOf(reason), context(preferDpop))
        .headers.get("www-authenticate");
      const what = `${reason} (preferDpop: ${preferDpop})`;
      if (!challenge) {
        assert.equal(header, null, what);
        continue;
      }
      const dpop = challenge === "dpop" || preferDpop;
      assert.ok(header, what);
      assert.ok(header.startsWith(dpop ? "DPoP " : "Bearer "), `${what}: ${header}`);
      assert.match(header, /realm="https:\/\/tokens\.test\/token",service="registry\.test"/, what);
      // Bearer challenges name no error, so registry clients print the body's message once.
      assert.equal(
        header.includes(`error="${challengeError}"`),
        dpop && challengeError !== undefined,
        what,
      );
      assert.equal(
        header.includes(`error_description="refused: ${reason}"`),
        dpop && challengeError !== undefined,
        what,
      );
      assert.equal(header.includes('algs="ES256 EdDSA"'), dpop, what);
    }
  }
});

Deno.test("the challenged reasons are every 401 and the 403 for a missing scope", () => {
  const challenged = REASONS.filter((reason) => DENIAL_REASONS[reason].challenge);
  const expected = REASONS.filter((reason) =>
    DENIAL_REASONS[reason].status === 401 || reason === "token_scope_missing"
  );
  assert.deepEqual(challenged, expected);
});

Deno.test("Retry-After is sent exactly for the rows that declare it, and echoed in detail", async () => {
  for (const reason of REASONS) {
    const response = denialResponse(denialOf(reason), context(false));
    const { detail } = (await response.json()).errors[0];
    if (DENIAL_REASONS[reason].retryAfter) {
      assert.equal(response.headers.get("retry-after"), String(RETRY_AFTER_SECONDS), reason);
      assert.equal(detail.retry_after, RETRY_AFTER_SECONDS, reason);
    } else {
      assert.equal(response.headers.get("retry-after"), null, reason);
      assert.equal("retry_after" in detail, false, reason);
    }
  }
  assert.deepEqual(
    REASONS.filter((reason) => DENIAL_REASONS[reason].retryAfter),
    ["rate_limited", "request_timeout", "state_unavailable"],
  );
});

Deno.test("a denial's detail follows its reason (and retry_after) in errors[0].detail", async () => {
  const denied = denialOf("access_denied", { denied: ["repository:team/app:push"] });
  const limited = denialOf("rate_limited");
  assert.equal(
    JSON.stringify((await denialResponse(denied, context(false)).json()).errors[0].detail),
    '{"reason":"access_denied","denied":["repository:team/app:push"]}',
  );
  assert.equal(
    JSON.stringify((await denialResponse(limited, context(false)).json()).errors[0].detail),
    `{"reason":"rate_limited","retry_after":${RETRY_AFTER_SECONDS}}`,
  );
});

Deno.test("challenge attributes are quoted so a message cannot break out of them", () => {
  const denial = new Denial("token_expired", 'say "hi"\r\nset-cookie: x\\');
  const header = denialResponse(denial, context(true)).headers.get("www-authenticate");
  assert.equal(
    header,
    'DPoP realm="https://tokens.test/token",service="registry.test",error="invalid_token",' +
      `error_description="say 'hi'''set-cookie: x'",algs="ES256 EdDSA"`,
  );
});
