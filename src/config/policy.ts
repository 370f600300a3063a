/**
 * The policy keys: `Registry`, `Plans`, `DefaultPlan`, `RevokedLicenses` and `PartialGrants`.
 *
 * @module
 */

import type { PolicyOptions } from "../authz/authorize.ts";
import { compilePattern } from "../authz/pattern.ts";
import type { Plan, PlanRule } from "../authz/rules.ts";
import { isAction, isResourceType } from "../authz/scope.ts";
import { ConfigError } from "./error.ts";
import { choice, flag, list, section, type Settled, text } from "./schema.ts";

const RULE_SECTION = section({
  doc: "a plan rule",
  fields: {
    Type: text({ default: "repository", doc: "resource type the rule applies to" }),
    Pattern: text({
      required: true,
      doc: "resource names the rule covers; `*` matches any run of characters, `/` included; " +
        "`${subject}` and `${claim:NAME}` stand for the caller's values",
    }),
    Actions: list({
      item: text({ doc: "an action" }),
      doc: "actions the rule allows (or denies); `*` stands for all",
    }),
    Services: list({
      item: text({ doc: "a registry `service` name" }),
      defaultText: "`[]` (all)",
      doc: "`service` values the rule applies to",
    }),
    Effect: choice({
      values: ["allow", "deny"],
      default: "allow",
      doc: "`deny` refuses the listed actions whatever allow rules say",
    }),
  },
});

/** The policy keys, at the top level of `RegistryTokenService`. */
export const POLICY_FIELDS = {
  Registry: section({
    doc: "the registries this instance serves",
    fields: {
      Realm: text({
        defaultText: "this service's `/token` URL",
        doc: "`realm` of `WWW-Authenticate` challenges",
      }),
      AllowedServices: list({
        item: text({ doc: "a registry `service` name" }),
        defaultText: "`[]` (any)",
        doc: "`service` values this instance serves; others get `403`",
      }),
    },
  }),
  Plans: list({
    doc: "the plan catalogue: `- Name: …` with " +
      "`Repositories: [{Pattern, Actions, Type, Services, Effect}]`",
    item: section({
      doc: "a plan",
      fields: {
        Name: text({ required: true, doc: "the plan's name, as caller tokens carry it" }),
        Repositories: list({
          item: RULE_SECTION,
          doc: "rules: allow rules' grants are united, deny rules take actions away",
        }),
      },
    }),
  }),
  DefaultPlan: text({
    doc: "plan for callers whose Authority decides none (no plan claim, mapping or Authority " +
      "`DefaultPlan`); must name a configured plan",
  }),
  RevokedLicenses: list({
    item: text({ doc: "a licence" }),
    doc: "licence values (the Authority's `LicenseClaim`, default `stellaops:license`) that are " +
      "refused",
  }),
  PartialGrants: flag({
    default: false,
    doc: "grant the permitted subset instead of refusing",
  }),
} as const;

/** The policy keys after defaults. */
export type PolicySection = Settled<
  { kind: "section"; fields: typeof POLICY_FIELDS }
>;

// What a request's `service` parameter may be (as `issue.ts` checks it): anything else in a
// rule's `Services` could never match, so it is a mistake worth reporting at load.
const SERVICE = /^[\x21-\x7e]{1,255}$/;

/** Builds the authorization policy; `path` is the document root's key. */
export function policyOptions(document: PolicySection, path: string): PolicyOptions {
  const plans = new Map<string, Plan>();
  document.Plans.forEach((plan, index) => {
    if (plans.has(plan.Name)) {
      throw new ConfigError(`${path}:Plans:${index}:Name`, `"${plan.Name}" is defined twice`);
    }
    const rules = plan.Repositories.map((rule, ruleIndex) =>
      planRule(rule, `${path}:Plans:${index}:Repositories:${ruleIndex}`)
    );
    plans.set(plan.Name, { name: plan.Name, rules });
  });
  const defaultPlan = document.DefaultPlan;
  if (defaultPlan !== undefined && !plans.has(defaultPlan)) {
    const known = plans.size ? [...plans.keys()].join(", ") : "none are configured";
    throw new ConfigError(
      `${path}:DefaultPlan`,
      `"${defaultPlan}" is not a configured plan (${known})`,
    );
  }
  return {
    plans,
    defaultPlan,
    revokedLicenses: new Set(document.RevokedLicenses),
    allowedServices: new Set(document.Registry.AllowedServices),
    partialGrants: document.PartialGrants,
  };
}

function planRule(rule: Settled<typeof RULE_SECTION>, path: string): PlanRule {
  if (!isResourceType(rule.Type)) {
    throw new ConfigError(`${path}:Type`, `"${rule.Type}" is not a resource type`);
  }
  let pattern;
  try {
    pattern = compilePattern(rule.Pattern);
  } catch (error) {
    throw new ConfigError(`${path}:Pattern`, (error as Error).message);
  }
  if (rule.Actions.length === 0) {
    throw new ConfigError(`${path}:Actions`, "must list at least one action");
  }
  rule.Actions.forEach((action, index) => {
    if (!isAction(action)) {
      throw new ConfigError(`${path}:Actions:${index}`, `"${action}" is not an action (a-z or *)`);
    }
  });
  rule.Services.forEach((service, index) => {
    if (!SERVICE.test(service)) {
      throw new ConfigError(
        `${path}:Services:${index}`,
        `"${service}" is not a service name (printable ASCII, no spaces, at most 255)`,
      );
    }
  });
  return {
    type: rule.Type,
    pattern,
    actions: rule.Actions,
    // `[]` reads as "all", as `Registry:AllowedServices` does: an absent list settles to it too.
    ...(rule.Services.length ? { services: new Set(rule.Services) } : {}),
    effect: rule.Effect,
  };
}
