import assert from "node:assert/strict";
import { compilePattern, matchesPattern, MAX_PATTERN_LENGTH } from "../../src/authz/pattern.ts";

function matches(pattern: string, name: string): boolean {
  return matchesPattern(compilePattern(pattern), name);
}

Deno.test("matches a pattern without wildcards only against the identical name", () => {
  assert.ok(matches("acme/app", "acme/app"));
  assert.ok(!matches("acme/app", "acme/ap"));
  assert.ok(!matches("acme/app", "acme/apps"));
  assert.ok(!matches("acme/app", "xacme/app"));
});

Deno.test("treats regex metacharacters as literals", () => {
  assert.ok(matches("foo.bar", "foo.bar"));
  assert.ok(!matches("foo.bar", "fooxbar"));
  assert.ok(matches("a+b", "a+b"));
  assert.ok(!matches("a+b", "ab"));
  assert.ok(!matches("a+b", "aab"));
  assert.ok(!matches("a?b", "ab"));
  assert.ok(!matches("a?b", "axb"));
  assert.ok(!matches("(ab)|c", "c"));
  assert.ok(!matches("[ab]", "a"));
  assert.ok(!matches("^a$", "a"));
  assert.ok(!matches("a{2}", "aa"));
  assert.ok(!matches("\\w", "w"));
  assert.ok(matches("\\w", "\\w"));
});

Deno.test("lets * match any run of characters including slashes", () => {
  assert.ok(matches("acme/*", "acme/app"));
  assert.ok(matches("acme/*", "acme/team/app/nested"));
  assert.ok(matches("*/app", "a/b/c/app"));
  assert.ok(matches("*", "anything/at/all"));
  assert.ok(matches("localhost:5000/*", "localhost:5000/foo/bar"));
});

Deno.test("lets * match the empty run", () => {
  assert.ok(matches("acme*", "acme"));
  assert.ok(matches("*acme", "acme"));
  assert.ok(matches("a**b", "ab"));
  assert.ok(matches("*", ""));
});

Deno.test("anchors patterns at both ends", () => {
  assert.ok(!matches("acme/*", "acme"));
  assert.ok(!matches("acme/*", "acmex/app"));
  assert.ok(!matches("acme/*", "other/acme/app"));
  assert.ok(!matches("*/app", "acme/apps"));
  assert.ok(!matches("a*b", "ab/c"));
});

Deno.test("matches several wildcards with backtracking", () => {
  assert.ok(matches("a*b*c", "axxbyyc"));
  assert.ok(matches("a*b*c", "abbbcbc"));
  assert.ok(matches("*ab*ab", "xabyabab"));
  assert.ok(!matches("a*b*c", "axxbyy"));
  assert.ok(!matches("a*b*c", "acb"));
});

Deno.test("handles pathological pattern and name pairs without exponential blowup", () => {
  const name = "a".repeat(10_000);
  assert.ok(!matches(`${"*a".repeat(20)}*b`, name));
  assert.ok(matches(`${"*a".repeat(20)}*`, name));
  assert.ok(!matches("*".repeat(MAX_PATTERN_LENGTH - 1) + "b", name));
  assert.ok(matches("*".repeat(MAX_PATTERN_LENGTH), name));
});

Deno.test("rejects empty, whitespace-containing and overlong patterns with an Error", () => {
  for (const pattern of ["", " ", "foo bar", "foo\t", "\nfoo", "foo\u00a0bar"]) {
    assert.throws(() => compilePattern(pattern), Error, JSON.stringify(pattern));
  }
  assert.throws(() => compilePattern("a".repeat(MAX_PATTERN_LENGTH + 1)), /at most 255/);
  assert.equal(compilePattern("a".repeat(MAX_PATTERN_LENGTH)).source.length, MAX_PATTERN_LENGTH);
});

Deno.test("keeps the pattern source as written", () => {
  assert.equal(compilePattern("acme/*").source, "acme/*");
});
