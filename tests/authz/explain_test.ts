/** Rules with Services and Effect, and the explanation of every decision. */

import assert from "node:assert/strict";
import {
  type ActionDecision,
  explainAccess,
  type ScopeDecision,
  summarizeDecisions,
} from "../../src/authz/explain.ts";
import { compilePattern } from "../../src/authz/pattern.ts";
import { decideAccess } from "../../src/authz/plan.ts";
import type { Plan, PlanRule } from "../../src/authz/rules.ts";
import type { ResourceScope } from "../../src/authz/scope.ts";
import { MAX_TEMPLATE_ALTERNATIVES, type TemplateSource } from "../../src/authz/template.ts";
import { assertDeniedSync } from "../support/denial.ts";

const REGISTRY = "registry.test";
const CALLER: TemplateSource = { subject: "ci-bot", claims: { groups: ["dev", "ops"] } };

function allow(pattern: string, actions: string[], more: Partial<PlanRule> = {}): PlanRule {
  return { type: "repository", pattern: compilePattern(pattern), actions, ...more };
}

function deny(pattern: string, actions: string[], more: Partial<PlanRule> = {}): PlanRule {
  return allow(pattern, actions, { effect: "deny", ...more });
}

function plan(...rules: PlanRule[]): Plan {
  return { name: "pro", rules };
}

function scope(name: string, ...actions: string[]): ResourceScope {
  return { type: "repository", name, actions };
}

/** The decisions of `p` for one scope, action by action. */
function decide(
  p: Plan,
  requested: ResourceScope,
  caller = CALLER,
  service = REGISTRY,
): readonly ActionDecision[] {
  return explainAccess(p, caller, service, [requested])[0].actions;
}

/** `action: granted|denied by <index>|none`, the compact form the tests compare. */
function verdicts(decisions: readonly ActionDecision[]): string[] {
  return decisions.map((d) =>
    `${d.action}: ${d.granted ? "granted" : "denied"} by ${d.rule?.index ?? "none"}`
  );
}

/** What `p` grants: the scope with its granted actions, or nothing. */
function granted(p: Plan, requested: ResourceScope, caller = CALLER, service = REGISTRY) {
  return decideAccess(p, [requested], true, caller, service);
}

Deno.test("a rule with Services applies only to requests for one of those services", () => {
  const p = plan(allow("*", ["pull"]), allow("*", ["push"], { services: new Set(["ci.test"]) }));
  assert.deepEqual(granted(p, scope("a/b", "pull", "push"), CALLER, "ci.test"), [
    scope("a/b", "pull", "push"),
  ]);
  assert.deepEqual(granted(p, scope("a/b", "pull", "push")), [scope("a/b", "pull")]);
});

Deno.test("a deny rule beats an allow rule whatever their order", () => {
  for (
    const p of [
      plan(allow("acme/*", ["pull", "push"]), deny("acme/frozen", ["push"])),
      plan(deny("acme/frozen", ["push"]), allow("acme/*", ["pull", "push"])),
    ]
  ) {
    const denyIndex = p.rules.findIndex((rule) => rule.effect === "deny");
    const allowIndex = 1 - denyIndex;
    assert.deepEqual(verdicts(decide(p, scope("acme/frozen", "pull", "push"))), [
      `pull: granted by ${allowIndex}`,
      `push: denied by ${denyIndex}`,
    ]);
    assert.deepEqual(verdicts(decide(p, scope("acme/live", "push"))), [
      `push: granted by ${allowIndex}`,
    ]);
  }
});

Deno.test("a deny rule takes away only the actions it lists, or every one when it lists *", () => {
  const some = plan(allow("*", ["*"]), deny("acme/*", ["delete"]));
  assert.deepEqual(verdicts(decide(some, scope("acme/app", "pull", "push", "delete"))), [
    "pull: granted by 0",
    "push: granted by 0",
    "delete: denied by 1",
  ]);
  const all = plan(allow("*", ["*"]), deny("acme/*", ["*"]));
  assert.deepEqual(verdicts(decide(all, scope("acme/app", "pull", "delete"))), [
    "pull: denied by 1",
    "delete: denied by 1",
  ]);
  assert.deepEqual(verdicts(decide(all, scope("other/app", "pull"))), ["pull: granted by 0"]);
});

Deno.test("a requested * is refused wherever any deny rule matches the resource", () => {
  const p = plan(allow("*", ["*"]), deny("acme/*", ["delete"]));
  assert.deepEqual(verdicts(decide(p, scope("acme/app", "*"))), ["*: denied by 1"]);
  assert.deepEqual(verdicts(decide(p, scope("other/app", "*"))), ["*: granted by 0"]);
  const named = plan(allow("*", ["pull", "push", "delete"]));
  assert.deepEqual(verdicts(decide(named, scope("other/app", "*"))), ["*: denied by none"]);
});

Deno.test("the lowest-indexed deny rule listing the action decides, then the first allow rule", () => {
  const p = plan(
    allow("acme/*", ["pull"]),
    deny("acme/a*", ["pull"]),
    allow("*", ["*"]),
    deny("acme/*", ["pull", "push"]),
  );
  assert.deepEqual(verdicts(decide(p, scope("acme/app", "pull", "push", "tag"))), [
    "pull: denied by 1",
    "push: denied by 3",
    "tag: granted by 2",
  ]);
});

Deno.test("deny rules respect their type and their Services", () => {
  const p = plan(
    allow("*", ["*"]),
    allow("catalog", ["*"], { type: "registry" }),
    deny("*", ["*"], { type: "registry" }),
    deny("*", ["push"], { services: new Set(["prod.test"]) }),
  );
  assert.deepEqual(verdicts(decide(p, scope("a/b", "push"))), ["push: granted by 0"]);
  assert.deepEqual(verdicts(decide(p, scope("a/b", "push"), CALLER, "prod.test")), [
    "push: denied by 3",
  ]);
  const catalog = { type: "registry", name: "catalog", actions: ["*"] };
  assert.deepEqual(verdicts(decide(p, catalog)), ["*: denied by 2"]);
});

Deno.test("templates apply per caller in allow and deny rules", () => {
  const p = plan(
    allow("users/${subject}/*", ["pull", "push"]),
    allow("${claim:groups}/*", ["pull", "push"]),
    deny("${claim:frozen}/*", ["push"]),
  );
  const frozen = { subject: "ci-bot", claims: { groups: ["dev", "ops"], frozen: "ops" } };
  assert.deepEqual(verdicts(decide(p, scope("users/ci-bot/app", "push"))), [
    "push: granted by 0",
  ]);
  assert.deepEqual(verdicts(decide(p, scope("users/other/app", "pull"))), ["pull: denied by none"]);
  assert.deepEqual(verdicts(decide(p, scope("ops/app", "pull", "push"))), [
    "pull: granted by 1",
    "push: granted by 1",
  ]);
  assert.deepEqual(verdicts(decide(p, scope("ops/app", "pull", "push"), frozen)), [
    "pull: granted by 1",
    "push: denied by 2",
  ]);
});

Deno.test("a deny rule whose alternatives exceed the cap fails closed and says so", () => {
  const many = Array.from({ length: MAX_TEMPLATE_ALTERNATIVES + 1 }, (_, i) => `g${i}`);
  const caller = { subject: "ci-bot", claims: { blocked: many } };
  const p = plan(allow("*", ["pull", "push"]), deny("${claim:blocked}/*", ["push"]));
  const [pull, push] = decide(p, scope("unrelated/app", "pull", "push"), caller);
  assert.equal(pull.granted, true);
  assert.deepEqual(push, {
    action: "push",
    granted: false,
    because: "deny rule",
    rule: { plan: "pro", index: 1, pattern: "${claim:blocked}/*" },
    overCap: true,
  });
  const few = { subject: "ci-bot", claims: { blocked: many.slice(1) } };
  assert.deepEqual(verdicts(decide(p, scope("g0/app", "push"), few)), ["push: granted by 0"]);
  assert.deepEqual(verdicts(decide(p, scope("g1/app", "push"), few)), ["push: denied by 1"]);
  assert.equal(decide(p, scope("g1/app", "push"), few)[0].overCap, undefined);
});

Deno.test("an allow rule whose alternatives exceed the cap tries only the first ones", () => {
  const many = Array.from({ length: MAX_TEMPLATE_ALTERNATIVES + 1 }, (_, i) => `g${i}`);
  const caller = { subject: "ci-bot", claims: { groups: many } };
  const p = plan(allow("${claim:groups}/*", ["pull"]));
  assert.deepEqual(verdicts(decide(p, scope("g0/app", "pull"), caller)), ["pull: granted by 0"]);
  assert.deepEqual(
    verdicts(decide(p, scope(`g${MAX_TEMPLATE_ALTERNATIVES}/app`, "pull"), caller)),
    [
      "pull: denied by none",
    ],
  );
});

Deno.test("the explanation names the plan, the rule's index and its pattern as written", () => {
  const p = plan(allow("team/*", ["pull", "push"]), deny("team/${subject}-secret", ["pull"]));
  const [decision] = explainAccess(p, CALLER, REGISTRY, [
    scope("team/ci-bot-secret", "pull", "push", "delete"),
  ]);
  assert.deepEqual(
    decision,
    {
      type: "repository",
      name: "team/ci-bot-secret",
      plan: "pro",
      actions: [
        {
          action: "pull",
          granted: false,
          because: "deny rule",
          rule: { plan: "pro", index: 1, pattern: "team/${subject}-secret" },
        },
        {
          action: "push",
          granted: true,
          because: "allow rule",
          rule: { plan: "pro", index: 0, pattern: "team/*" },
        },
        { action: "delete", granted: false, because: "no allow rule matched", rule: null },
      ],
    } satisfies ScopeDecision,
  );
});

Deno.test("summaries group a scope's actions by deciding rule, keyed to the granted and denied entries", () => {
  const p = plan(allow("team/*", ["*"]), deny("team/app", ["push", "delete"]));
  const decisions = explainAccess(p, CALLER, REGISTRY, [
    scope("team/app", "pull", "push", "tag", "delete"),
    { type: "registry", name: "catalog", actions: ["*"] },
  ]);
  const rule0 = { plan: "pro", index: 0, pattern: "team/*" };
  const rule1 = { plan: "pro", index: 1, pattern: "team/app" };
  assert.deepEqual(summarizeDecisions(decisions), [
    {
      scope: "repository:team/app:pull,tag",
      actions: ["pull", "tag"],
      granted: true,
      plan: "pro",
      rule: rule0,
      because: "allow rule",
    },
    {
      scope: "repository:team/app:push,delete",
      actions: ["push", "delete"],
      granted: false,
      plan: "pro",
      rule: rule1,
      because: "deny rule",
    },
    {
      scope: "registry:catalog:*",
      actions: ["*"],
      granted: false,
      plan: "pro",
      rule: null,
      because: "no allow rule matched",
    },
  ]);
});

Deno.test("a strict refusal carries denied as before and the decisions beside it", () => {
  const p = plan(allow("team/*", ["pull", "push"]), deny("team/frozen", ["push"]));
  const denial = assertDeniedSync(
    () => decideAccess(p, [scope("team/frozen", "pull", "push"), scope("other/x", "pull")], false),
    "access_denied",
  );
  assert.deepEqual(denial.detail.denied, [
    "repository:team/frozen:push",
    "repository:other/x:pull",
  ]);
  assert.deepEqual(denial.detail.decisions, [
    {
      scope: "repository:team/frozen:push",
      actions: ["push"],
      granted: false,
      plan: "pro",
      rule: { plan: "pro", index: 1, pattern: "team/frozen" },
      because: "deny rule",
    },
    {
      scope: "repository:other/x:pull",
      actions: ["pull"],
      granted: false,
      plan: "pro",
      rule: null,
      because: "no allow rule matched",
    },
  ]);
});

Deno.test("PartialGrants leaves out what deny rules refuse, and omits scopes left empty", () => {
  const p = plan(allow("*", ["*"]), deny("team/frozen", ["*"]), deny("*", ["delete"]));
  assert.deepEqual(
    decideAccess(
      p,
      [scope("team/frozen", "pull"), scope("team/app", "pull", "delete"), scope("x/y", "*")],
      true,
    ),
    [scope("team/app", "pull")],
  );
});

Deno.test("decisions are pure: the same inputs give the same decisions, rules untouched", () => {
  const p = plan(allow("${claim:groups}/*", ["pull"]), deny("ops/secret", ["pull"]));
  const scopes = [scope("ops/secret", "pull"), scope("dev/app", "pull")];
  const first = explainAccess(p, CALLER, REGISTRY, scopes);
  assert.deepEqual(explainAccess(p, CALLER, REGISTRY, scopes), first);
  assert.deepEqual(verdicts(first.flatMap((d) => d.actions)), [
    "pull: denied by 1",
    "pull: granted by 0",
  ]);
});
