import assert from "node:assert/strict";
import type { Denial } from "../../src/denial.ts";
import {
  formatScope,
  MAX_NAME_LENGTH,
  MAX_SCOPES,
  parseScopes,
  type ResourceScope,
} from "../../src/authz/scope.ts";
import { assertDeniedSync } from "../support/denial.ts";

/** `parseScopes(values)` is refused as `scope_invalid`. */
function assertScopeInvalid(values: readonly string[]): Denial {
  return assertDeniedSync(() => parseScopes(values), "scope_invalid", JSON.stringify(values));
}

function repository(name: string, ...actions: string[]): ResourceScope {
  return { type: "repository", name, actions };
}

Deno.test("parses a repository scope with several actions", () => {
  assert.deepEqual(parseScopes(["repository:samalba/my-app:pull,push"]), [
    repository("samalba/my-app", "pull", "push"),
  ]);
});

Deno.test("treats no scope, empty and blank values as requesting nothing", () => {
  assert.deepEqual(parseScopes([]), []);
  assert.deepEqual(parseScopes(["", " ", "  \t ", "\r\n"]), []);
});

Deno.test("drops the resource class so repository(plugin) is a repository", () => {
  assert.deepEqual(parseScopes(["repository(plugin):foo/bar:pull"]), [
    repository("foo/bar", "pull"),
  ]);
});

Deno.test("keeps a host and port inside the resource name", () => {
  assert.deepEqual(parseScopes(["repository:localhost:5000/foo/bar:pull"]), [
    repository("localhost:5000/foo/bar", "pull"),
  ]);
  assert.deepEqual(parseScopes(["repository:registry.example.com:443/a/b:*"]), [
    repository("registry.example.com:443/a/b", "*"),
  ]);
});

Deno.test("accepts bracketed IPv6 hosts and mixed-case domains as the reference grammar does", () => {
  assert.deepEqual(parseScopes(["repository:[::1]:5000/foo:pull"]), [
    repository("[::1]:5000/foo", "pull"),
  ]);
  assert.deepEqual(parseScopes(["repository:[2001:DB8::1]/foo:pull"]), [
    repository("[2001:DB8::1]/foo", "pull"),
  ]);
  assert.deepEqual(parseScopes(["repository:Registry.Example.com/foo:pull"]), [
    repository("Registry.Example.com/foo", "pull"),
  ]);
});

Deno.test("accepts every separator the reference grammar allows in path components", () => {
  const name = "a.b_c__d-e---f/0x9/single";
  assert.deepEqual(parseScopes([`repository:${name}:pull`]), [repository(name, "pull")]);
});

Deno.test("accepts a name of exactly the maximum length, domain included", () => {
  const name = `example.com/${"a".repeat(MAX_NAME_LENGTH - "example.com/".length)}`;
  assert.equal(name.length, MAX_NAME_LENGTH);
  assert.deepEqual(parseScopes([`repository:${name}:pull`]), [repository(name, "pull")]);
});

Deno.test("splits space-separated scopes within a value and across values", () => {
  assert.deepEqual(
    parseScopes(["repository:a/b:pull  repository:c/d:push", " registry:catalog:* "]),
    [
      repository("a/b", "pull"),
      repository("c/d", "push"),
      { type: "registry", name: "catalog", actions: ["*"] },
    ],
  );
});

Deno.test("merges repeated scopes into the union of actions in order of first appearance", () => {
  assert.deepEqual(
    parseScopes([
      "repository:a/b:pull",
      "repository:c/d:pull",
      "repository:a/b:push,pull repository(plugin):a/b:delete,push",
    ]),
    [repository("a/b", "pull", "push", "delete"), repository("c/d", "pull")],
  );
});

Deno.test("removes duplicate actions within one scope, keeping their order", () => {
  assert.deepEqual(parseScopes(["repository:a:push,pull,push,pull"]), [
    repository("a", "push", "pull"),
  ]);
});

Deno.test("returns other resource types as-is for the plan to decide", () => {
  assert.deepEqual(parseScopes(["registry:catalog:*", "registry(admin):catalog:read"]), [
    { type: "registry", name: "catalog", actions: ["*", "read"] },
  ]);
});

Deno.test("rejects malformed scopes with scope_invalid", async (t) => {
  const cases: Record<string, string> = {
    "missing actions": "repository:foo/bar",
    "missing name and actions": "repository",
    "empty action list": "repository:foo/bar:",
    "empty action at the end": "repository:foo/bar:pull,",
    "empty action at the start": "repository:foo/bar:,pull",
    "empty action in the middle": "repository:foo/bar:pull,,push",
    "uppercase action": "repository:foo/bar:PULL",
    "action with punctuation": "repository:foo/bar:pu-ll",
    "double wildcard action": "repository:foo/bar:**",
    "empty name": "repository::pull",
    "uppercase path component": "repository:foo/Bar:pull",
    "uppercase single component": "repository:Samalba:pull",
    "dot-dot component": "repository:foo/../bar:pull",
    "double dot separator": "repository:foo/a..b:pull",
    "percent-encoded slash": "repository:foo%2Fbar:pull",
    "trailing slash": "repository:foo/bar/:pull",
    "leading slash": "repository:/foo:pull",
    "empty component": "repository:foo//bar:pull",
    "triple underscore": "repository:foo/a___b:pull",
    "mixed separators": "repository:foo/a._b:pull",
    "leading separator": "repository:foo/-a:pull",
    "trailing separator": "repository:foo/a-:pull",
    "tag in name": "repository:foo/bar:latest:pull",
    "digest in name": `repository:foo/bar@sha256:${"0".repeat(64)}:pull`,
    "cyrillic look-alike letter": "repository:s\u0430malba/app:pull",
    "fullwidth solidus": "repository:foo\uff0fbar:pull",
    "zero-width space": "repository:foo\u200b/bar:pull",
    "non-breaking space separator": "repository:a:pull\u00a0repository:b:pull",
    "kelvin sign": "repository:foo/\u212a:pull",
    "empty port": "repository:localhost:/foo:pull",
    "non-numeric port": "repository:localhost:50a/foo:pull",
    "host starting with a dash": "repository:-bad.com/foo:pull",
    "host with an empty label": "repository:bad..com/foo:pull",
    "host without a path": "repository:localhost:5000:pull",
    "unclosed IPv6 bracket": "repository:[::1/foo:pull",
    "empty IPv6 brackets": "repository:[]/foo:pull",
    "junk after IPv6 brackets": "repository:[::1]x/foo:pull",
    "name longer than 255": `repository:${"a".repeat(MAX_NAME_LENGTH + 1)}:pull`,
    "name longer than 255 with domain": `repository:example.com/${"a".repeat(250)}:pull`,
    "empty type": ":foo/bar:pull",
    "uppercase type": "Repository:foo/bar:pull",
    "type with punctuation": "repo_sitory:foo/bar:pull",
    "empty class": "repository():foo/bar:pull",
    "uppercase class": "repository(Plugin):foo/bar:pull",
    "unclosed class": "repository(plugin:foo/bar:pull",
    "two classes": "repository(a)(b):foo/bar:pull",
    "invalid name for another type": "registry:Cat alog:*",
  };
  for (const [behaviour, scope] of Object.entries(cases)) {
    await t.step(behaviour, () => {
      assertScopeInvalid([scope]);
    });
  }
});

Deno.test("names the offending scope in the message", () => {
  const denial = assertScopeInvalid(["repository:ok/one:pull repository:foo/Bar:pull"]);
  assert.match(denial.message, /"repository:foo\/Bar:pull"/);
  assert.match(denial.message, /lowercase/);
});

Deno.test("truncates long offending scopes in the message", () => {
  const denial = assertScopeInvalid([`repository:${"a".repeat(300)}!:pull`]);
  assert.ok(denial.message.length < 200, denial.message);
  assert.match(denial.message, /^invalid scope "repository:a+…"/);
});

Deno.test("escapes control characters of the offending scope in the message", () => {
  const denial = assertScopeInvalid(["repository:foo\u0000bar:pull"]);
  assert.ok(denial.message.includes("\\u0000"), denial.message);
});

Deno.test("caps the number of scopes per request", () => {
  const scopes = Array.from({ length: MAX_SCOPES }, (_, i) => `repository:r${i}:pull`);
  assert.equal(parseScopes(scopes).length, MAX_SCOPES);
  const denial = assertScopeInvalid([...scopes, "repository:one-more:pull"]);
  assert.match(denial.message, /too many scopes/);
});

Deno.test("counts repeated scopes towards the cap before merging", () => {
  assertScopeInvalid([Array(MAX_SCOPES + 1).fill("repository:a:pull").join(" ")]);
});

Deno.test("rejects pathological input without catastrophic backtracking", () => {
  assertScopeInvalid([`repository:a${"-".repeat(10_000)}!:pull`]);
  assertScopeInvalid([`a${"-".repeat(10_000)}!`]);
  // Within every length limit, so these reach the name scanner itself.
  assertScopeInvalid([`repository:${"a".repeat(250)}!:pull`]);
  assertScopeInvalid([`repository:${"a-".repeat(120)}!:pull`]);
  assertScopeInvalid([`repository:${"a_".repeat(120)}_:pull`]);
  assertScopeInvalid([`repository:${"a.".repeat(120)}.:pull`]);
  assertScopeInvalid([`repository:${"a".repeat(120)}.${"A".repeat(120)}:pull`]);
  assertScopeInvalid([`repository:${"a-".repeat(60)}a.com:${"9".repeat(100)}x/a:pull`]);
  assert.deepEqual(parseScopes([" ".repeat(100_000)]), []);
});

Deno.test("formats a scope as type:name:actions", () => {
  assert.equal(
    formatScope(repository("localhost:5000/foo", "pull", "push")),
    "repository:localhost:5000/foo:pull,push",
  );
});
