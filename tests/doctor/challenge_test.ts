import assert from "node:assert/strict";
import { clockSkewSeconds, parseBearerChallenge } from "../../src/doctor/challenge.ts";

Deno.test("a Bearer challenge gives its realm, service, scope and error, quoted or not", () => {
  assert.deepEqual(
    parseBearerChallenge(
      'Bearer realm="https://tokens.example/token",service="registry.example",' +
        'scope="repository:team/app:pull",error="invalid_token"',
    ),
    {
      realm: "https://tokens.example/token",
      service: "registry.example",
      scope: "repository:team/app:pull",
      error: "invalid_token",
    },
  );
  assert.deepEqual(parseBearerChallenge('bearer realm="r", service=s, error=insufficient_scope'), {
    realm: "r",
    service: "s",
    scope: undefined,
    error: "insufficient_scope",
  });
  assert.equal(
    parseBearerChallenge('Bearer realm="a \\"quoted\\" realm"')?.realm,
    'a "quoted" realm',
  );
});

Deno.test("no header, another scheme or no realm is no Bearer challenge", () => {
  assert.equal(parseBearerChallenge(null), undefined);
  assert.equal(parseBearerChallenge('Basic realm="registry"'), undefined);
  assert.equal(parseBearerChallenge('Bearer service="registry.example"'), undefined);
  assert.equal(parseBearerChallenge("Bearer"), undefined);
});

Deno.test("the registry's clock skew comes from its Date, in whole seconds", () => {
  const local = new Date("2026-12-01T12:00:00.400Z");
  assert.equal(clockSkewSeconds("Tue, 01 Dec 2026 12:02:00 GMT", local), 120);
  assert.equal(clockSkewSeconds("Tue, 01 Dec 2026 11:59:00 GMT", local), -60);
  assert.equal(clockSkewSeconds(null, local), undefined);
  assert.equal(clockSkewSeconds("yesterday", local), undefined);
});
