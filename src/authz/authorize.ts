/**
 * The authorization stage: service allow-list, licence revocation, plan selection, and the
 * access decision for the requested scopes.
 *
 * @module
 */

import { Denial } from "../denial.ts";
import { type AccessEntry, decideAccess, type Plan } from "./plan.ts";
import type { ResourceScope } from "./scope.ts";

/** Plan catalogue and the licence/service policy applied to every request. */
export interface PolicyOptions {
  readonly plans: ReadonlyMap<string, Plan>;
  readonly defaultPlan?: string;
  readonly revokedLicenses: ReadonlySet<string>;
  readonly allowedServices: ReadonlySet<string>;
  readonly partialGrants: boolean;
}

/** The parts of a caller that authorization looks at. */
export interface CallerEntitlement {
  readonly plan?: string;
  readonly license?: string;
}

/** What the caller may have: the plan that decided it and the granted access. */
export interface Grant {
  readonly plan: string;
  readonly access: readonly AccessEntry[];
}

/** Decides what `caller` is granted for `service` and `scopes`, or throws a `Denial`. */
export function authorize(
  caller: CallerEntitlement,
  service: string,
  scopes: readonly ResourceScope[],
  policy: PolicyOptions,
): Grant {
  if (policy.allowedServices.size && !policy.allowedServices.has(service)) {
    throw new Denial(
      "service_not_allowed",
      `service "${service}" is not served by this token service`,
    );
  }
  if (caller.license !== undefined && policy.revokedLicenses.has(caller.license)) {
    throw new Denial("license_revoked", "the caller's licence has been revoked");
  }
  const planName = caller.plan ?? policy.defaultPlan;
  if (planName === undefined) {
    throw new Denial(
      "plan_unknown",
      "the Authority token names no plan and no default plan is configured",
    );
  }
  const plan = policy.plans.get(planName);
  if (!plan) throw new Denial("plan_unknown", `plan "${planName}" is not configured`);
  return { plan: plan.name, access: decideAccess(plan, scopes, policy.partialGrants) };
}
