/**
 * Runs the real service as a separate `deno run` process under the production permission set
 * (`runtimeFlags`), the way `deno task start` and the compiled binary run it.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { stringify as toYaml } from "yaml";
import denoJson from "../../deno.json" with { type: "json" };
import { ConfigError } from "../../src/config/error.ts";
import { loadOptions } from "../../src/config/load.ts";
import { runtimeFlags } from "../../src/permissions.ts";
import type { TestAuthority } from "./authority.ts";

/** The flags `deno task start` gives the launcher, read from deno.json so they cannot drift. */
export function startTaskFlags(): string[] {
  const words = denoJson.tasks.start.split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("src/launch.ts"));
}

/** The service entry point. */
export const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
/** A script that tries forbidden operations under a permission set (see its module doc). */
export const PERMISSION_PROBE = fileURLToPath(new URL("./permission_probe.ts", import.meta.url));
/** The launcher behind `deno task start` and `deno task dev`. */
export const LAUNCHER = fileURLToPath(new URL("../../src/launch.ts", import.meta.url));

/** A service process whose output is being collected. */
export interface ServiceProcess {
  readonly child: Deno.ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the first stdout record whose `msg` is `message`. */
  waitForLog(message: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends SIGTERM and resolves with the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Writes `document` as YAML into a fresh temp dir and returns the config file path. */
export async function writeConfig(document: unknown, dir?: string): Promise<string> {
  const directory = dir ?? await Deno.makeTempDir({ prefix: "registry-token-test-" });
  const path = `${directory}/registry-token.yaml`;
  await Deno.writeTextFile(path, toYaml(document));
  return path;
}

/**
 * Writes `authority`'s JWKS to `dir/authority-jwks.json`, so that it sits next to a config
 * written there, and returns the config's Authority section that trusts it.
 */
export async function localAuthority(
  authority: Pick<TestAuthority, "issuer" | "jwks">,
  dir: string,
): Promise<{ Issuer: string; JwksPath: string }> {
  const jwksPath = `${dir}/authority-jwks.json`;
  await Deno.writeTextFile(jwksPath, JSON.stringify(authority.jwks));
  return { Issuer: authority.issuer, JwksPath: jwksPath };
}

/** The production permission flags for the config at `configPath`. */
export async function productionFlags(configPath: string): Promise<string[]> {
  const options = await loadOptions({ path: configPath, explicit: true }, {
    readTextFile: Deno.readTextFile,
    getEnv: () => undefined,
  }).catch((error) => {
    throw error instanceof ConfigError ? new Error(`test config invalid: ${error.message}`) : error;
  });
  return runtimeFlags(options, configPath);
}

/** Spawns `deno run <flags> <script> <args>` and collects its output line by line. */
export function spawnDeno(
  flags: string[],
  script: string,
  args: string[],
  env: Record<string, string> = {},
): ServiceProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const collect = async (stream: ReadableStream<Uint8Array>, lines: string[]) => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (pending + chunk).split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
      waiters.forEach((wake) => wake());
    }
    if (pending) lines.push(pending);
    waiters.forEach((wake) => wake());
  };
  const collected = Promise.all([collect(child.stdout, stdout), collect(child.stderr, stderr)]);
  let exited = false;
  const status = child.status.then(async (result) => {
    await collected;
    exited = true;
    waiters.forEach((wake) => wake());
    return result;
  });

  return {
    child,
    stdout,
    stderr,
    waitForLog(message, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => finish(new Error(`timed out waiting for "${message}"`)),
          timeoutMs,
        );
        const check = () => {
          for (const line of stdout) {
            try {
              const record = JSON.parse(line);
              if (record.msg === message) return finish(undefined, record);
            } catch { /* not a JSON line */ }
          }
          if (exited) finish(new Error(`process exited before "${message}": ${stderr.join("\n")}`));
        };
        function finish(error?: Error, record?: Record<string, unknown>) {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(record!);
        }
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      return await status;
    },
  };
}

/** Spawns the service (`MAIN`) for the config at `configPath` under the production permissions. */
export async function spawnService(
  configPath: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  return spawnDeno(await productionFlags(configPath), MAIN, ["--config", configPath], env);
}

/** `--export-trust out` for the config at `configPath`, through the launcher as `deno task start` runs it. */
export function exportTrust(
  configPath: string,
  out: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runDeno(startTaskFlags(), LAUNCHER, ["--config", configPath, "--export-trust", out]);
}

/** Runs a command to completion and returns its exit code and output. */
export async function runDeno(
  flags: string[],
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}
