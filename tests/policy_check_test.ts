import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  everythingGranted,
  explainRequest,
  formatExplanation,
  grantedActions,
} from "../src/policy_check.ts";
import { build } from "./support/config.ts";
import { ALICE, COOKBOOK_PATH } from "./support/cookbook.ts";

const COOKBOOK = parse(await Deno.readTextFile(COOKBOOK_PATH));
const options = build(COOKBOOK);
const SERVICE = "registry.example.internal";

function explain(claims: Record<string, unknown>, scope: string, service = SERVICE) {
  return explainRequest(options, { claims, service, scopes: [scope] });
}

Deno.test("explainRequest picks the Authority by iss and decides each action with its rule", () => {
  const explanation = explain(ALICE, "repository:users/alice/tools:pull,delete");
  assert.equal(explanation.authority, "idp");
  assert.equal(explanation.subject, "alice");
  assert.equal(explanation.plan, "developer");
  assert.ok(everythingGranted(explanation));
  assert.deepEqual(
    explanation.decisions[0].actions.map((
      { action, granted, rule },
    ) => [action, granted, rule?.index]),
    [["pull", true, 0], ["delete", true, 0]],
  );
});

Deno.test("explainRequest applies the claim checks the service applies, short of signature and time", () => {
  const reasons = [
    explain({ ...ALICE, aud: "someone-else" }, "repository:a:pull"),
    explain({ ...ALICE, scope: undefined }, "repository:a:pull"),
    explain({ ...ALICE, iss: undefined }, "repository:a:pull"),
    explain({ ...ALICE, preferred_username: undefined }, "repository:a:pull"),
    explain(ALICE, "repository:a:pull", "registry.elsewhere"),
    explain(ALICE, "not a scope"),
  ].map((explanation) => explanation.refusal?.reason);
  assert.deepEqual(reasons, [
    "token_audience_mismatch",
    "token_scope_missing",
    "issuer_unknown",
    "token_subject_missing",
    "service_not_allowed",
    "scope_invalid",
  ]);
  // An expired token is still decided: --explain checks policy, not time.
  assert.ok(everythingGranted(explain({ ...ALICE, exp: 1 }, "repository:base/x:pull")));
});

Deno.test("grantedActions is what the token would carry: nothing for a partly refused scope unless PartialGrants", () => {
  const explanation = explain(ALICE, "repository:users/bob/tools:pull,push");
  assert.ok(!everythingGranted(explanation));
  assert.deepEqual(grantedActions(explanation, false), []);
  assert.deepEqual(grantedActions(explanation, true), ["pull"]);
  assert.deepEqual(grantedActions(explain({ ...ALICE, aud: "x" }, "repository:a:pull"), true), []);
});

Deno.test("formatExplanation says who, then one line per action naming plan, rule and pattern", () => {
  assert.deepEqual(formatExplanation(explain(ALICE, "repository:users/bob/tools:pull,push")), [
    "authority idp, subject alice, plan developer",
    'repository:users/bob/tools pull: granted by plan "developer" rule 2 ("*")',
    'repository:users/bob/tools push: denied: no allow rule matched in plan "developer"',
  ]);
  assert.deepEqual(
    formatExplanation(explain({ ...ALICE, iss: "https://evil.example" }, "repository:a:pull")),
    [
      "refused (issuer_unknown): the Authority token was issued by an issuer (iss) this service does not trust",
    ],
  );
});
