/**
 * `Server:Workers` > 1: the process the operator started becomes the primary — the launcher
 * under `deno task start`, the compiled binary (PID 1 in a container) otherwise. It serves
 * nothing itself; it runs that many worker processes of the service with `--worker <n>`, each
 * binding the listen port with `SO_REUSEPORT` (node:http `reusePort`, no `--unstable-net`
 * needed) and holding its own caches.
 *
 * Signals: SIGTERM/SIGINT are passed to every worker, which drain; SIGHUP too, which reload. A
 * worker that exits `EXIT_RESTART` (its listener stopped accepting) is started again with the
 * launcher's backoff; any other exit of a worker not asked to stop stops the others and becomes
 * the primary's exit code. Once stopping, the primary exits with the first non-zero code of its
 * workers, else 0.
 *
 * Permissions: no process that listens or reaches the network may run programs. Under
 * `deno task start` the launcher is the primary (it reads the config and runs `deno`, and has no
 * network permission); its workers get the service's runtime flags and no run permission. The
 * compiled binary runs itself: `deno task compile` bakes `--allow-run=<its install path>` only
 * when the build-time config has more than one worker, and each worker revokes `run` at startup
 * before it reads a key or opens a socket.
 *
 * @module
 */

import type { Logger } from "./observability/logger.ts";
import { EXIT_RESTART, EXIT_STARTUP } from "./exit_codes.ts";

/** The exit code of a process that SIGHUP ended (128 + 1). */
const EXIT_SIGHUP = 129;
/** First restart delay after `EXIT_RESTART`; it doubles per restart, up to the maximum. */
const RESTART_BACKOFF_MS = 250;
const MAX_RESTART_BACKOFF_MS = 10_000;

/** How to start worker `n` (1-based): the executable and its arguments. */
export interface WorkerCommand {
  readonly command: string;
  args(worker: number): string[];
}

/**
 * Worker `n` runs `command` with `leading` (for `deno`: `run`, the service's runtime flags and
 * main.ts; nothing for the compiled binary), then the primary's own `args` and `--worker <n>`.
 */
export function workerCommand(
  command: string,
  leading: readonly string[],
  args: readonly string[],
): WorkerCommand {
  return { command, args: (worker) => [...leading, ...args, "--worker", String(worker)] };
}

/** Why the primary cannot start workers, or undefined when it can. */
export function cannotRunWorkers(command: string): string | undefined {
  const { state } = Deno.permissions.querySync({ name: "run", command });
  if (state === "granted") return undefined;
  return `Server:Workers needs permission to run ${command} (--allow-run=${command}): ` +
    "a compiled binary must be built from a config with Server:Workers above 1";
}

/** A worker needs to run nothing: drop what a compiled binary's baked set gave the primary. */
export function dropWorkerPermissions(): void {
  Deno.permissions.revokeSync({ name: "run" });
}

/** What the primary takes from the process, injected so tests can drive it. */
export interface PrimaryIo {
  readonly logger: Logger;
  readonly addSignalListener: (signal: Deno.Signal, handler: () => void) => void;
  readonly spawn: (command: string, args: string[]) => { pid: number; child: WorkerChild };
}

/** The part of `Deno.ChildProcess` the primary uses. */
export interface WorkerChild {
  readonly status: Promise<{ code: number }>;
  kill(signal: Deno.Signal): void;
}

/** Spawns a worker sharing the primary's stdin, stdout and stderr. */
export function spawnWorker(command: string, args: string[]) {
  const child = new Deno.Command(command, { args, stdin: "null" }).spawn();
  return { pid: child.pid, child };
}

/** Runs `count` workers until they stop; returns the primary's exit code. */
export async function runPrimary(
  count: number,
  worker: WorkerCommand,
  io: PrimaryIo,
): Promise<number> {
  const problem = cannotRunWorkers(worker.command);
  if (problem) {
    console.error(`startup error: ${problem}`);
    return EXIT_STARTUP;
  }
  const running = new Map<number, WorkerChild>();
  // Workers passed a SIGHUP: one still loading its code has no handler, and the signal ends it.
  const reloaded = new Set<WorkerChild>();
  let stopping = false;
  let firstFailure: number | undefined;
  const signalAll = (signal: Deno.Signal) => {
    for (const child of running.values()) {
      try {
        child.kill(signal);
        if (signal === "SIGHUP") reloaded.add(child);
      } catch { /* it has just exited */ }
    }
  };
  const stopAll = (signal: Deno.Signal) => {
    stopping = true;
    signalAll(signal);
  };
  io.addSignalListener("SIGTERM", () => stopAll("SIGTERM"));
  io.addSignalListener("SIGINT", () => stopAll("SIGINT"));
  io.addSignalListener("SIGHUP", () => signalAll("SIGHUP"));

  const runWorker = async (n: number): Promise<void> => {
    for (let restarts = 0;; restarts++) {
      if (stopping) return;
      const started = Date.now();
      const { pid, child } = io.spawn(worker.command, worker.args(n));
      running.set(n, child);
      io.logger.log("info", "worker started", { worker: n, pid });
      const { code } = await child.status;
      running.delete(n);
      const endedByReload = reloaded.delete(child) && code === EXIT_SIGHUP;
      if (stopping) {
        if (code !== 0) firstFailure ??= code;
        return;
      }
      if (endedByReload) {
        // It had not started serving: start it again at once; it reads the configuration anew.
        io.logger.log("warn", "a reload ended a worker still starting; starting it again", {
          worker: n,
          pid,
        });
        restarts--;
        continue;
      }
      if (code !== EXIT_RESTART) {
        io.logger.log("error", "worker exited; stopping the others", { worker: n, pid, code });
        firstFailure ??= code;
        stopAll("SIGTERM");
        return;
      }
      if (Date.now() - started > 60_000) restarts = 0;
      const delayMs = Math.min(RESTART_BACKOFF_MS * 2 ** restarts, MAX_RESTART_BACKOFF_MS);
      io.logger.log("warn", "worker asked for a restart", {
        worker: n,
        pid,
        code,
        delay_ms: delayMs,
      });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  };
  await Promise.all(Array.from({ length: count }, (_, index) => runWorker(index + 1)));
  return firstFailure ?? 0;
}
