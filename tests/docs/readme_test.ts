import assert from "node:assert/strict";

/** The README's two set-up commands, which a fresh machine with only Node.js and npm can run. */

const ROOT = new URL("../../", import.meta.url);
const README = Deno.readTextFileSync(new URL("README.md", ROOT));

/** The command lines of the README's first shell block (the quick start). */
function quickStart(): string[] {
  const block = README.match(/^```sh\n([\s\S]*?)^```$/m);
  assert.ok(block, "the README has no sh block");
  return block[1].split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line !== "");
}

Deno.test("the README's quick start runs the service and the whole suite with npx", () => {
  const commands = quickStart();
  const test = commands.find((command) => /\btask test$/.test(command));
  assert.deepEqual(commands, [
    commands.find((command) => /\btask dev$/.test(command)),
    test,
  ]);
  for (const command of commands) assert.match(command, /^npx -y deno@\d+\.\d+\.\d+ task \w+$/);
});

Deno.test(".ci/run runs exactly the README's test command", () => {
  const test = quickStart().find((command) => /\btask test$/.test(command));
  const run = Deno.readTextFileSync(new URL(".ci/run", ROOT));
  const exec = run.match(/^exec (.+)$/m);
  assert.ok(exec, ".ci/run has no exec line");
  assert.equal(exec[1].trim(), test);
});
