import assert from "node:assert/strict";
import { Denial } from "../../src/denial.ts";
import { compilePattern } from "../../src/authz/pattern.ts";
import { decideAccess } from "../../src/authz/plan.ts";
import type { Plan, PlanRule } from "../../src/authz/rules.ts";
import type { ResourceScope } from "../../src/authz/scope.ts";

function rule(pattern: string, actions: string[], type = "repository"): PlanRule {
  return { type, pattern: compilePattern(pattern), actions };
}

function plan(...rules: PlanRule[]): Plan {
  return { name: "pro", rules };
}

function scope(name: string, actions: string[], type = "repository"): ResourceScope {
  return { type, name, actions };
}

function assertAccessDenied(fn: () => unknown): Denial {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof Denial, "expected a Denial");
  assert.equal(caught.reason, "access_denied");
  return caught;
}

const pro = plan(
  rule("acme/*", ["pull"]),
  rule("acme/app", ["push"]),
  rule("acme/sandbox/*", ["*"]),
);

Deno.test("grants everything requested when the plan allows it", () => {
  const requested = [scope("acme/app", ["push", "pull"]), scope("acme/lib", ["pull"])];
  assert.deepEqual(decideAccess(pro, requested, false), requested);
});

Deno.test("unites the actions of every matching rule", () => {
  assert.deepEqual(decideAccess(pro, [scope("acme/app", ["pull", "push"])], false), [
    scope("acme/app", ["pull", "push"]),
  ]);
});

Deno.test("grants nothing for an empty request", () => {
  assert.deepEqual(decideAccess(pro, [], false), []);
  assert.deepEqual(decideAccess(plan(), [], false), []);
});

Deno.test("refuses in strict mode, naming each refused scope and only its refused actions", () => {
  const denial = assertAccessDenied(() =>
    decideAccess(pro, [
      scope("acme/lib", ["pull", "push"]),
      scope("acme/app", ["pull"]),
      scope("other/app", ["pull"]),
    ], false)
  );
  assert.deepEqual(denial.detail, {
    denied: ["repository:acme/lib:push", "repository:other/app:pull"],
    decisions: [
      {
        scope: "repository:acme/lib:push",
        actions: ["push"],
        granted: false,
        plan: "pro",
        rule: null,
        because: "no allow rule matched",
      },
      {
        scope: "repository:other/app:pull",
        actions: ["pull"],
        granted: false,
        plan: "pro",
        rule: null,
        because: "no allow rule matched",
      },
    ],
  });
  assert.equal(
    denial.message,
    'plan "pro" does not allow repository:acme/lib:push, repository:other/app:pull',
  );
});

Deno.test("grants the allowed part in partial mode and omits fully refused scopes", () => {
  assert.deepEqual(
    decideAccess(pro, [
      scope("other/app", ["pull"]),
      scope("acme/lib", ["push", "pull", "delete"]),
      scope("acme/app", ["delete", "push"]),
    ], true),
    [scope("acme/lib", ["pull"]), scope("acme/app", ["push"])],
  );
});

Deno.test("returns nothing rather than throwing in partial mode when all is refused", () => {
  assert.deepEqual(decideAccess(plan(), [scope("acme/app", ["pull"])], true), []);
});

Deno.test("grants a requested * only where a rule lists *", () => {
  const explicit = plan(rule("*", ["pull", "push", "delete"]));
  assertAccessDenied(() => decideAccess(explicit, [scope("acme/app", ["*"])], false));
  assert.deepEqual(decideAccess(explicit, [scope("acme/app", ["*", "pull"])], true), [
    scope("acme/app", ["pull"]),
  ]);
  assert.deepEqual(decideAccess(pro, [scope("acme/sandbox/x", ["*"])], false), [
    scope("acme/sandbox/x", ["*"]),
  ]);
});

Deno.test("lets a rule listing * allow every named action", () => {
  assert.deepEqual(decideAccess(pro, [scope("acme/sandbox/x", ["pull", "delete"])], false), [
    scope("acme/sandbox/x", ["pull", "delete"]),
  ]);
});

Deno.test("denies other resource types unless a rule names that type", () => {
  const catalog = scope("catalog", ["*"], "registry");
  const repositoriesOnly = plan(rule("*", ["*"]));
  assertAccessDenied(() => decideAccess(repositoriesOnly, [catalog], false));
  assert.deepEqual(decideAccess(repositoriesOnly, [catalog], true), []);

  const withCatalog = plan(rule("*", ["pull"]), rule("catalog", ["*"], "registry"));
  assert.deepEqual(decideAccess(withCatalog, [catalog, scope("a/b", ["pull"])], false), [
    catalog,
    scope("a/b", ["pull"]),
  ]);
});

Deno.test("does not let a rule for another type grant repository access", () => {
  const registryOnly = plan(rule("*", ["*"], "registry"));
  assertAccessDenied(() => decideAccess(registryOnly, [scope("acme/app", ["pull"])], false));
});
