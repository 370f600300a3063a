/**
 * The decision of a plan for each requested scope and action, with the rule that made it.
 *
 * An action is granted when a matching allow rule lists it (or `*`) and no matching deny rule
 * lists it (or `*`); a requested `*` is granted only where a matching allow rule lists `*` and
 * no deny rule matches the resource at all. Deny wins whatever the rules' order. A rule matches a
 * scope when its type is the scope's, its `Services` (if any) include the request's service and
 * its pattern matches the name for this caller. Everything here is a pure function of its
 * arguments, and each rule is expanded once per request, so the cost is linear in rules × scopes.
 *
 * @module
 */

import { expandPattern, type Expansion, matchesExpansion } from "./pattern.ts";
import type { Plan, PlanRule } from "./rules.ts";
import { formatScope, type ResourceScope } from "./scope.ts";
import type { TemplateSource } from "./template.ts";

/** Why an action was decided the way it was. */
export type Because = "allow rule" | "deny rule" | "no allow rule matched";

/** A rule as explanations name it: plan, index in `Repositories` (from 0), pattern as written. */
export type RuleRef = {
  readonly plan: string;
  readonly index: number;
  readonly pattern: string;
};

/** The decision for one requested action. */
export interface ActionDecision {
  readonly action: string;
  readonly granted: boolean;
  readonly because: Because;
  /** The allow rule that granted or the deny rule that refused; `null`: no allow rule matched. */
  readonly rule: RuleRef | null;
  /**
   * The deny rule applied only because its templates gave more alternatives than
   * `MAX_TEMPLATE_ALTERNATIVES`: it could not be checked against every value, so it fails closed.
   */
  readonly overCap?: true;
}

/** The decisions for one requested scope, action by action in the requested order. */
export interface ScopeDecision {
  readonly type: string;
  readonly name: string;
  /** The plan that decided. */
  readonly plan: string;
  readonly actions: readonly ActionDecision[];
}

/**
 * Decisions grouped for the `403` detail and the request log: one entry per scope and deciding
 * rule. `scope` is the entry of `granted`/`denied` it explains (the scope with every granted, or
 * every refused, action); `actions` are those this entry's rule decided.
 */
// A type, not an interface: the request log takes it as plain JSON data (`LogValue`).
export type DecisionSummary = {
  readonly scope: string;
  readonly actions: readonly string[];
  readonly granted: boolean;
  readonly plan: string;
  readonly rule: RuleRef | null;
  readonly because: Because;
  readonly overCap?: true;
};

const ANY_ACTION = "*";

/** Decides every requested scope and action of `scopes` under `plan` for `caller` and `service`. */
export function explainAccess(
  plan: Plan,
  caller: TemplateSource,
  service: string,
  scopes: readonly ResourceScope[],
): ScopeDecision[] {
  // Expanded lazily and once: a rule no scope's type asks for never reads the claims.
  const expansions = new Map<number, Expansion>();
  const expansionOf = (index: number, rule: PlanRule) => {
    let expansion = expansions.get(index);
    if (expansion === undefined) {
      expansion = expandPattern(rule.pattern, caller);
      expansions.set(index, expansion);
    }
    return expansion;
  };
  return scopes.map((scope) => {
    const allows: number[] = [];
    const denies: number[] = [];
    const overCap = new Set<number>();
    plan.rules.forEach((rule, index) => {
      if (rule.type !== scope.type || !appliesTo(rule, service)) return;
      const expansion = expansionOf(index, rule);
      const matched = matchesExpansion(expansion, scope.name);
      if (rule.effect !== "deny") {
        if (matched) allows.push(index);
      } else if (matched || expansion.truncated) {
        // Fail closed: an untried value might have matched, so the deny rule applies.
        if (!matched) overCap.add(index);
        denies.push(index);
      }
    });
    const actions = scope.actions.map((action) =>
      decideAction(plan, action, allows, denies, overCap)
    );
    return { type: scope.type, name: scope.name, plan: plan.name, actions };
  });
}

/** Groups decisions per scope and deciding rule, for the `403` detail and the request log. */
export function summarizeDecisions(decisions: readonly ScopeDecision[]): DecisionSummary[] {
  const summaries: DecisionSummary[] = [];
  for (const decision of decisions) {
    const scopeOf = (granted: boolean) =>
      formatScope({
        type: decision.type,
        name: decision.name,
        actions: decision.actions.filter((a) => a.granted === granted).map((a) => a.action),
      });
    const groups = new Map<string, { first: ActionDecision; actions: string[] }>();
    for (const action of decision.actions) {
      const key = `${action.granted}:${action.rule?.index ?? "none"}`;
      const group = groups.get(key);
      if (group) group.actions.push(action.action);
      else groups.set(key, { first: action, actions: [action.action] });
    }
    for (const { first, actions } of groups.values()) {
      summaries.push({
        scope: scopeOf(first.granted),
        actions,
        granted: first.granted,
        plan: decision.plan,
        rule: first.rule,
        because: first.because,
        ...(first.overCap ? { overCap: true } : {}),
      });
    }
  }
  return summaries;
}

function appliesTo(rule: PlanRule, service: string): boolean {
  return rule.services === undefined || rule.services.has(service);
}

// Deny first, whatever the order of the rules: the lowest-indexed deny rule that lists the
// action decides; a requested `*` is refused by any deny rule matching the resource.
function decideAction(
  plan: Plan,
  action: string,
  allows: readonly number[],
  denies: readonly number[],
  overCap: ReadonlySet<number>,
): ActionDecision {
  const deny = action === ANY_ACTION
    ? denies[0]
    : denies.find((index) => lists(plan.rules[index], action));
  if (deny !== undefined) {
    return {
      action,
      granted: false,
      because: "deny rule",
      rule: ruleRef(plan, deny),
      ...(overCap.has(deny) ? { overCap: true } : {}),
    };
  }
  // For a requested `*`, `lists` asks for a rule listing `*` itself.
  const allow = allows.find((index) => lists(plan.rules[index], action));
  return allow === undefined
    ? { action, granted: false, because: "no allow rule matched", rule: null }
    : { action, granted: true, because: "allow rule", rule: ruleRef(plan, allow) };
}

function lists(rule: PlanRule, action: string): boolean {
  return rule.actions.includes(action) || rule.actions.includes(ANY_ACTION);
}

function ruleRef(plan: Plan, index: number): RuleRef {
  return { plan: plan.name, index, pattern: plan.rules[index].pattern.source };
}
