import assert from "node:assert/strict";
import { ConfigError } from "../src/config/error.ts";
import { EXIT_RESTART } from "../src/exit_codes.ts";
import { createTokenMetrics } from "../src/observability/metrics.ts";
import { createService, type Service } from "../src/service.ts";
import {
  type LoadedService,
  supervise,
  type SupervisedSignal,
  type Supervision,
  type SupervisorIo,
} from "../src/supervisor.ts";
import { createTestAuthority, NOW } from "./support/authority.ts";
import { testOptions } from "./support/service.ts";

const authority = await createTestAuthority();
const JWKS = new TextEncoder().encode(JSON.stringify(authority.jwks));

/** A process for the supervisor: signals sent by the test, a listener that never binds. */
function fakeProcess() {
  const events: string[] = [];
  const handlers = new Map<SupervisedSignal, (() => void)[]>();
  const { promise: failed, resolve: fail } = Promise.withResolvers<string>();
  const io: SupervisorIo = {
    logger: {
      log: (_level, message) => {
        const armed = ["SIGHUP", "SIGTERM", "SIGINT"].filter((name) =>
          handlers.has(name as SupervisedSignal)
        );
        events.push(message === "listening" ? `listening (${armed.join(" ")})` : message);
      },
    },
    listen: () =>
      Promise.resolve({
        hostname: "127.0.0.1",
        port: 5001,
        shutdown: () => Promise.resolve(void events.push("drained")),
        failed,
      }),
    watchFiles: () => {
      throw new Error("Server:ReloadOnChange is off");
    },
    addSignalListener: (signal, handler) =>
      handlers.set(signal, [...handlers.get(signal) ?? [], handler]),
  };
  const signal = (name: SupervisedSignal) => handlers.get(name)?.forEach((handler) => handler());
  return { io, events, signal, fail };
}

/** A service for `patch` (a reload of `previous`) whose `close` calls end up in `events`. */
async function service(
  name: string,
  events: string[],
  patch: Record<string, unknown> = {},
  previous?: Service,
): Promise<LoadedService> {
  const built = await createService(testOptions(authority, patch), {
    readFile: (path) => path.startsWith("memory:") ? Promise.resolve(JWKS) : Deno.readFile(path),
    fetch: () => Promise.reject(new Error("tests must not reach the network")),
    now: () => NOW,
    randomId: () => crypto.randomUUID(),
    logger: { log: () => {} },
    metrics: createTokenMetrics(),
  }, previous);
  const close = (successor?: Service) => {
    events.push(successor ? `${name} closed, handing on` : `${name} closed`);
    return built.close(successor);
  };
  return { service: { ...built, close } };
}

/** Resolves once `events` holds `event`. */
async function until(events: string[], event: string): Promise<void> {
  while (!events.includes(event)) await new Promise((resolve) => setTimeout(resolve, 1));
}

Deno.test("a stop drains, then closes the service, then says it stopped", async () => {
  const { io, events, signal } = fakeProcess();
  const running = supervise(await service("first", events), {}, io);
  await until(events, "listening (SIGHUP SIGTERM SIGINT)");
  signal("SIGTERM");
  assert.equal(await running, 0);
  assert.deepEqual(events, [
    "listening (SIGHUP SIGTERM SIGINT)",
    "drained",
    "first closed",
    "stopped",
  ]);
});

Deno.test("a reload closes the service it replaced once the successor serves", async () => {
  const { io, events, signal } = fakeProcess();
  const first = await service("first", events);
  const supervision: Supervision = {
    reload: (previous) => service("second", events, { DefaultPlan: "ci" }, previous),
  };
  const running = supervise(first, supervision, io);
  await until(events, "listening (SIGHUP SIGTERM SIGINT)");
  signal("SIGHUP");
  await until(events, "first closed, handing on");
  signal("SIGINT");
  assert.equal(await running, 0);
  assert.deepEqual(events, [
    "listening (SIGHUP SIGTERM SIGINT)",
    "reloaded",
    "first closed, handing on",
    "drained",
    "second closed",
    "stopped",
  ]);
});

Deno.test("a reload that changes Telemetry says the push keeps its settings until a restart", async () => {
  const { io, events, signal } = fakeProcess();
  const first = await service("first", events);
  const telemetry = { Telemetry: { OtlpEndpoint: "http://127.0.0.1:4318/v1/metrics" } };
  const running = supervise(first, {
    reload: (previous) => service("second", events, telemetry, previous),
  }, io);
  await until(events, "listening (SIGHUP SIGTERM SIGINT)");
  signal("SIGHUP");
  await until(events, "first closed, handing on");
  signal("SIGTERM");
  assert.equal(await running, 0);
  assert.ok(events.includes("Telemetry changes take effect only after a restart"), events.join());
});

Deno.test("a failed reload closes nothing and the running service keeps serving", async () => {
  const { io, events, signal } = fakeProcess();
  const supervision: Supervision = {
    reload: () => Promise.reject(new ConfigError("RegistryTokenService:Signing:KeyPath", "gone")),
  };
  const running = supervise(await service("first", events), supervision, io);
  await until(events, "listening (SIGHUP SIGTERM SIGINT)");
  signal("SIGHUP");
  const failed = "reload failed, still serving the previous configuration: " +
    "RegistryTokenService:Signing:KeyPath: gone";
  await until(events, failed);
  signal("SIGTERM");
  assert.equal(await running, 0);
  assert.deepEqual(events.slice(1), [failed, "drained", "first closed", "stopped"]);
});

Deno.test("a listener that stops accepting closes the service and asks for a restart", async () => {
  const { io, events, fail } = fakeProcess();
  const running = supervise(await service("first", events), {}, io);
  await until(events, "listening (SIGHUP SIGTERM SIGINT)");
  fail("accept failed");
  assert.equal(await running, EXIT_RESTART);
  assert.deepEqual(events.slice(1), [
    "cannot serve any more, exiting for a restart: accept failed",
    "first closed",
  ]);
});

Deno.test("without a config file to re-read, SIGHUP is ignored with a warning", async () => {
  const { io, events, signal } = fakeProcess();
  const running = supervise(await service("first", events), {}, io);
  await until(events, "listening (SIGHUP SIGTERM SIGINT)");
  signal("SIGHUP");
  const ignored = "reload ignored: the development profile has no config file";
  await until(events, ignored);
  signal("SIGTERM");
  assert.equal(await running, 0);
  assert.deepEqual(events.slice(1), [ignored, "drained", "first closed", "stopped"]);
});
