/** The schema vocabulary: defaults, ranges, choices and required keys, and the schema itself. */

import assert from "node:assert/strict";
import { SERVICE_SCHEMA } from "../../src/config/document.ts";
import {
  choice,
  duration,
  type Entry,
  integer,
  list,
  section,
  settle,
  text,
} from "../../src/config/schema.ts";
import { assertConfigError } from "../support/config.ts";

const EXAMPLE = section({
  doc: "an example",
  fields: {
    Name: text({ required: true, doc: "a name" }),
    Mode: choice({ values: ["fast", "safe"], default: "safe", doc: "a mode" }),
    Count: integer({ default: 5, min: 1, max: 10, unit: "things", doc: "a count" }),
    Wait: duration({ default: 60, min: 1, max: 3600, wholeSeconds: true, doc: "a wait" }),
    Tags: list({ item: text({ doc: "a tag" }), default: ["a"], doc: "tags" }),
    Extra: section({ optional: true, doc: "extra", fields: { On: text({ doc: "on" }) } }),
  },
});

Deno.test("settle fills the defaults of absent keys and leaves an optional section absent", () => {
  assert.deepEqual(settle(EXAMPLE, { Name: "x" }, "Root"), {
    Name: "x",
    Mode: "safe",
    Count: 5,
    Wait: 60,
    Tags: ["a"],
  });
});

Deno.test("settle keeps an explicit empty list instead of the default", () => {
  assert.deepEqual(settle(EXAMPLE, { Name: "x", Tags: [] }, "Root").Tags, []);
});

Deno.test("settle refuses an absent or blank required key, naming its full path", () => {
  assertConfigError(() => settle(EXAMPLE, {}, "Root"), "Root:Name", /is required/);
  assertConfigError(() => settle(EXAMPLE, { Name: "  " }, "Root"), "Root:Name", /is required/);
});

Deno.test("settle refuses values outside the declared range and names the bounds", () => {
  assertConfigError(
    () => settle(EXAMPLE, { Name: "x", Count: 11 }, "Root"),
    "Root:Count",
    /must be 1\.\.10, got 11/,
  );
  assertConfigError(
    () => settle(EXAMPLE, { Name: "x", Wait: 7200 }, "Root"),
    "Root:Wait",
    /must be between 1s and 1h, got 7200s/,
  );
  assertConfigError(
    () => settle(EXAMPLE, { Name: "x", Wait: 1.5 }, "Root"),
    "Root:Wait",
    /must be whole seconds, got 1.5s/,
  );
});

Deno.test("settle matches a choice without regard to letter case and lists the choices", () => {
  assert.equal(settle(EXAMPLE, { Name: "x", Mode: "FAST" }, "Root").Mode, "fast");
  assertConfigError(
    () => settle(EXAMPLE, { Name: "x", Mode: "slow" }, "Root"),
    "Root:Mode",
    /must be fast or safe, got "slow"/,
  );
});

/** Every entry of the schema with its colon path. */
function* entries(entry: Entry, path: string): Generator<[string, Entry]> {
  yield [path, entry];
  if (entry.kind === "section") {
    for (const [key, field] of Object.entries(entry.fields)) {
      yield* entries(field, path ? `${path}:${key}` : key);
    }
  }
  if (entry.kind === "list") yield* entries(entry.item, `${path}:<n>`);
}

Deno.test("every configuration key says what it means", () => {
  for (const [path, entry] of entries(SERVICE_SCHEMA, "")) {
    assert.ok(entry.doc.trim().length > 3, `${path || "(root)"} has a doc`);
  }
});

Deno.test("every configuration default lies within its own range", () => {
  for (const [path, entry] of entries(SERVICE_SCHEMA, "")) {
    if (entry.kind === "integer" && typeof entry.default === "string") {
      assert.ok(entry.words?.includes(entry.default), `${path} default word`);
    }
    if (
      (entry.kind === "integer" || entry.kind === "duration") && typeof entry.default === "number"
    ) {
      assert.ok(entry.min <= entry.default && entry.default <= entry.max, `${path} default`);
    }
    if (entry.kind === "choice" && entry.default !== undefined) {
      assert.ok(entry.values.includes(entry.default), path);
    }
  }
});

Deno.test("an integer with words takes a number in range or one of its words, in any case", () => {
  const COUNTED = section({
    doc: "counted",
    fields: {
      N: integer({ default: 1, min: 1, max: 4, unit: "things", words: ["auto"], doc: "n" }),
    },
  });
  assert.deepEqual(settle(COUNTED, {}, "Root"), { N: 1 });
  assert.deepEqual(settle(COUNTED, { N: 3 }, "Root"), { N: 3 });
  assert.deepEqual(settle(COUNTED, { N: "AUTO" }, "Root"), { N: "auto" });
  assertConfigError(() => settle(COUNTED, { N: 5 }, "Root"), "Root:N", /must be 1\.\.4, got 5/);
  assertConfigError(
    () => settle(COUNTED, { N: "many" }, "Root"),
    "Root:N",
    /must be 1\.\.4 or auto, got "many"/,
  );
});
