/**
 * `deno task start` / `deno task dev`: derives the least-privilege permission set from the
 * configuration, then runs the service under exactly that set (`src/permissions.ts`).
 *
 * The launcher itself may read the config to compute the flags; the service process it starts
 * can read only its config and key files, see only `REGISTRY_TOKEN_*`, and reach only its
 * listen address and Authority.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseCommandLine, USAGE } from "./cli.ts";
import { ConfigError } from "./config/document.ts";
import { loadOptions, locateConfig } from "./config/load.ts";
import { developmentOptions } from "./dev/profile.ts";
import { devPermissionFlags, permissionFlags, trustExportFlags } from "./permissions.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

async function launch(args: string[]): Promise<number> {
  const getEnv = (name: string) => Deno.env.get(name);
  let flags: string[];
  try {
    const commandLine = parseCommandLine(args);
    if (commandLine.help || commandLine.version) {
      flags = ["--no-prompt"];
    } else if (commandLine.dev) {
      flags = devPermissionFlags(developmentOptions(getEnv));
    } else {
      const location = locateConfig(commandLine.config, getEnv);
      const options = await loadOptions(location, { readTextFile: Deno.readTextFile, getEnv });
      flags = commandLine.exportTrust
        ? trustExportFlags(options, location.path, commandLine.exportTrust)
        : permissionFlags(options, location.path);
    }
  } catch (error) {
    const prefix = error instanceof ConfigError ? "config error: " : "";
    console.error(
      `${prefix}${(error as Error).message}${error instanceof ConfigError ? "" : `\n${USAGE}`}`,
    );
    return 2;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, MAIN, ...args],
    stdin: "inherit",
  }).spawn();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => child.kill(signal));
  }
  return (await child.status).code;
}

if (import.meta.main) {
  Deno.exit(await launch(Deno.args));
}
