/** The configuration reference in docs/configuration.md is the one the schema renders. */

import assert from "node:assert/strict";
import {
  configurationReference,
  REFERENCE_END,
  REFERENCE_START,
} from "../../src/config/reference.ts";

const DOC = new URL("../../docs/configuration.md", import.meta.url);

/** Table rows as trimmed cells, so `deno fmt`'s column padding does not count. */
function cells(table: string): string[][] {
  return table.split("\n").filter((line) => line.startsWith("|")).map((line) =>
    line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/^-+$/, "---"))
  );
}

Deno.test("docs/configuration.md carries the reference the schema renders (run deno task docs)", async () => {
  const text = await Deno.readTextFile(DOC);
  const start = text.indexOf(REFERENCE_START);
  const end = text.indexOf(REFERENCE_END);
  assert.ok(start >= 0 && end > start, "the reference markers are in docs/configuration.md");
  assert.deepEqual(
    cells(text.slice(start + REFERENCE_START.length, end)),
    cells(configurationReference()),
  );
});

Deno.test("the configuration reference has a row for every key a config file may set", () => {
  const keys = cells(configurationReference()).slice(2).map(([key]) => key);
  for (
    const key of [
      "`Server:Port`",
      "`Server:Tls:ClientCaPath`",
      "`Authority:DPoP:ReplayCacheSize`",
      "`Signing:PublishedKeys:<n>:Until`",
      "`Plans:<n>:Repositories:<n>:Pattern`",
      "`PartialGrants`",
    ]
  ) {
    assert.ok(keys.includes(key), `${key} is documented`);
  }
});
