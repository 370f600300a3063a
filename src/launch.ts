/**
 * `deno task start` / `deno task dev`: derives the least-privilege permission set from the
 * configuration, then runs the service under exactly that set (`src/permissions.ts`), and
 * starts it again when it exits with `EXIT_RESTART` (its listener stopped accepting).
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
  policyCheckFlags,
  runtimeFlags,
  trustExportFlags,
  workerFlags,
} from "./permissions.ts";
import { EXIT_CONFIG, EXIT_RESTART, exitForConfigError } from "./exit_codes.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
/** First restart delay after `EXIT_RESTART`; it doubles per restart, up to the maximum. */
const RESTART_BACKOFF_MS = 250;
const MAX_RESTART_BACKOFF_MS = 10_000;

/** How to run the service for some command line: permission flags and the arguments for main. */
export interface LaunchPlan {
  readonly flags: string[];
  readonly args: string[];
}

/**
 * Works out the permission set for `args` from the configuration they select. When the config
 * file was found by searching, main is told which one, since it may not read the others.
 * Throws `ConfigError` for a bad configuration and `Error` for bad flags.
 */
export async function planLaunch(args: string[], getEnv: EnvReader): Promise<LaunchPlan> {
  const commandLine = parseCommandLine(args);
  if (commandLine.help || commandLine.version) return { flags: ["--no-prompt"], args };
  if (commandLine.dev) return { flags: devRuntimeFlags(developmentOptions(getEnv)), args };
  const location = locateConfig(commandLine.config, getEnv);
  const { options, path } = await loadConfig(location, { readTextFile: Deno.readTextFile, getEnv });
  const flags = commandLine.exportTrust
    ? trustExportFlags(options, path, commandLine.exportTrust)
    : commandLine.explain || commandLine.testPolicy
    ? policyCheckFlags(options, path, policyCheckInputs(commandLine))
    : [
      ...runtimeFlags(options, path),
      // --check only reads; serving with several workers runs `deno` for them.
      ...commandLine.check ? [] : workerFlags(options, Deno.execPath()),
    ];
  return { flags, args: path && !location.explicit ? ["--config", path, ...args] : args };
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

if (import.meta.main) {
  Deno.exit(await launch(Deno.args));
}
