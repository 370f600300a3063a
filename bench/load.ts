/**
 * Load benchmark: runs the real service (production permission set, real keys) on loopback,
 * drives `GET /token` with wrk, and measures the reference ceilings side by side in the same
 * run: the runtime's in-process signing rate and a trivial `Deno.serve` handler.
 *
 * Scenarios: (a) every request from a different caller for a different repository, (b) a CI
 * fleet (few identities, repeated scopes), (c) one identical request repeated; (a) again with
 * an ES256 signing key. Each runs for a bounded time and everything stops by itself.
 *
 * Usage: deno task bench [--seconds 8] [--connections 32] [--soak 0]
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { stringify as toYaml } from "yaml";
import { loadConfig } from "../src/config/load.ts";
import { pem } from "../src/encoding.ts";
import { runtimeFlags } from "../src/permissions.ts";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const MAIN = here("../src/main.ts");
const RSA_KEY = here("../tests/fixtures/keys/rsa.key-and-cert.pem");
const ISSUER = "https://authority.bench";
const SERVICE = "registry.bench";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "8" },
    connections: { type: "string", default: "32" },
    soak: { type: "string", default: "0" },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const SOAK_SECONDS = Number(values.soak);

// ---- set-up -----------------------------------------------------------------------------------

await requireWrk();
const dir = await Deno.makeTempDir({ prefix: "registry-token-bench-" });
const authority = await generateKeyPair("RS256");
await Deno.writeTextFile(
  `${dir}/authority-jwks.json`,
  JSON.stringify({
    keys: [{ ...await exportJWK(authority.publicKey), kid: "bench", alg: "RS256" }],
  }),
);
const ecKeyPath = await writeEcKey();
console.error("minting caller tokens …");
// (a) needs one distinct caller per request: enough for the scenario at the signing ceiling.
const distinctCallers = await callerTokens(Math.round(SECONDS * 1_400), "bench-user");
const distinct = distinctCallers.map((token, i) => requestLine(token, `bench/repo-${i}`));
// (b) a CI fleet: 10 runners pulling from 20 repositories in random order.
const runners = await callerTokens(10, "ci-runner");
const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)];
const fleet = Array.from(
  { length: 4_000 },
  () => requestLine(pick(runners), `team/app-${Math.floor(Math.random() * 20)}`),
);
const identical = [distinct[0]];

// ---- reference ceilings -----------------------------------------------------------------------

console.error("measuring reference ceilings …");
const signRs256 = await signCeiling("RS256", CONNECTIONS);
const signRs256Serial = await signCeiling("RS256", 1);
const signEs256 = await signCeiling("ES256", CONNECTIONS);
const trivial = await trivialServerRate();
console.error(
  `  signing RS256 ${signRs256}/s (one core ${signRs256Serial}/s), ES256 ${signEs256}/s; trivial HTTP ${
    Math.round(trivial)
  }/s`,
);

// ---- the service ------------------------------------------------------------------------------

const rows: Row[] = [];
for (
  const [name, key, lines, ceiling] of [
    ["(a) all distinct, RS256", RSA_KEY, distinct, signRs256],
    ["(b) CI fleet, RS256", RSA_KEY, fleet, signRs256],
    ["(c) identical, RS256", RSA_KEY, identical, signRs256],
    ["(a) all distinct, ES256", ecKeyPath, distinct, signEs256],
  ] as const
) {
  console.error(`running ${name} …`);
  rows.push(await scenario(name, key, lines, ceiling));
  console.error(`  ${JSON.stringify(rows.at(-1))}`);
}

let soak: string | undefined;
if (SOAK_SECONDS > 0) {
  console.error(`soak: (b) at half its saturation rate for ${SOAK_SECONDS}s …`);
  soak = await soakTest(fleet, rows[1].rate / 2);
}

console.log(report());
await Deno.remove(dir, { recursive: true });

// ---- pieces -----------------------------------------------------------------------------------

interface Row {
  name: string;
  rate: number;
  ceiling: number;
  p50: string;
  p99: string;
  p99Half: number;
  errors: number;
  peakRssMb: number;
}

async function scenario(
  name: string,
  keyPath: string,
  lines: readonly string[],
  ceiling: number,
): Promise<Row> {
  const service = await startService(keyPath);
  try {
    // Warm-up, so that (c) measures the steady state rather than the first signature.
    await fetchLine(service.port, lines[0]);
    const saturated = await runWrk(service.port, lines, SECONDS);
    // Latency at half the saturation rate, with fresh callers for (a).
    const half = await fixedRateLatency(
      service.port,
      lines,
      saturated.rate / 2,
      Math.min(SECONDS, 5),
    );
    return {
      name,
      rate: saturated.rate,
      ceiling,
      p50: saturated.p50,
      p99: saturated.p99,
      p99Half: half,
      errors: saturated.errors,
      peakRssMb: await peakRssMb(service.pid),
    };
  } finally {
    await service.stop();
  }
}

async function startService(keyPath: string) {
  const port = freePort();
  const configPath = `${dir}/config-${port}.yaml`;
  await Deno.writeTextFile(
    configPath,
    toYaml({
      RegistryTokenService: {
        Server: { Host: "127.0.0.1", Port: port },
        Authority: { Issuer: ISSUER, JwksPath: `${dir}/authority-jwks.json` },
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
    args: ["run", ...runtimeFlags(options, path), MAIN, "--config", configPath],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  for (let attempt = 0;; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      await response.body?.cancel();
      break;
    } catch {
      if (attempt > 200) throw new Error("the service did not start");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    port,
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** `count` caller tokens from the bench Authority, subjects `<prefix>-<i>`. */
async function callerTokens(count: number, prefix: string): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let start = 0; start < count; start += 256) {
    const batch = Array.from(
      { length: Math.min(256, count - start) },
      (_, offset) =>
        new SignJWT({ scope: "registry.token.issue" })
          .setProtectedHeader({ alg: "RS256", kid: "bench" })
          .setIssuer(ISSUER)
          .setSubject(`${prefix}-${start + offset}`)
          .setIssuedAt(now)
          .setExpirationTime(now + 3_600)
          .sign(authority.privateKey),
    );
    tokens.push(...await Promise.all(batch));
  }
  return tokens;
}

/** One prepared request: `path<TAB>authorization`, as bench/requests.lua reads them. */
function requestLine(token: string, repository: string): string {
  return `/token?service=${SERVICE}&scope=repository:${repository}:pull\tBearer ${token}`;
}

async function runWrk(port: number, lines: readonly string[], seconds: number) {
  const requestsFile = `${dir}/requests-${port}.txt`;
  await Deno.writeTextFile(requestsFile, `${lines.join("\n")}\n`);
  const { stdout } = await new Deno.Command("wrk", {
    args: [
      "-t2",
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      "--latency",
      "-s",
      here("./requests.lua"),
      `http://127.0.0.1:${port}`,
    ],
    env: { REQUESTS: requestsFile },
  }).output();
  const text = new TextDecoder().decode(stdout);
  const number = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    rate: number(/Requests\/sec:\s+([\d.]+)/),
    p50: /^\s+50%\s+(\S+)/m.exec(text)?.[1] ?? "?",
    p99: /^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? "?",
    errors: number(/Non-2xx or 3xx responses:\s+(\d+)/) + number(/Socket errors:.*?(\d+)/),
  };
}

/** p99 latency in milliseconds at a fixed request rate (bench/fixed_rate.ts, its own process). */
async function fixedRateLatency(
  port: number,
  lines: readonly string[],
  rate: number,
  seconds: number,
) {
  const requestsFile = `${dir}/fixed-${port}.txt`;
  await Deno.writeTextFile(requestsFile, `${lines.join("\n")}\n`);
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${dir}`,
      here("./fixed_rate.ts"),
      String(port),
      requestsFile,
      String(rate),
      String(seconds),
      String(CONNECTIONS),
    ],
  }).output();
  if (!success) throw new Error("the fixed-rate client failed");
  const result = JSON.parse(new TextDecoder().decode(stdout));
  if (result.errors) throw new Error(`${result.errors} requests failed at the fixed rate`);
  return result.p99 as number;
}

async function fetchLine(port: number, line: string) {
  const [path, authorization] = line.split("\t");
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization } });
  await response.body?.cancel();
  if (response.status !== 200) throw new Error(`bench request failed with ${response.status}`);
}

async function signCeiling(alg: "RS256" | "ES256", concurrency: number): Promise<number> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      here("./sign_ceiling.ts"),
      alg,
      String(concurrency),
      String(Math.min(SECONDS, 5)),
    ],
  }).output();
  return Number(new TextDecoder().decode(stdout).trim());
}

async function trivialServerRate(): Promise<number> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", `--allow-net=127.0.0.1:${port}`, here("./trivial_server.ts"), String(port)],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await reader.read();
  const { rate } = await runWrk(port, ["/\tBearer x"], Math.min(SECONDS, 5));
  child.kill("SIGTERM");
  await reader.cancel();
  await child.status;
  return rate;
}

async function soakTest(lines: readonly string[], rate: number): Promise<string> {
  const service = await startService(RSA_KEY);
  try {
    const samples: number[] = [];
    const sampler = setInterval(async () => samples.push(await rssMb(service.pid)), 5_000);
    await fixedRateLatency(service.port, lines, rate, SOAK_SECONDS);
    clearInterval(sampler);
    samples.push(await rssMb(service.pid));
    const [first, last] = [samples[1] ?? samples[0], samples.at(-1)!];
    return `soak: ${SOAK_SECONDS}s of (b) at ${Math.round(rate)} req/s; RSS ${
      first.toFixed(1)
    } MB after warm-up → ` +
      `${last.toFixed(1)} MB at the end (max ${
        Math.max(...samples).toFixed(1)
      } MB, ${samples.length} samples)`;
  } finally {
    await service.stop();
  }
}

async function peakRssMb(pid: number): Promise<number> {
  return await statusMb(pid, "VmHWM");
}

async function rssMb(pid: number): Promise<number> {
  return await statusMb(pid, "VmRSS");
}

async function statusMb(pid: number, field: string): Promise<number> {
  // Deno asks for all permissions to read /proc directly; cat does not need them.
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] }).output();
  const status = new TextDecoder().decode(stdout);
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) / 1024;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function writeEcKey(): Promise<string> {
  const { privateKey } = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    [
      "sign",
      "verify",
    ],
  );
  const path = `${dir}/signing-es256.pem`;
  await Deno.writeTextFile(
    path,
    pem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", privateKey))),
  );
  return path;
}

async function requireWrk(): Promise<void> {
  const found = await new Deno.Command("sh", { args: ["-c", "command -v wrk"], stdout: "null" })
    .output();
  if (found.success) return;
  if (Deno.uid() !== 0) throw new Error("wrk is required: sudo apt-get install wrk");
  console.error("installing wrk with apt-get …");
  const install = await new Deno.Command("sh", {
    args: ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk"],
  }).output();
  if (!install.success) throw new Error("could not install wrk with apt-get");
}

function report(): string {
  const cpuinfo = new Deno.Command("cat", { args: ["/proc/cpuinfo"] }).outputSync().stdout;
  const cpu = new TextDecoder().decode(cpuinfo).match(/model name\s*:\s*(.+)/)?.[1] ??
    "unknown CPU";
  const lines = [
    `machine: ${navigator.hardwareConcurrency} cores, ${cpu}; Deno ${Deno.version.deno}; wrk -t2 -c${CONNECTIONS}, ${SECONDS}s per scenario`,
    "",
    "reference ceilings (measured in this run):",
    `  RS256 signing in-process, ${CONNECTIONS} in flight: ${signRs256}/s; one at a time (one core): ${signRs256Serial}/s`,
    `  ES256 signing in-process, ${CONNECTIONS} in flight: ${signEs256}/s`,
    `  trivial Deno.serve handler: ${Math.round(trivial)} req/s`,
    "",
    "| scenario | tokens/s | vs signing ceiling | vs one-core RS256 | vs trivial HTTP | p50 | p99 | p99 at 50% load | errors | peak RSS |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) =>
      `| ${row.name} | ${Math.round(row.rate)} | ${(row.rate / row.ceiling).toFixed(2)}× | ${
        (row.rate / signRs256Serial).toFixed(1)
      }× | ${(row.rate / trivial).toFixed(2)}× | ${row.p50} | ${row.p99} | ${
        row.p99Half.toFixed(2)
      }ms | ${row.errors} | ${row.peakRssMb.toFixed(0)} MB |`
    ),
  ];
  if (soak) lines.push("", soak);
  return lines.join("\n");
}
