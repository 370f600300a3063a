/**
 * Deciding a request from caller claims alone, for `--explain` and `--test-policy`: every check
 * the service applies except the signature and the time claims (`exp`, `nbf`) — issuer →
 * Authority, audience, required scopes, subject, plan, licence, service — then each scope and
 * action with the rule that decided it. Pure: nothing is verified, minted or read.
 *
 * @module
 */

import { callerFromClaims } from "./authn/caller.ts";
import { explainAuthorization } from "./authz/authorize.ts";
import type { ScopeDecision } from "./authz/explain.ts";
import { formatScope, parseScopes } from "./authz/scope.ts";
import type { Options } from "./config/options.ts";
import { Denial, type DenialReason } from "./denial.ts";

/** A request as `--explain` and a policy case state it. */
export interface PolicyRequest {
  readonly claims: Readonly<Record<string, unknown>>;
  /** The Authority by `Name`; default: the one whose `Issuer` is the claims' `iss`. */
  readonly authority?: string;
  readonly service: string;
  /** `scope` values as a client sends them. */
  readonly scopes: readonly string[];
}

/** What the service would decide for a request, and why. */
export interface Explanation {
  /** The Authority the claims were checked against, when one was found. */
  readonly authority?: string;
  readonly subject?: string;
  readonly plan?: string;
  /** A refusal before (or instead of) any per-scope decision. */
  readonly refusal?: { readonly reason: DenialReason; readonly message: string };
  /** Each requested scope and action, with the rule that decided. */
  readonly decisions: readonly ScopeDecision[];
}

/** Decides `request` under `options` as the service would, short of signatures and clocks. */
export function explainRequest(options: Options, request: PolicyRequest): Explanation {
  let authority: string | undefined;
  let subject: string | undefined;
  try {
    const scopes = parseScopes(request.scopes);
    const caller = callerFromClaims(request.claims, options.authorities, request.authority);
    ({ authority, subject } = caller);
    const { plan, decisions } = explainAuthorization(
      caller,
      request.service,
      scopes,
      options.policy,
    );
    return { authority, subject, plan, decisions };
  } catch (error) {
    if (!(error instanceof Denial)) throw error;
    return {
      authority,
      subject,
      refusal: { reason: error.reason, message: error.message },
      decisions: [],
    };
  }
}

/** Whether everything asked for would be granted. */
export function everythingGranted(explanation: Explanation): boolean {
  return explanation.refusal === undefined &&
    explanation.decisions.every((scope) => scope.actions.every((action) => action.granted));
}

/**
 * The actions of the first scope the token would carry: none when refused, and none for a
 * partly refused scope unless `partialGrants` (the service then refuses the whole request).
 */
export function grantedActions(explanation: Explanation, partialGrants: boolean): string[] {
  if (explanation.refusal) return [];
  const [scope] = explanation.decisions;
  if (!scope) return [];
  if (!partialGrants && !everythingGranted(explanation)) return [];
  return scope.actions.filter((action) => action.granted).map((action) => action.action);
}

/** The explanation as lines for a terminal: who, then each scope and action, or the refusal. */
export function formatExplanation(explanation: Explanation): string[] {
  const who = [
    explanation.authority && `authority ${explanation.authority}`,
    explanation.subject && `subject ${explanation.subject}`,
    explanation.plan && `plan ${explanation.plan}`,
  ].filter(Boolean).join(", ");
  const lines = who ? [who] : [];
  if (explanation.refusal) {
    lines.push(`refused (${explanation.refusal.reason}): ${explanation.refusal.message}`);
  }
  for (const scope of explanation.decisions) {
    const name = formatScope({ type: scope.type, name: scope.name, actions: [] }).replace(/:$/, "");
    for (const action of scope.actions) {
      lines.push(`${name} ${action.action}: ${decisionText(scope.plan, action)}`);
    }
  }
  return lines;
}

function decisionText(plan: string, action: ScopeDecision["actions"][number]): string {
  const verdict = action.granted ? "granted" : "denied";
  if (!action.rule) return `${verdict}: no allow rule matched in plan ${JSON.stringify(plan)}`;
  const { index, pattern } = action.rule;
  const kind = action.because === "deny rule" ? "deny rule" : "rule";
  const cap = action.overCap ? " (its claim gave more values than can be checked)" : "";
  return `${verdict} by plan ${JSON.stringify(action.rule.plan)} ${kind} ${index} ` +
    `(${JSON.stringify(pattern)})${cap}`;
}
