import assert from "node:assert/strict";
import { parseCommandLine } from "../src/cli.ts";

Deno.test("--explain gathers claims, service, every --scope in order and an optional Authority", () => {
  const commandLine = parseCommandLine([
    "--explain",
    "--claims",
    "@claims.json",
    "--service",
    "registry.test",
    "--scope",
    "repository:a:pull",
    "--scope",
    "repository:b:push",
    "--authority",
    "ci",
  ]);
  assert.deepEqual(commandLine.explain, {
    claims: "@claims.json",
    service: "registry.test",
    scopes: ["repository:a:pull", "repository:b:push"],
    authority: "ci",
  });
});

Deno.test("--explain without claims, service or a scope is a usage error naming what is missing", () => {
  const base = ["--explain", "--claims", "{}", "--service", "s", "--scope", "repository:a:pull"];
  assert.throws(() => parseCommandLine(base.filter((_, i) => i !== 1 && i !== 2)), /--claims/);
  assert.throws(() => parseCommandLine(base.filter((_, i) => i !== 3 && i !== 4)), /--service/);
  assert.throws(() => parseCommandLine(base.slice(0, 5)), /--scope/);
});

Deno.test("the --explain inputs alone, or two commands at once, are usage errors", () => {
  assert.throws(() => parseCommandLine(["--scope", "repository:a:pull"]), /only go with --explain/);
  assert.throws(
    () => parseCommandLine(["--check", "--test-policy", "cases.yaml"]),
    /cannot be combined/,
  );
  assert.throws(() => parseCommandLine(["--dev", "--test-policy", "cases.yaml"]), /not --dev/);
});

Deno.test("--test-policy names its cases file", () => {
  assert.equal(
    parseCommandLine(["--test-policy", "etc/policy-tests.yaml"]).testPolicy,
    "etc/policy-tests.yaml",
  );
  assert.equal(parseCommandLine([]).testPolicy, undefined);
  assert.equal(parseCommandLine([]).explain, undefined);
});

Deno.test("--doctor takes the registry's URL and an optional repository", () => {
  assert.deepEqual(
    parseCommandLine(["--doctor", "https://registry.example/", "--repository", "team/app"]).doctor,
    { registry: "https://registry.example/", repository: "team/app" },
  );
  assert.deepEqual(parseCommandLine(["--doctor", "http://127.0.0.1:5000"]).doctor, {
    registry: "http://127.0.0.1:5000/",
    repository: undefined,
  });
  assert.equal(parseCommandLine([]).doctor, undefined);
});

Deno.test("--doctor refuses what is not a registry URL or repository name, and other commands", () => {
  assert.throws(() => parseCommandLine(["--doctor", "registry.example"]), /http\(s\) URL/);
  assert.throws(() => parseCommandLine(["--doctor", "ftp://registry.example"]), /http\(s\) URL/);
  assert.throws(
    () => parseCommandLine(["--doctor", "https://user:secret@registry.example"]),
    /without a user name or password/,
  );
  assert.throws(
    () => parseCommandLine(["--doctor", "https://r.example", "--repository", "Team/App"]),
    /repository name/,
  );
  assert.throws(() => parseCommandLine(["--repository", "team/app"]), /only goes with --doctor/);
  assert.throws(
    () => parseCommandLine(["--check", "--doctor", "https://r.example"]),
    /cannot be combined/,
  );
  assert.throws(() => parseCommandLine(["--dev", "--doctor", "https://r.example"]), /not --dev/);
});
