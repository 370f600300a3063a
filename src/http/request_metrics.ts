/**
 * The request-duration middleware: how long each `/token` request took, by method and status
 * (`http.server.request.duration`, with the attributes the HTTP semantic conventions require).
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { TokenMetrics } from "../observability/metrics.ts";
import type { AppEnv } from "./env.ts";

/** Where durations go, and the monotonic clock (milliseconds) they are read from. */
export interface RequestMetricsOptions {
  readonly metrics: Pick<TokenMetrics, "requestDuration">;
  readonly clock: () => number;
}

/** Records the duration of every request it wraps, answered or crashed. */
export function requestMetrics(options: RequestMetricsOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = options.clock();
    await next();
    const seconds = (options.clock() - started) / 1000;
    const tls = c.req.url.startsWith("https:");
    options.metrics.requestDuration(seconds, c.req.method, c.res.status, tls);
  };
}
