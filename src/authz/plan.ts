/**
 * The grant: which of the requested scopes a plan allows, from the decisions of `explain.ts`.
 *
 * @module
 */

import { Denial } from "../denial.ts";
import { explainAccess, type ScopeDecision, summarizeDecisions } from "./explain.ts";
import type { Plan } from "./rules.ts";
import { formatScope, type ResourceScope } from "./scope.ts";
import type { TemplateSource } from "./template.ts";

/** One granted resource, in the shape of an entry of the token's `access` claim. */
export interface AccessEntry {
  /** Resource type, e.g. `repository`. */
  readonly type: string;
  /** Resource name, e.g. `samalba/my-app`. */
  readonly name: string;
  /** Granted actions, in the order they were requested. */
  readonly actions: readonly string[];
}

/**
 * Decides which of the requested scopes `plan` grants to `caller` for `service` (see
 * `explainAccess` for the rule semantics). Without a caller no template has a value; without a
 * service, rules limited to `Services` never apply.
 *
 * @throws {Denial} `access_denied` listing every refused scope, unless `partialGrants`.
 */
export function decideAccess(
  plan: Plan,
  requested: readonly ResourceScope[],
  partialGrants: boolean,
  caller: TemplateSource = {},
  service = "",
): AccessEntry[] {
  return grantedAccess(plan.name, explainAccess(plan, caller, service, requested), partialGrants);
}

/**
 * The access the decisions grant. Resource types no rule names are never granted. Entries keep
 * the request order and granted actions the requested order; with `partialGrants` refused
 * actions are dropped (and entries left empty omitted).
 *
 * @throws {Denial} `access_denied` with `detail.denied` (every refused scope) and
 *   `detail.decisions` (what refused each), unless `partialGrants`.
 */
export function grantedAccess(
  plan: string,
  decisions: readonly ScopeDecision[],
  partialGrants: boolean,
): AccessEntry[] {
  const granted: AccessEntry[] = [];
  const refused: AccessEntry[] = [];
  for (const decision of decisions) {
    const entry = (ok: boolean) => ({
      type: decision.type,
      name: decision.name,
      actions: decision.actions.filter((a) => a.granted === ok).map((a) => a.action),
    });
    const allowed = entry(true);
    const denied = entry(false);
    if (allowed.actions.length > 0) granted.push(allowed);
    if (denied.actions.length > 0) refused.push(denied);
  }
  if (!partialGrants && refused.length > 0) {
    const scopes = refused.map(formatScope);
    throw new Denial(
      "access_denied",
      `plan ${JSON.stringify(plan)} does not allow ${scopes.join(", ")}`,
      { denied: scopes, decisions: summarizeDecisions(decisions).filter((d) => !d.granted) },
    );
  }
  return granted;
}
