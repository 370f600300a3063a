/**
 * Audit events: one JSON record per token decision, for a SIEM. Built here from what the
 * pipeline learned (`Audit`) and what the HTTP layer knows (address, user agent, outcome), by a
 * pure function; `http/audit_events.ts` emits them.
 *
 * The event kinds are `token.issued`, `auth.failed` (credentials came and failed authentication:
 * the denial table's `failedLogin`) and `token.denied` (every other refusal). An event never
 * holds a credential or a token: only the minted token's `jti` and `exp`. Text the client
 * chose (user agent, unverified issuer) is cut to a bound and stripped of control characters.
 * Field by field: docs/observability.md, and the schema docs/audit-event.schema.json.
 *
 * @module
 */

import { DENIAL_REASONS, type DenialReason } from "../denial.ts";
import type { Audit } from "../issue.ts";
import type { LogFields } from "./logger.ts";

/** The kinds of audit event. */
export type AuditEventKind = "token.issued" | "token.denied" | "auth.failed";

/** Most characters kept of the user agent and of an unverified issuer. */
export const MAX_CLIENT_TEXT = 256;

/** What the HTTP layer knows of one decided token request. */
export interface DecidedRequest {
  readonly requestId: string;
  /** The client address as resolved through trusted proxies. */
  readonly client?: string;
  /** The `User-Agent` header as sent. */
  readonly userAgent?: string;
  readonly status: number;
  /** Absent: a token was issued. */
  readonly reason?: DenialReason;
  readonly audit: Audit;
}

/** The audit event for `request` (the logger adds `time`). */
export function auditEvent(request: DecidedRequest): LogFields {
  const { audit, reason } = request;
  const kind: AuditEventKind = reason === undefined
    ? "token.issued"
    : DENIAL_REASONS[reason].failedLogin
    ? "auth.failed"
    : "token.denied";
  const denied = audit.decisions?.filter(({ granted }) => !granted).map(({ scope }) => scope);
  return {
    event: kind,
    request_id: request.requestId,
    client_address: request.client,
    user_agent: clientText(request.userAgent),
    status: request.status,
    reason,
    issuer: clientText(audit.issuer),
    authority: audit.authority,
    subject: audit.subject,
    plan: audit.plan,
    license: audit.license,
    service: audit.service,
    requested: audit.requested,
    granted: audit.granted,
    denied: denied?.length ? denied : undefined,
    decisions: audit.decisions,
    jti: audit.jti,
    exp: audit.exp,
    reused: audit.reused,
  };
}

/** `text` cut to `MAX_CLIENT_TEXT` characters, without control characters. */
function clientText(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let kept = "";
  for (const char of text) {
    if (kept.length + char.length > MAX_CLIENT_TEXT) break;
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code <= 0x9f)) kept += char;
  }
  return kept;
}
