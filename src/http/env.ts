/**
 * The Hono environment every HTTP module shares: what the transport binds and what the
 * middlewares leave for each other.
 *
 * @module
 */

import type { DenialReason } from "../denial.ts";
import type { Audit } from "../issue.ts";
import type { ConnectionInfo } from "./connection.ts";
import type { RouteError } from "./route_errors.ts";

/** Bindings from the transport, variables set along the request. */
export type AppEnv = {
  Bindings: ConnectionInfo;
  Variables: {
    requestId: string;
    audit: Audit;
    /** Logged as the request's reason; of the route errors, only a crash names one. */
    reason?: DenialReason | Extract<RouteError, "internal_error">;
    /** The client's address as resolved through trusted proxies. */
    client?: string;
  };
};
