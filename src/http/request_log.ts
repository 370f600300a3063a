/**
 * The request log: a request id (a well-formed `X-Request-Id`, else a fresh one, echoed back)
 * and one JSON line per request with what the pipeline learned, `decisions` included (the rule
 * that granted or refused each scope, never the claims it read). Never a header value besides
 * the id, so credentials cannot reach it.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { Audit } from "../issue.ts";
import type { Logger } from "../observability/logger.ts";
import type { AppEnv } from "./env.ts";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Where the log goes and how request ids are made. */
export interface RequestLogOptions {
  readonly logger: Logger;
  readonly randomId: () => string;
}

/** Sets `requestId` and `audit`, then logs the request once it is answered. */
export function requestLog(options: RequestLogOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const offered = c.req.header("x-request-id");
    const requestId = offered && REQUEST_ID.test(offered) ? offered : options.randomId();
    const audit: Audit = {};
    c.set("requestId", requestId);
    c.set("audit", audit);
    await next();
    c.res.headers.set("x-request-id", requestId);
    options.logger.log(c.res.status >= 500 ? "error" : "info", "request", {
      request_id: requestId,
      method: c.req.method,
      path: c.req.path.slice(0, 256),
      status: c.res.status,
      reason: c.get("reason"),
      client: c.get("client"),
      ...audit,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
    });
  };
}
