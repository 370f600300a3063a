/**
 * `deno task compile`: builds the single self-contained binary with `deno compile`, baking in
 * the same least-privilege permission set `deno task start` runs with (`src/permissions.ts`),
 * derived from a build-time configuration.
 *
 * `deno compile` needs the `denort` base binary of this Deno version. Online it downloads it;
 * on a machine without internet access supply it as `DENORT_BIN=/path/to/denort`, or put the
 * release zip into `$DENO_DIR/dl/release/v<version>/`. This script says which it will use
 * before compiling, so a failed offline download is not a surprise.
 *
 * Usage: deno task compile [--config PATH] [--output PATH] [--install-path PATH] [--print]
 *
 * @module
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { EnvReader } from "./config/document.ts";
import { ConfigError } from "./config/error.ts";
import { loadConfig, locateConfig } from "./config/load.ts";
import { runtimeFlags, workerFlags } from "./permissions.ts";
import { exitForConfigError } from "./exit_codes.ts";

/** Default output path of the binary. */
export const DEFAULT_OUTPUT = "dist/registry-token-service";
/**
 * Where the binary runs from (the systemd unit's and the Dockerfile's path): with
 * `Server:Workers` above 1 it may run exactly that executable, itself, for its workers.
 */
export const DEFAULT_INSTALL_PATH = "/usr/local/bin/registry-token-service";
const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const TARGET = "x86_64-unknown-linux-gnu";

/** The `deno compile` argument list for a build-time config (`path` as found). */
export async function compileArguments(
  config: string | undefined,
  output: string,
  getEnv: EnvReader,
  installPath: string = DEFAULT_INSTALL_PATH,
): Promise<string[]> {
  const { options, path } = await loadConfig(locateConfig(config, getEnv), {
    readTextFile: Deno.readTextFile,
    getEnv,
  });
  return [
    "compile",
    "--frozen",
    "--exclude-unused-npm",
    "--output",
    output,
    ...runtimeFlags(options, path),
    ...workerFlags(options, installPath),
    MAIN,
  ];
}

/** Where `deno compile` will find `denort` without a download, or why it will not. */
export function locateDenort(getEnv: EnvReader): { found: string } | { missing: string } {
  const explicit = getEnv("DENORT_BIN");
  if (explicit) {
    return existsSync(explicit)
      ? { found: explicit }
      : { missing: `DENORT_BIN points to ${explicit}, which does not exist` };
  }
  const denoDir = getEnv("DENO_DIR") ??
    `${getEnv("XDG_CACHE_HOME") ?? `${getEnv("HOME")}/.cache`}/deno`;
  const zip = `${denoDir}/dl/release/v${Deno.version.deno}/denort-${TARGET}.zip`;
  return existsSync(zip) ? { found: zip } : {
    missing: `no denort base binary: set DENORT_BIN=/path/to/denort or place ${zip} ` +
      `(see docs/operations.md, "Build a binary")`,
  };
}

async function build(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: "string" },
      output: { type: "string", default: DEFAULT_OUTPUT },
      print: { type: "boolean", default: false },
      "install-path": { type: "string", default: DEFAULT_INSTALL_PATH },
    },
    strict: true,
  });
  const getEnv = (name: string) => Deno.env.get(name);
  let compile: string[];
  try {
    compile = await compileArguments(
      values.config,
      values.output!,
      getEnv,
      values["install-path"]!,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return exitForConfigError(error);
  }
  if (values.print) {
    console.log(["deno", ...compile].join(" "));
    return 0;
  }
  const denort = locateDenort(getEnv);
  if ("missing" in denort) {
    if (getEnv("DENORT_BIN")) {
      console.error(`build error: ${denort.missing}`);
      return 1;
    }
    console.error(`note: ${denort.missing}; deno compile will try to download it now`);
  } else {
    console.error(`note: using the denort base binary at ${denort.found}`);
  }
  const { code } = await new Deno.Command(Deno.execPath(), { args: compile }).spawn().status;
  return code;
}

if (import.meta.main) {
  Deno.exit(await build(Deno.args));
}
