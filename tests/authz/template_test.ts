/** Templates in plan patterns: `${subject}`, `${claim:NAME}`, and what a value may be. */

import assert from "node:assert/strict";
import {
  compilePattern,
  expandPattern,
  matchesPattern,
  MAX_PATTERN_LENGTH,
} from "../../src/authz/pattern.ts";
import { MAX_TEMPLATE_ALTERNATIVES, type TemplateSource } from "../../src/authz/template.ts";

const CALLER: TemplateSource = {
  subject: "ci-bot",
  claims: {
    sub: "ci-bot",
    team: "platform",
    groups: ["dev", "ops"],
    "stellaops:plan": "ci",
    "https://example.com/roles": ["auditor"],
    realm_access: { roles: ["mirror", "tools"] },
    project_path: "group/project",
  },
};

function matches(pattern: string, name: string, caller: TemplateSource = CALLER): boolean {
  return matchesPattern(compilePattern(pattern), name, caller);
}

/** `caller` with `claims` as its only claims. */
function withClaims(claims: Record<string, unknown>): TemplateSource {
  return { subject: "ci-bot", claims };
}

Deno.test("${subject} stands for the caller's subject, matched as literal text", () => {
  assert.ok(matches("users/${subject}/*", "users/ci-bot/app"));
  assert.ok(matches("${subject}", "ci-bot"));
  assert.ok(!matches("users/${subject}/*", "users/other/app"));
  assert.ok(!matches("users/${subject}", "users/ci-bot/app"), "a value is no wildcard");
  assert.ok(!matches("users/${subject}", "users/ci-bo"));
});

Deno.test("${claim:NAME} with a string claim gives exactly that value", () => {
  assert.ok(matches("teams/${claim:team}/*", "teams/platform/api"));
  assert.ok(!matches("teams/${claim:team}/*", "teams/platforms/api"));
  assert.ok(matches("plans/${claim:stellaops:plan}", "plans/ci"), "colons belong to the name");
});

Deno.test("an array claim gives alternatives: any of its string elements may match", () => {
  assert.ok(matches("${claim:groups}/*", "dev/app"));
  assert.ok(matches("${claim:groups}/*", "ops/app"));
  assert.ok(!matches("${claim:groups}/*", "qa/app"));
  assert.ok(matches("roles/${claim:https://example.com/roles}", "roles/auditor"));
  const mixed = withClaims({ groups: [1, "dev", null, { x: "ops" }, ["ops"], true] });
  assert.ok(matches("${claim:groups}/*", "dev/app", mixed));
  assert.ok(!matches("${claim:groups}/*", "ops/app", mixed), "only string elements count");
});

Deno.test("a claim name starting with / is a JSON Pointer into nested claims", () => {
  assert.ok(matches("${claim:/realm_access/roles}/*", "mirror/alpine"));
  assert.ok(matches("${claim:/realm_access/roles}/*", "tools/jq"));
  assert.ok(matches("${claim:/groups/1}/*", "ops/app"), "an array index picks one element");
  assert.ok(!matches("${claim:/groups/1}/*", "dev/app"));
  const escaped = withClaims({ "a/b": { "m~n": "x" } });
  assert.ok(matches("${claim:/a~1b/m~0n}", "x", escaped));
});

Deno.test("absent, non-string, object, empty string and empty array claims match nothing", () => {
  for (
    const value of [undefined, 7, true, null, { team: "dev" }, "", [], [""], [[]], [7]]
  ) {
    const caller = withClaims({ team: value });
    assert.ok(!matches("${claim:team}/*", "dev/app", caller), JSON.stringify(value));
    assert.ok(!matches("*${claim:team}*", "dev/app", caller), JSON.stringify(value));
    assert.deepEqual(expandPattern(compilePattern("${claim:team}"), caller).alternatives, []);
  }
  assert.ok(!matches("${claim:/realm_access/missing}", "mirror"));
  assert.ok(!matches("${claim:team}", "platform", { subject: "ci-bot" }), "no claims at all");
});

Deno.test("a * or ${ inside a value is never a wildcard or a template", () => {
  for (const value of ["*", "a*", "${subject}", "${claim:team}", "$", "a}b"]) {
    const caller = withClaims({ team: value });
    assert.ok(!matches("teams/${claim:team}", "teams/anything", caller), value);
    assert.ok(!matches("teams/${claim:team}", "teams/ci-bot", caller), value);
    assert.ok(!matches("teams/${claim:team}", "teams/platform", caller), value);
    assert.ok(!matches("teams/${claim:team}", `teams/${value}`, caller), value);
  }
  const subject = { subject: "*", claims: {} };
  assert.ok(!matches("users/${subject}", "users/admin", subject));
  assert.ok(!matches("users/${subject}", "users/*", subject));
});

Deno.test("values with .., ., empty parts, upper case or foreign characters never match", () => {
  const bad = [
    "..",
    ".",
    "../admin",
    "a/../admin",
    "a/./b",
    "a//b",
    "/a",
    "a/",
    "Dev",
    "DEV",
    "dev team",
    "dev@example.com",
    "localhost:5000",
    "-dev",
    "dev-",
    "a___b",
    "d\u0435v", // Cyrillic e
    "a".repeat(256),
  ];
  for (const value of bad) {
    const caller = withClaims({ team: value, groups: [value] });
    for (const name of [value, `${value}/app`, "dev/app", "admin/app", "a/admin/app"]) {
      assert.ok(!matches("${claim:team}/*", name, caller), `${value} vs ${name}`);
      assert.ok(!matches("*/${claim:groups}", name, caller), `${value} vs ${name}`);
    }
  }
  assert.ok(!matches("users/${subject}", "users/Admin", { subject: "Admin" }));
});

Deno.test("a value of several components matches when every part is a path component", () => {
  assert.ok(matches("${claim:project_path}", "group/project"));
  assert.ok(matches("gitlab/${claim:project_path}/*", "gitlab/group/project/image"));
  assert.ok(!matches("${claim:project_path}", "group"));
  assert.ok(!matches("${claim:project_path}", "group/project/more"));
  const deep = withClaims({ project_path: "a.b/c__d/e-f" });
  assert.ok(matches("${claim:project_path}/*", "a.b/c__d/e-f/x", deep));
});

Deno.test("the same template written twice takes the same value in one alternative", () => {
  assert.ok(matches("${claim:groups}/${claim:groups}", "dev/dev"));
  assert.ok(matches("${claim:groups}/${claim:groups}", "ops/ops"));
  assert.ok(!matches("${claim:groups}/${claim:groups}", "dev/ops"));
  assert.equal(compilePattern("${claim:groups}/${claim:groups}").templates.length, 1);
});

Deno.test("different templates combine, and join literal text and wildcards", () => {
  assert.ok(matches("${claim:groups}/${subject}-*", "ops/ci-bot-cache"));
  assert.ok(matches("${claim:groups}/${subject}-*", "dev/ci-bot-"));
  assert.ok(!matches("${claim:groups}/${subject}-*", "ops/other-cache"));
  assert.ok(matches("*/${claim:team}", "a/b/platform"));
  assert.ok(matches("pre${claim:team}post", "preplatformpost"));
  assert.ok(matches("x${claim:team}*${claim:team}", "xplatform/a/platform"));
  assert.ok(!matches("x${claim:team}*${claim:team}", "xplatform"), "the two may not overlap");
});

Deno.test("the alternatives of one rule are capped; the first ones are kept and the cut is told", () => {
  const groups = Array.from({ length: MAX_TEMPLATE_ALTERNATIVES + 10 }, (_, i) => `g${i}`);
  const caller = withClaims({ groups });
  const pattern = compilePattern("${claim:groups}/*");
  const expansion = expandPattern(pattern, caller);
  assert.equal(expansion.alternatives.length, MAX_TEMPLATE_ALTERNATIVES);
  assert.equal(expansion.truncated, true);
  assert.ok(matches("${claim:groups}/*", `g${MAX_TEMPLATE_ALTERNATIVES - 1}/app`, caller));
  assert.ok(!matches("${claim:groups}/*", `g${MAX_TEMPLATE_ALTERNATIVES}/app`, caller));

  const exactly = withClaims({ groups: groups.slice(0, MAX_TEMPLATE_ALTERNATIVES) });
  assert.equal(expandPattern(pattern, exactly).truncated, false);
  const duplicates = withClaims({ groups: [...Array(500).fill("dev"), "ops"] });
  assert.equal(expandPattern(pattern, duplicates).alternatives.length, 2, "values are distinct");
  const invalid = withClaims({ groups: [...Array(500).fill("BAD"), "ops"] });
  assert.ok(matches("${claim:groups}/*", "ops/app", invalid), "unusable values take no room");
});

Deno.test("the cap counts the combinations of several templates", () => {
  const values = Array.from({ length: 9 }, (_, i) => `v${i}`);
  const caller = withClaims({ a: values, b: values });
  const expansion = expandPattern(compilePattern("${claim:a}/${claim:b}"), caller);
  assert.equal(expansion.truncated, 81 > MAX_TEMPLATE_ALTERNATIVES);
  assert.equal(expansion.alternatives.length, Math.min(81, MAX_TEMPLATE_ALTERNATIVES));
  // The first template varies slowest: v0/v0, v0/v1, … come first.
  assert.deepEqual(expansion.alternatives[1], ["v0/v1"]);
  assert.ok(matches("${claim:a}/${claim:b}", "v0/v8", caller));
});

Deno.test("a huge claim costs time linear in its size", () => {
  const groups = Array.from({ length: 200_000 }, (_, i) => (i % 2 ? `g${i}` : "NOT VALID"));
  const caller = withClaims({ groups });
  const started = performance.now();
  for (let i = 0; i < 20; i++) matches("${claim:groups}/*", "none/app", caller);
  assert.ok(performance.now() - started < 2_000, "well under a second per expansion");
});

Deno.test("a templated pattern matches nothing without a caller to fill it", () => {
  assert.ok(!matchesPattern(compilePattern("users/${subject}"), "users/ci-bot"));
  assert.ok(!matchesPattern(compilePattern("${claim:team}"), "platform"));
  assert.ok(matchesPattern(compilePattern("users/*"), "users/ci-bot"), "no template, no caller");
});

Deno.test("rejects unterminated, unknown and badly named templates with an Error naming them", () => {
  const cases: [string, RegExp][] = [
    ["users/${subject", /unterminated "\$\{"/],
    ["users/${", /unterminated/],
    ["users/${user}", /unknown template \$\{user\}/],
    ["users/${}", /unknown template \$\{\}/],
    ["users/${Subject}", /unknown template/],
    ["users/${claims:groups}", /unknown template/],
    ["${claim:}/x", /\$\{claim:\}.*must not be empty/],
    ["${claim:/a~2}/x", /not a JSON Pointer/],
    ["${${subject}}", /unknown template \$\{\$\{subject\}/],
  ];
  for (const [pattern, problem] of cases) {
    assert.throws(() => compilePattern(pattern), problem, pattern);
  }
  assert.throws(() => compilePattern(`\${claim:${"a".repeat(MAX_PATTERN_LENGTH)}}`), /at most/);
});

Deno.test("a $ or } outside a template is literal text", () => {
  assert.ok(matches("a$b}c", "a$b}c"));
  assert.ok(matches("$${subject}", "$ci-bot"));
  assert.equal(compilePattern("a$b").templates.length, 0);
});

Deno.test("keeps the pattern as written, and only that is enumerable (what --check shows)", () => {
  const pattern = compilePattern("users/${subject}/*");
  assert.equal(pattern.source, "users/${subject}/*");
  assert.deepEqual(Object.keys(pattern), ["source"]);
  assert.deepEqual(pattern.parts.map((part) => part.kind), ["text", "slot", "text", "wildcard"]);
});
