/** The primary of `Server:Workers`: signal fan-out, restarts on exit 75, exit codes. */

import assert from "node:assert/strict";
import { runPrimary, type WorkerChild } from "../src/workers.ts";
import type { Logger } from "../src/observability/logger.ts";

/** Fake workers whose exit the test decides; every signal they get is recorded. */
function fakeWorld() {
  const handlers = new Map<string, () => void>();
  const spawned: { args: string[]; signals: string[]; exit: (code: number) => void }[] = [];
  const logged: string[] = [];
  const logger: Logger = { log: (_level, message) => logged.push(message) };
  const spawn = (_command: string, args: string[]) => {
    let exit!: (code: number) => void;
    const status = new Promise<{ code: number }>((resolve) => exit = (code) => resolve({ code }));
    const record = { args, signals: [] as string[], exit };
    spawned.push(record);
    const child: WorkerChild = { status, kill: (signal) => record.signals.push(signal) };
    return { pid: 1000 + spawned.length, child };
  };
  return {
    spawned,
    logged,
    signal: (name: string) => handlers.get(name)!(),
    io: {
      logger,
      addSignalListener: (signal: Deno.Signal, handler: () => void) =>
        handlers.set(signal, handler),
      spawn,
    },
  };
}

const command = { command: Deno.execPath(), args: (n: number) => ["--worker", String(n)] };
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("the primary passes SIGHUP and SIGTERM to every worker and exits 0 once all stopped", async () => {
  const world = fakeWorld();
  const exited = runPrimary(3, command, world.io);
  await tick();
  assert.deepEqual(world.spawned.map(({ args }) => args), [
    ["--worker", "1"],
    ["--worker", "2"],
    ["--worker", "3"],
  ]);
  world.signal("SIGHUP");
  world.signal("SIGTERM");
  assert.ok(world.spawned.every(({ signals }) => signals.join() === "SIGHUP,SIGTERM"));
  world.spawned.forEach(({ exit }) => exit(0));
  assert.equal(await exited, 0);
});

Deno.test("a worker that exits 75 is started again; the others keep running", async () => {
  const world = fakeWorld();
  const exited = runPrimary(2, command, world.io);
  await tick();
  world.spawned[0].exit(75);
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(world.spawned.length, 3);
  assert.deepEqual(world.spawned[2].args, ["--worker", "1"]);
  assert.deepEqual(world.spawned[1].signals, []);
  world.signal("SIGTERM");
  world.spawned[1].exit(0);
  world.spawned[2].exit(0);
  assert.equal(await exited, 0);
});

Deno.test("any other exit of a worker stops the others and becomes the primary's exit code", async () => {
  const world = fakeWorld();
  const exited = runPrimary(2, command, world.io);
  await tick();
  world.spawned[1].exit(1);
  await tick();
  assert.deepEqual(world.spawned[0].signals, ["SIGTERM"]);
  world.spawned[0].exit(0);
  assert.equal(await exited, 1);
  assert.equal(world.spawned.length, 2, "nothing restarted");
});

Deno.test("a worker a passed-on SIGHUP ended while starting is started again; the others keep running", async () => {
  const world = fakeWorld();
  const exited = runPrimary(2, command, world.io);
  await tick();
  world.signal("SIGHUP");
  world.spawned[0].exit(129); // no handler yet: the signal's default action
  await tick();
  await tick();
  assert.equal(world.spawned.length, 3, "started again, at once");
  assert.deepEqual(world.spawned[2].args, ["--worker", "1"]);
  assert.deepEqual(world.spawned[1].signals, ["SIGHUP"], "the other one was not stopped");
  assert.ok(world.logged.includes("a reload ended a worker still starting; starting it again"));
  // A 129 without a SIGHUP passed on is a crash like any other.
  world.spawned[2].exit(129);
  await tick();
  assert.deepEqual(world.spawned[1].signals, ["SIGHUP", "SIGTERM"]);
  world.spawned[1].exit(0);
  assert.equal(await exited, 129);
});
