import assert from "node:assert/strict";

const read = (path: string) => Deno.readTextFile(new URL(`../../${path}`, import.meta.url));

Deno.test("docs/policy-cookbook.md shows etc/policy-cookbook.yaml exactly as the suite tests it", async () => {
  const doc = await read("docs/policy-cookbook.md");
  const block = /```yaml\n([^]*?)```/.exec(doc)?.[1];
  assert.ok(block, "the cookbook has a yaml block");
  assert.equal(block, await read("etc/policy-cookbook.yaml"));
});
