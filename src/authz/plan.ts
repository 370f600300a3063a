/**
 * Plans and their rules, and the grant: which of the requested scopes a plan allows.
 *
 * @module
 */

import { Denial } from "../denial.ts";
import { explainAccess, type ScopeDecision, summarizeDecisions } from "./explain.ts";
import type { RepositoryPattern } from "./pattern.ts";
import { formatScope, type ResourceScope } from "./scope.ts";
import type { TemplateSource } from "./template.ts";

/** What a rule does to the actions it lists. */
export type Effect = "allow" | "deny";

/** One rule of a plan: what it does to the listed actions on the resources its pattern matches. */
export interface PlanRule {
  /** Resource type the rule applies to; the configuration defaults it to `repository`. */
  readonly type: string;
  /** Which resource names of that type the rule covers. */
  readonly pattern: RepositoryPattern;
  /** Listed actions; `*` stands for every action, including a requested `*`. */
  readonly actions: readonly string[];
  /** The `service` values the rule applies to; absent: every service. */
  readonly services?: ReadonlySet<string>;
  /** `allow` (also when absent) grants the actions; `deny` refuses them whatever allows them. */
  readonly effect?: Effect;
}

/** A named set of rules from the plan catalogue. */
export interface Plan {
  /** Plan name, quoted in denial messages. */
  readonly name: string;
  /** Rules; their index (from 0) is how explanations name them. */
  readonly rules: readonly PlanRule[];
}

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
