/**
 * The audit-event middleware: once a token request is decided (issued, or refused with a
 * denial reason), one audit event goes to the log (`observability/audit.ts` builds it). Requests
 * that decide nothing — a wrong method, a crash — make none.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { auditEvent } from "../observability/audit.ts";
import type { Logger } from "../observability/logger.ts";
import type { AppEnv } from "./env.ts";

/** Where audit events go. */
export interface AuditEventsOptions {
  readonly logger: Logger;
}

/**
 * Emits the audit event of each decided request. It wraps the request log middleware, which
 * sets the request id and the audit record, and writes the request's line first.
 */
export function auditEvents(options: AuditEventsOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const reason = c.get("reason");
    if (reason === "internal_error" || (reason === undefined && c.res.status !== 200)) return;
    const event = auditEvent({
      requestId: c.get("requestId"),
      client: c.get("client"),
      userAgent: c.req.header("user-agent"),
      status: c.res.status,
      reason,
      audit: c.get("audit"),
    });
    options.logger.log(event.event === "auth.failed" ? "warn" : "info", "audit", event);
  };
}
