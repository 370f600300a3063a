/**
 * Refuses an oversized URL (`414`) or header block (`431`) before any work is done on it.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { Denial } from "../denial.ts";
import type { AppEnv } from "./env.ts";
import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "./limits.ts";

/** How a refusal is rendered (and counted) by the app. */
export interface SizeLimitOptions {
  readonly refuse: (c: Context<AppEnv>, denial: Denial) => Response;
}

/** The size-limit middleware. */
export function sizeLimits(options: SizeLimitOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.url.length > MAX_URL_LENGTH) {
      return options.refuse(
        c,
        new Denial("uri_too_long", `the URL is longer than ${MAX_URL_LENGTH} bytes`),
      );
    }
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, name) => headerBytes += name.length + value.length + 4);
    if (headerBytes > MAX_HEADER_BYTES) {
      return options.refuse(
        c,
        new Denial("headers_too_large", `the request headers exceed ${MAX_HEADER_BYTES} bytes`),
      );
    }
    await next();
  };
}
