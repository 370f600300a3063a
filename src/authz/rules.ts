/**
 * The plan catalogue's shape: plans, their rules and a rule's effect, as configuration builds
 * them and the decision (`explain.ts`) and grant (`plan.ts`) read them.
 *
 * @module
 */

import type { RepositoryPattern } from "./pattern.ts";

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
