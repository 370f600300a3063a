import assert from "node:assert/strict";
import { DENIAL_REASONS } from "../../src/denial.ts";
import { routeErrorResponse } from "../../src/http/respond.ts";
import { ROUTE_ERRORS, type RouteError } from "../../src/http/route_errors.ts";
import { createTestAuthority } from "../support/authority.ts";
import { startTestService } from "../support/service.ts";

const authority = await createTestAuthority();

/** A route error's response, with an `Allow` value for the rows that need one. */
function responseOf(error: RouteError): Response {
  return ROUTE_ERRORS[error].allow
    ? routeErrorResponse(error, "GET, HEAD")
    : routeErrorResponse(error);
}

Deno.test("every route error renders its row: status, code, message, no detail, never cached", async () => {
  for (const error of Object.keys(ROUTE_ERRORS) as RouteError[]) {
    const { status, code, message, allow } = ROUTE_ERRORS[error];
    const response = responseOf(error);
    assert.equal(response.status, status, error);
    assert.equal(response.headers.get("cache-control"), "no-store", error);
    assert.equal(response.headers.get("allow"), allow ? "GET, HEAD" : null, error);
    assert.equal(await response.text(), JSON.stringify({ errors: [{ code, message }] }), error);
  }
});

Deno.test("route errors are no denial reasons, so they can never become a metric label", () => {
  for (const error of Object.keys(ROUTE_ERRORS)) {
    assert.equal(error in DENIAL_REASONS, false, error);
  }
});

Deno.test("404 and 405 are not counted as rejections", async () => {
  const service = await startTestService(authority);
  assert.equal((await service.request("/v2/")).status, 404);
  assert.equal((await service.request("/token", { method: "DELETE" })).status, 405);
  assert.equal((await service.request("/token", { method: "HEAD" })).status, 405);
  const metrics = await (await service.request("/metrics")).text();
  assert.doesNotMatch(metrics, /rejected_total/);
});

Deno.test("a handler that throws answers 500 in registry error form and logs internal_error", async () => {
  const service = await startTestService(authority);
  // /metrics reads the counters through this object, so it is where a crash can be staged.
  service.metrics.render = () => Promise.reject(new Error("exporter broke"));
  const response = await service.request("/metrics");
  assert.equal(response.status, 500);
  assert.equal(
    await response.text(),
    '{"errors":[{"code":"UNKNOWN","message":"internal error; see the service log"}]}',
  );
  const lines = service.logs.map((line) => JSON.parse(line));
  assert.ok(
    lines.some((line) => line.msg === "unhandled error" && /exporter broke/.test(line.error)),
  );
  const request = lines.find((line) => line.msg === "request");
  assert.equal(request?.status, 500);
  assert.equal(request?.reason, "internal_error");
});
