import assert from "node:assert/strict";
import { createLogger, createLogWriter } from "../../src/observability/logger.ts";

const decoder = new TextDecoder();

/** A sink that records what it was given and fails as `failures` says, write by write. */
function sink(failures: (Error | undefined)[] = []) {
  const written: string[] = [];
  return {
    written,
    write(bytes: Uint8Array) {
      const failure = failures.shift();
      if (failure) return Promise.reject(failure);
      written.push(decoder.decode(bytes));
      return Promise.resolve(bytes.length);
    },
  };
}

Deno.test("a passing write error loses that batch only; later lines are written", async () => {
  const target = sink([new Error("EAGAIN")]);
  let dropped = 0;
  const writer = createLogWriter(target, (count) => dropped += count);
  writer.write("first");
  await writer.flush(1000);
  writer.write("second");
  await writer.flush(1000);
  assert.equal(dropped, 1);
  assert.match(target.written.join(""), /second/);
  assert.match(target.written.join(""), /"dropped":1/, "a line says how many were lost");
});

Deno.test("a closed stdout stops the writing for good and never throws", async () => {
  const target = sink([new Deno.errors.BrokenPipe("gone")]);
  let dropped = 0;
  const writer = createLogWriter(target, (count) => dropped += count);
  for (let i = 0; i < 5; i++) writer.write(`line ${i}`);
  await writer.flush(1000);
  writer.write("after");
  await writer.flush(1000);
  assert.deepEqual(target.written, []);
  assert.equal(dropped, 6);
});

Deno.test("a stalled stdout queues up to the bound, then drops and counts, without blocking", async () => {
  let release = () => {};
  const stalled = {
    write: (bytes: Uint8Array) =>
      new Promise<number>((resolve) => release = () => resolve(bytes.length)),
  };
  let dropped = 0;
  const writer = createLogWriter(stalled, (count) => dropped += count, 100);
  for (let i = 0; i < 20; i++) writer.write("x".repeat(20));
  assert.ok(dropped >= 15, `dropped ${dropped}`);
  release();
  await writer.flush(100);
});

Deno.test("with a write size cap (workers sharing stdout) a batch goes out in whole lines within it", async () => {
  const target = sink();
  const writer = createLogWriter(target, () => {}, undefined, 100);
  const lines = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(30, "x"));
  lines.forEach((line) => writer.write(line));
  await writer.flush(1000);
  assert.equal(target.written.join(""), `${lines.join("\n")}\n`);
  for (const chunk of target.written) {
    assert.ok(chunk.length <= 100, `${chunk.length} bytes`);
    assert.ok(chunk.endsWith("\n"), "whole lines only");
  }
  assert.ok(target.written.length >= 4);
});

Deno.test("every record of a worker's logger carries its worker number", () => {
  const lines: string[] = [];
  createLogger((line) => lines.push(line), () => new Date(0), { worker: 2 }).log(
    "info",
    "request",
    {
      status: 200,
    },
  );
  const record = JSON.parse(lines[0]);
  assert.equal(record.worker, 2);
  assert.equal(record.msg, "request");
  assert.equal(record.status, 200);
});

Deno.test("the write size cap counts UTF-8 bytes, not characters", async () => {
  const target = sink();
  const writer = createLogWriter(target, () => {}, undefined, 100);
  // 40 characters, 80 bytes each: two of them would fit by characters but not by bytes.
  const lines = ["é".repeat(40), "é".repeat(40), "é".repeat(40)];
  lines.forEach((line) => writer.write(line));
  await writer.flush(1000);
  assert.equal(target.written.length, 3);
  assert.ok(target.written.every((chunk) => new TextEncoder().encode(chunk).length <= 100));
});
