import assert from "node:assert/strict";
import { parseDuration } from "../../src/config/duration.ts";

function assertRejected(value: string | number, pattern: RegExp = /is not a duration/) {
  assert.throws(() => parseDuration(value), pattern, `expected ${JSON.stringify(value)} to fail`);
}

Deno.test("parseDuration reads a plain number of seconds, given as number or text", () => {
  assert.equal(parseDuration(300), 300);
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(1.5), 1.5);
  assert.equal(parseDuration("300"), 300);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("2.5"), 2.5);
  assert.equal(parseDuration("  60  "), 60);
});

Deno.test("parseDuration reads .NET TimeSpan text hh:mm:ss", () => {
  assert.equal(parseDuration("00:05:00"), 300);
  assert.equal(parseDuration("00:00:01"), 1);
  assert.equal(parseDuration("01:00:00"), 3600);
  assert.equal(parseDuration("1:2:3"), 3723);
  assert.equal(parseDuration("00:59:59"), 3599);
});

Deno.test("parseDuration reads TimeSpan days and fractional seconds", () => {
  assert.equal(parseDuration("1.00:00:00"), 86400);
  assert.equal(parseDuration("2.01:00:30"), 2 * 86400 + 3600 + 30);
  assert.equal(parseDuration("00:00:01.5"), 1.5);
  assert.equal(parseDuration("00:00:00.250"), 0.25);
  assert.equal(parseDuration("00:00:00.0000001"), 0.0000001);
});

Deno.test("parseDuration rejects TimeSpan minutes or seconds above 59", () => {
  assertRejected("00:60:00", /minutes and seconds go up to 59/);
  assertRejected("00:00:60", /minutes and seconds go up to 59/);
});

Deno.test("parseDuration reads Go-style durations with h, m, s and ms units", () => {
  assert.equal(parseDuration("5m"), 300);
  assert.equal(parseDuration("90s"), 90);
  assert.equal(parseDuration("1h"), 3600);
  assert.equal(parseDuration("250ms"), 0.25);
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("1m30s"), 90);
  assert.equal(parseDuration("1h2m3s500ms"), 3723.5);
});

Deno.test("parseDuration reads fractional Go-style amounts", () => {
  assert.equal(parseDuration("1.5m"), 90);
  assert.equal(parseDuration("0.5h"), 1800);
  assert.equal(parseDuration("2.5s"), 2.5);
});

Deno.test("parseDuration rejects text that is none of the accepted forms", () => {
  for (
    const value of [
      "",
      "   ",
      "five minutes",
      "5 m",
      "5min",
      "5d",
      "m5",
      "-5m",
      "-1",
      "1e3",
      "5m-",
      "00:05",
      ":05:00",
      "00:05:00.",
      "00:05:00.12345678",
      "abc:00:00",
      ".5",
    ]
  ) {
    assertRejected(value);
  }
});

Deno.test("parseDuration's error message lists the accepted forms", () => {
  assert.throws(
    () => parseDuration("soon"),
    (error: Error) =>
      error.message.includes('"soon"') && error.message.includes("300") &&
      error.message.includes("5m") && error.message.includes("00:05:00"),
  );
});

Deno.test("parseDuration rejects negative and non-finite numbers", () => {
  for (const value of [-1, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => parseDuration(value), /non-negative number of seconds/);
  }
});
