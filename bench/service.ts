/**
 * Starts the real service for a benchmark (production permission set, a config in `dir` that
 * trusts the Authority JWKS at `dir/authority-jwks.json`, one plan granting everything), and
 * drives it at a fixed rate with `bench/fixed_rate.ts`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { stringify as toYaml } from "yaml";
import { loadConfig } from "../src/config/load.ts";
import { runtimeFlags } from "../src/permissions.ts";
import { LAUNCHER, MAIN, startTaskFlags } from "../tests/support/process.ts";

const FIXED_RATE_CLIENT = fileURLToPath(new URL("./fixed_rate.ts", import.meta.url));

/** A running benchmark service. */
export interface BenchService {
  readonly port: number;
  readonly pid: number;
  /**
   * The processes serving: the service, or with `Server:Workers` the primary (the launcher, as
   * `deno task start` runs it) and its workers.
   */
  pids(): Promise<number[]>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number>;
}

/** Starts the service signing with `keyPath`, trusting caller tokens of `issuer`. */
export async function startBenchService(
  dir: string,
  issuer: string,
  keyPath: string,
  workers = 1,
): Promise<BenchService> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const configPath = `${dir}/config-${port}.yaml`;
  await Deno.writeTextFile(
    configPath,
    toYaml({
      RegistryTokenService: {
        Server: { Host: "127.0.0.1", Port: port, Workers: workers },
        Authority: { Issuer: issuer, JwksPath: `${dir}/authority-jwks.json` },
        Signing: { Issuer: "registry-token-bench", KeyPath: keyPath },
        Plans: [{ Name: "ci", Repositories: [{ Pattern: "*", Actions: ["pull", "push"] }] }],
        DefaultPlan: "ci",
      },
    }),
  );
  const { options, path } = await loadConfig({ path: configPath, explicit: true }, {
    readTextFile: Deno.readTextFile,
    getEnv: () => undefined,
  });
  const child = new Deno.Command(Deno.execPath(), {
    args: workers > 1
      ? ["run", ...startTaskFlags(), LAUNCHER, "--config", configPath]
      : ["run", ...runtimeFlags(options, path), MAIN, "--config", configPath],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const children = async () => {
    const { stdout } = await new Deno.Command("cat", {
      args: [`/proc/${child.pid}/task/${child.pid}/children`],
    }).output();
    return new TextDecoder().decode(stdout).trim().split(/\s+/).filter(Boolean).map(Number);
  };
  for (let attempt = 0;; attempt++) {
    try {
      await (await fetch(`http://127.0.0.1:${port}/healthz`)).body?.cancel();
      // Every worker listening, not just the first: connections made before the second binds
      // the port all go to the first, for as long as they stay open.
      if (workers > 1 && await listeningSockets(port) < workers) throw new Error("starting");
      break;
    } catch {
      if (attempt > 200) throw new Error("the service did not start");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    port,
    pid: child.pid,
    pids: async () => [child.pid, ...await children()],
    stop: async () => {
      child.kill("SIGTERM");
      return (await child.status).code;
    },
  };
}

/** How many sockets listen on `port` (one per worker with `SO_REUSEPORT`). */
async function listeningSockets(port: number): Promise<number> {
  const { stdout } = await new Deno.Command("ss", { args: ["-Hltn", `sport = :${port}`] }).output();
  return new TextDecoder().decode(stdout).trim().split("\n").filter(Boolean).length;
}

/** What `bench/fixed_rate.ts` measured: latencies from each request's scheduled start. */
export interface FixedRateResult {
  /** Requests sent. */
  readonly sent: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

/** Sends `lines` (`path<TAB>authorization`) to `port` at `rate`/s for `seconds`. */
export async function runFixedRate(
  dir: string,
  port: number,
  lines: readonly string[],
  rate: number,
  seconds: number,
  connections: number,
): Promise<FixedRateResult> {
  const requestsFile = `${dir}/fixed-${port}-${rate}.txt`;
  await Deno.writeTextFile(requestsFile, `${lines.join("\n")}\n`);
  const { stdout, stderr, success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${dir}`,
      FIXED_RATE_CLIENT,
      String(port),
      requestsFile,
      String(rate),
      String(seconds),
      String(connections),
    ],
  }).output();
  if (!success) {
    throw new Error(`the fixed-rate client failed: ${new TextDecoder().decode(stderr)}`);
  }
  const { sent, p50, p99, errors } = JSON.parse(new TextDecoder().decode(stdout));
  return { sent, p50, p99, errors };
}
