import assert from "node:assert/strict";
import { DENIAL_REASONS, type DenialReason } from "../../src/denial.ts";

const API_DOC = await Deno.readTextFile(new URL("../../docs/api.md", import.meta.url));

/** The rows of docs/api.md's reason table: statuses, registry code, reasons named. */
function reasonRows() {
  return API_DOC.split("\n")
    .filter((line) => /^\| [\d, ]+\| `[A-Z_]+` +\|/.test(line))
    .map((line) => {
      const [statuses, code, reasons] = line.split("|").slice(1, 4).map((cell) => cell.trim());
      return {
        statuses: statuses.split(",").map((status) => Number(status)),
        code: code.replaceAll("`", ""),
        reasons: [...reasons.matchAll(/`([a-z]+(?:_[a-z0-9]+)+)`/g)].map((match) => match[1]),
      };
    });
}

Deno.test("docs/api.md's reason table names every denial reason once, with its status and code", () => {
  const rows = reasonRows();
  assert.ok(rows.length >= 5, "the reason table was not found");
  const documented = rows.flatMap((row) => row.reasons);
  for (const reason of documented) {
    assert.ok(reason in DENIAL_REASONS, `docs/api.md names an unknown reason ${reason}`);
  }
  assert.deepEqual(
    [...documented].sort(),
    Object.keys(DENIAL_REASONS).sort(),
    "every reason appears exactly once",
  );
  for (const row of rows) {
    for (const reason of row.reasons) {
      const { status, code } = DENIAL_REASONS[reason as DenialReason];
      assert.ok(
        row.statuses.includes(status),
        `${reason} is ${status}, docs/api.md says ${row.statuses}`,
      );
      assert.equal(code, row.code, `${reason}'s code`);
    }
  }
});

Deno.test("docs/api.md names exactly the reasons whose row sends Retry-After", () => {
  const sentence = API_DOC.match(/^`\d{3} [a-z_]+`(?: and `\d{3} [a-z_]+`)* carry `Retry-After`/m);
  assert.ok(sentence, "the Retry-After sentence was not found");
  const named = [...sentence[0].matchAll(/`\d{3} ([a-z_]+)`/g)].map((match) => match[1]);
  const declared = Object.entries(DENIAL_REASONS)
    .filter(([, row]) => row.retryAfter)
    .map(([reason]) => reason);
  assert.deepEqual(named.sort(), declared.sort());
});
