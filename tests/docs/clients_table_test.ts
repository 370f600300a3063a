import assert from "node:assert/strict";
import { type ClientName, OBSERVED } from "../support/client_messages.ts";

const REGISTRY_DOC = await Deno.readTextFile(new URL("../../docs/registry.md", import.meta.url));

/** The row of docs/registry.md's "What clients show" table whose first cell names `client`. */
function rowOf(client: ClientName): string {
  const section = REGISTRY_DOC.slice(REGISTRY_DOC.indexOf("## What clients show"));
  const row = section.split("\n").find((line) =>
    line.startsWith("|") && line.split("|")[1].includes(`\`${client}\``)
  );
  assert.ok(row, `docs/registry.md's client table has no row for ${client}`);
  return row;
}

Deno.test("docs/registry.md's client table shows what the clients test observed", () => {
  for (
    const [client, situations] of Object.entries(OBSERVED) as [
      ClientName,
      typeof OBSERVED[ClientName],
    ][]
  ) {
    const row = rowOf(client);
    for (const [situation, { shows }] of Object.entries(situations)) {
      for (const line of shows.split("\n")) {
        assert.ok(row.includes(line), `${client}, ${situation}: the table lacks ${line}`);
      }
    }
  }
});
