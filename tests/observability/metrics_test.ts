import assert from "node:assert/strict";
import { basic, createTestAuthority } from "../support/authority.ts";
import { REGISTRY, startTestService } from "../support/service.ts";
import { createTokenMetrics } from "../../src/observability/metrics.ts";

const authority = await createTestAuthority();

/** The value of the series `series` (name and labels, as rendered) in `text`. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("/metrics renders the request, verification and signing histograms and the cache lookups", async () => {
  const service = await startTestService(authority);
  const caller = basic(await authority.token());
  for (let i = 0; i < 2; i++) {
    const response = await service.request(`/token?service=${REGISTRY}`, {
      headers: { authorization: caller },
    });
    assert.equal(response.status, 200);
  }
  await service.request(`/token?service=${REGISTRY}`);
  const text = await (await service.request("/metrics")).text();
  const request = 'http_route="/token"';
  const scheme = 'url_scheme="https"'; // the test service's ORIGIN
  assert.equal(
    valueOf(
      text,
      `http_server_request_duration_count{http_request_method="GET",${request},http_response_status_code="200",${scheme}}`,
    ),
    2,
  );
  assert.equal(
    valueOf(
      text,
      `http_server_request_duration_count{http_request_method="GET",${request},http_response_status_code="401",${scheme}}`,
    ),
    1,
  );
  assert.match(text, /^# TYPE http_server_request_duration histogram$/m);
  assert.equal(
    valueOf(text, 'registry_token_caller_verification_seconds_count{result="valid"}'),
    1,
  );
  assert.equal(
    valueOf(text, "registry_token_signing_seconds_count"),
    1,
    "a reused token is not signed",
  );
  assert.equal(valueOf(text, "registry_token_signing_failures_total"), 0);
  for (const cache of ["verified_token", "minted_token"]) {
    assert.equal(
      valueOf(text, `registry_token_cache_lookups_total{cache="${cache}",result="miss"}`),
      1,
    );
    assert.equal(
      valueOf(text, `registry_token_cache_lookups_total{cache="${cache}",result="hit"}`),
      1,
    );
  }
  assert.doesNotMatch(text, /target_info|otel_scope/, "series keep their own names and labels");
});

Deno.test("a signing that throws counts as a failure, not as a signing duration", async () => {
  const metrics = createTokenMetrics();
  metrics.signing(0.002, true);
  metrics.signing(0.5, false);
  const text = await metrics.render();
  assert.equal(valueOf(text, "registry_token_signing_seconds_count"), 1);
  assert.equal(valueOf(text, "registry_token_signing_failures_total"), 1);
  await metrics.shutdown();
});

Deno.test("metric labels stay within fixed sets: methods, plans and Authorities", async () => {
  let now = 1_000_000;
  const metrics = createTokenMetrics({ now: () => now });
  metrics.setLabels({ plans: ["ci"], authorities: ["corp"] });
  metrics.requestDuration(0.01, "PROPFIND", 405, false);
  metrics.issued("made-up");
  metrics.authorityKeyRefresh("corp", true);
  metrics.authorityKeyRefresh("corp", false);
  metrics.authorityKeyRefresh("made-up", false);
  now += 90_000;
  const text = await metrics.render();
  assert.match(text, /http_request_method="_OTHER",.*url_scheme="http"/);
  assert.equal(valueOf(text, 'registry_token_issued_total{plan="unknown"}'), 1);
  assert.equal(
    valueOf(
      text,
      'registry_token_authority_key_refreshes_total{authority="corp",result="success"}',
    ),
    1,
  );
  assert.equal(
    valueOf(
      text,
      'registry_token_authority_key_refreshes_total{authority="unknown",result="failure"}',
    ),
    1,
  );
  assert.equal(valueOf(text, 'registry_token_authority_keys_age_seconds{authority="corp"}'), 90);
  assert.doesNotMatch(text, /made-up/);
  await metrics.shutdown();
});
