/**
 * The grant decision: which of the requested scopes a plan allows.
 *
 * @module
 */

import { Denial } from "../denial.ts";
import { matchesPattern, type RepositoryPattern } from "./pattern.ts";
import { formatScope, type ResourceScope } from "./scope.ts";

/** One rule of a plan: the actions it allows on the resources its pattern matches. */
export interface PlanRule {
  /** Resource type the rule applies to; the configuration defaults it to `repository`. */
  readonly type: string;
  /** Which resource names of that type the rule covers. */
  readonly pattern: RepositoryPattern;
  /** Allowed actions; `*` allows every action, including a requested `*`. */
  readonly actions: readonly string[];
}

/** A named set of rules from the plan catalogue. */
export interface Plan {
  /** Plan name, quoted in denial messages. */
  readonly name: string;
  /** Rules whose grants are united. */
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

const ANY_ACTION = "*";

/**
 * Decides which of the requested scopes `plan` grants.
 *
 * An action is allowed when any rule of the scope's type whose pattern matches the name lists
 * it or lists `*`; a requested `*` therefore needs a rule listing `*`. Resource types no rule
 * names are never granted. Entries keep the request order and granted actions the requested
 * order; with `partialGrants` refused actions are dropped (and entries left empty omitted).
 *
 * @throws {Denial} `access_denied` listing every refused scope, unless `partialGrants`.
 */
export function decideAccess(
  plan: Plan,
  requested: readonly ResourceScope[],
  partialGrants: boolean,
): AccessEntry[] {
  const granted: AccessEntry[] = [];
  const refused: AccessEntry[] = [];
  for (const scope of requested) {
    const rules = plan.rules.filter((rule) =>
      rule.type === scope.type && matchesPattern(rule.pattern, scope.name)
    );
    const allowed: string[] = [];
    const denied: string[] = [];
    for (const action of scope.actions) {
      const ok = rules.some((rule) =>
        rule.actions.includes(action) || rule.actions.includes(ANY_ACTION)
      );
      (ok ? allowed : denied).push(action);
    }
    if (allowed.length > 0) granted.push({ type: scope.type, name: scope.name, actions: allowed });
    if (denied.length > 0) refused.push({ type: scope.type, name: scope.name, actions: denied });
  }
  if (!partialGrants && refused.length > 0) {
    const scopes = refused.map(formatScope);
    throw new Denial(
      "access_denied",
      `plan ${JSON.stringify(plan.name)} does not allow ${scopes.join(", ")}`,
      { denied: scopes },
    );
  }
  return granted;
}
