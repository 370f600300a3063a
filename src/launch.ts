/**
 * `deno task start` / `deno task dev`: derives the least-privilege permission set from the
 * configuration, then runs the service under exactly that set (`src/permissions.ts`), and
 * starts it again when it exits with `EXIT_RESTART` (its listener stopped accepting). With
 * `Server:Workers` above 1 it is the primary itself (`src/workers.ts`): it runs that many
 * service processes under the same set, so none of them may run programs.
 *
 * The launcher itself may read the config to compute the flags; the service process it starts
 * can read only its config and key files, see only `REGISTRY_TOKEN_*`, and reach only its
 * listen address and Authority.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { type CommandLine, parseCommandLine, USAGE } from "./cli.ts";
import { ConfigError } from "./config/error.ts";
import { loadConfig, locateConfig } from "./config/load.ts";
import type { EnvReader } from "./config/document.ts";
import { developmentOptions } from "./dev/profile.ts";
import {
  devRuntimeFlags,
  doctorFlags,
  policyCheckFlags,
  runtimeFlags,
  trustExportFlags,
} from "./permissions.ts";
import { EXIT_CONFIG, EXIT_RESTART, exitForConfigError } from "./exit_codes.ts";
import { createLogger, createLogWriter } from "./observability/logger.ts";
import { runPrimary, spawnWorker, workerCommand } from "./workers.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
/** First restart delay after `EXIT_RESTART`; it doubles per restart, up to the maximum. */
const RESTART_BACKOFF_MS = 250;
const MAX_RESTART_BACKOFF_MS = 10_000;
/** How long exit waits for the launcher's own pending log lines. */
const LOG_FLUSH_TIMEOUT_MS = 1000;

/** How to run the service for some command line: permission flags and the arguments for main. */
export interface LaunchPlan {
  readonly flags: string[];
  readonly args: string[];
  /** How many service processes serve (`Server:Workers`); 1 for every command but serving. */
  readonly workers: number;
}

/**
 * Works out the permission set for `args` from the configuration they select. When the config
 * file was found by searching, main is told which one, since it may not read the others.
 * Throws `ConfigError` for a bad configuration and `Error` for bad flags.
 */
export async function planLaunch(args: string[], getEnv: EnvReader): Promise<LaunchPlan> {
  const commandLine = parseCommandLine(args);
  if (commandLine.help || commandLine.version) return { flags: ["--no-prompt"], args, workers: 1 };
  if (commandLine.dev) {
    return { flags: devRuntimeFlags(developmentOptions(getEnv)), args, workers: 1 };
  }
  const location = locateConfig(commandLine.config, getEnv);
  const { options, path } = await loadConfig(location, { readTextFile: Deno.readTextFile, getEnv });
  const flags = commandLine.exportTrust
    ? trustExportFlags(options, path, commandLine.exportTrust)
    : commandLine.explain || commandLine.testPolicy
    ? policyCheckFlags(options, path, policyCheckInputs(commandLine))
    : commandLine.doctor
    ? doctorFlags(options, path, commandLine.doctor.registry)
    : runtimeFlags(options, path);
  const serving = !commandLine.exportTrust && !commandLine.explain && !commandLine.testPolicy &&
    !commandLine.check && !commandLine.doctor;
  return {
    flags,
    args: path && !location.explicit ? ["--config", path, ...args] : args,
    workers: serving ? options.server.workers : 1,
  };
}

/** The files `--explain --claims @FILE` and `--test-policy FILE` read. */
function policyCheckInputs(commandLine: CommandLine): string[] {
  const claims = commandLine.explain?.claims;
  return [
    ...(claims?.startsWith("@") ? [claims.slice(1)] : []),
    ...(commandLine.testPolicy === undefined ? [] : [commandLine.testPolicy]),
  ];
}

async function launch(args: string[]): Promise<number> {
  let plan: LaunchPlan;
  try {
    plan = await planLaunch(args, (name) => Deno.env.get(name));
  } catch (error) {
    if (error instanceof ConfigError) return exitForConfigError(error);
    console.error(`${(error as Error).message}\n${USAGE}`);
    return EXIT_CONFIG;
  }
  if (plan.workers > 1) return await runWorkers(plan);
  let stopping = false;
  let child: Deno.ChildProcess | undefined;
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    Deno.addSignalListener(signal, () => {
      if (signal !== "SIGHUP") stopping = true;
      try {
        child?.kill(signal);
      } catch { /* between two children: the next one is not started when stopping */ }
    });
  }
  for (let restarts = 0;; restarts++) {
    const started = Date.now();
    child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...plan.flags, MAIN, ...plan.args],
      stdin: "inherit",
    }).spawn();
    const { code } = await child.status;
    if (code !== EXIT_RESTART || stopping) return code;
    // A process that served for a minute earns a quick restart; a crash loop backs off.
    if (Date.now() - started > 60_000) restarts = 0;
    const delayMs = Math.min(RESTART_BACKOFF_MS * 2 ** restarts, MAX_RESTART_BACKOFF_MS);
    console.error(
      `launcher: the service asked for a restart (exit ${code}); restarting in ${delayMs} ms`,
    );
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (stopping) return 0;
  }
}

/**
 * `Server:Workers` above 1: the launcher is the primary, passing signals to every worker. The
 * keys and files are checked once first (`--check`), so a bad one ends the start with one line
 * rather than one per worker.
 */
async function runWorkers(plan: LaunchPlan): Promise<number> {
  // A reload asked during the check (systemctl reload right after start) must not end the
  // launcher: the workers it then starts read the configuration as it is.
  Deno.addSignalListener("SIGHUP", () => {});
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...plan.flags, MAIN, ...plan.args, "--check"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  // On success its warnings would repeat what each worker logs.
  if (!check.success) {
    await Deno.stderr.write(check.stderr);
    return check.code;
  }
  // Workers share stdout with the launcher: writes within PIPE_BUF never interleave.
  const output = createLogWriter(Deno.stdout, undefined, undefined, 4096);
  const command = workerCommand(Deno.execPath(), ["run", ...plan.flags, MAIN], plan.args);
  try {
    return await runPrimary(plan.workers, command, {
      logger: createLogger(output.write, () => new Date()),
      addSignalListener: (signal, handler) => Deno.addSignalListener(signal, handler),
      spawn: spawnWorker,
    });
  } finally {
    await output.flush(LOG_FLUSH_TIMEOUT_MS);
  }
}

if (import.meta.main) {
  Deno.exit(await launch(Deno.args));
}
