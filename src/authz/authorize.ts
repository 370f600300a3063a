/**
 * The authorization stage: service allow-list, licence revocation, plan selection, and the
 * access decision for the requested scopes.
 *
 * @module
 */

import { Denial } from "../denial.ts";
import { explainAccess, type ScopeDecision } from "./explain.ts";
import { type AccessEntry, grantedAccess } from "./plan.ts";
import type { Plan } from "./rules.ts";
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
  /** The caller's subject, for `${subject}` in rule patterns. */
  readonly subject?: string;
  /** The verified caller token's claims, for `${claim:NAME}` in rule patterns. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** The plan chosen for a request and its decision for every requested scope and action. */
export interface Authorization {
  readonly plan: string;
  readonly decisions: readonly ScopeDecision[];
}

/** What the caller may have: the plan that decided it, the granted access, and why. */
export interface Grant extends Authorization {
  readonly access: readonly AccessEntry[];
}

/**
 * Decides what `caller` is granted for `service` and `scopes`, or throws a `Denial`: the
 * composition of {@link explainAuthorization} and {@link grantOf}.
 */
export function authorize(
  caller: CallerEntitlement,
  service: string,
  scopes: readonly ResourceScope[],
  policy: PolicyOptions,
): Grant {
  return grantOf(explainAuthorization(caller, service, scopes, policy), policy.partialGrants);
}

/**
 * Chooses the plan and decides each scope and action, without refusing refused actions yet, so
 * a caller can record (or print) every decision first.
 *
 * @throws {Denial} `service_not_allowed`, `license_revoked` or `plan_unknown`, in that order.
 */
export function explainAuthorization(
  caller: CallerEntitlement,
  service: string,
  scopes: readonly ResourceScope[],
  policy: PolicyOptions,
): Authorization {
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
  return { plan: plan.name, decisions: explainAccess(plan, caller, service, scopes) };
}

/**
 * The grant an authorization amounts to.
 *
 * @throws {Denial} `access_denied` naming each refused scope and what refused it, unless
 *   `partialGrants` (then refused actions are left out).
 */
export function grantOf(authorization: Authorization, partialGrants: boolean): Grant {
  const access = grantedAccess(authorization.plan, authorization.decisions, partialGrants);
  return { ...authorization, access };
}
