/**
 * `deno task start --explain` and `--test-policy` as operators run them: through the launcher,
 * under its permission set, against the cookbook configuration in `etc/`.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ALICE, COOKBOOK_PATH } from "../support/cookbook.ts";
import { LAUNCHER, startTaskFlags } from "../support/process.ts";

const ETC = fileURLToPath(new URL("../../etc/", import.meta.url));

/** Runs the launcher in `cwd` (where `@FILE` and relative paths are read) to completion. */
async function start(args: string[], cwd = Deno.cwd()) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...startTaskFlags(), LAUNCHER, "--config", COOKBOOK_PATH, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
    cwd,
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("--explain reads @FILE from the working directory and names the rule of each decision", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/alice.json`, JSON.stringify(ALICE));
  const result = await start([
    "--explain",
    "--claims",
    "@alice.json",
    "--service",
    "registry.example.internal",
    "--scope",
    "repository:users/alice/tools:pull,push",
    "--scope",
    "repository:teams/payments/releases/api:push",
  ], dir);
  assert.equal(result.code, 3, result.stderr);
  assert.deepEqual(result.stdout.trim().split("\n"), [
    "authority idp, subject alice, plan developer",
    'repository:users/alice/tools pull: granted by plan "developer" rule 0 ("users/${subject}/*")',
    'repository:users/alice/tools push: granted by plan "developer" rule 0 ("users/${subject}/*")',
    'repository:teams/payments/releases/api push: denied by plan "developer" deny rule 4 ("teams/*/releases/*")',
  ]);
});

Deno.test("--explain exits 0 when everything is granted and 3 for a refusal before any rule", async () => {
  const args = (claims: unknown) => [
    "--explain",
    "--claims",
    JSON.stringify(claims),
    "--service",
    "registry.example.internal",
    "--scope",
    "repository:users/alice/tools:pull",
  ];
  const granted = await start(args(ALICE));
  assert.equal(granted.code, 0, granted.stdout + granted.stderr);
  const stranger = await start(args({ ...ALICE, iss: "https://evil.example" }));
  assert.equal(stranger.code, 3);
  assert.match(stranger.stdout, /^refused \(issuer_unknown\): /m);
});

Deno.test("--explain with bad claims or flags is a usage error (exit 2, one line)", async () => {
  const notJson = await start([
    "--explain",
    "--claims",
    "{nope",
    "--service",
    "s",
    "--scope",
    "repository:a:pull",
  ]);
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr.trim(), /^config error: --claims: is not JSON/);
  const noScope = await start(["--explain", "--claims", "{}", "--service", "s"]);
  assert.equal(noScope.code, 2);
  assert.match(noScope.stderr, /--explain needs --scope/);
});

Deno.test("--test-policy passes the cookbook's own cases and exits 0", async () => {
  const result = await start(["--test-policy", `${ETC}policy-tests.yaml`]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.ok(lines.slice(0, -1).every((line) => line.startsWith("ok   ")), result.stdout);
  assert.match(lines.at(-1)!, /^\d+ passed, 0 failed$/);
});

Deno.test("--test-policy prints FAIL with expected and decided, and exits 3", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/cases.yaml`,
    `- Name: alice hopes to push to bob's namespace
  Claims: ${JSON.stringify(ALICE)}
  Service: registry.example.internal
  Scope: repository:users/bob/tools:pull,push
  Expect: [pull, push]
- Name: alice pulls anything
  Claims: ${JSON.stringify(ALICE)}
  Service: registry.example.internal
  Scope: repository:users/bob/tools:pull
  Expect: [pull]
`,
  );
  const result = await start(["--test-policy", "cases.yaml"], dir);
  assert.equal(result.code, 3, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.equal(
    lines[0],
    "FAIL alice hopes to push to bob's namespace: expected [pull, push], decided []",
  );
  assert.ok(
    lines.some((line) => /push: denied: no allow rule matched in plan "developer"/.test(line)),
  );
  assert.ok(lines.includes("ok   alice pulls anything"));
  assert.equal(lines.at(-1), "1 passed, 1 failed");
});
