/**
 * Load benchmark: runs the real service (production permission set, real keys) on loopback,
 * drives `GET /token` with wrk, and measures the reference ceilings side by side in the same
 * run: the runtime's in-process signing rate and a trivial handler on the service's transport.
 *
 * Scenarios: (a) every request from a different caller for a different repository, (b) a CI
 * fleet (few identities, repeated scopes), (c) one identical request repeated — (b) and (c) also
 * with `Server:Workers: 2`, reported as a ratio to one process; (a) again with
 * an ES256 signing key, and both (a)s with EdDSA instead of RS256 caller tokens. Each runs for
 * a bounded time and everything stops by itself. Besides rates, latencies and memory, it reports
 * where the cores went at saturation.
 *
 * Usage: deno task bench [--seconds 8] [--connections 32] [--soak 0] [--workers-only]
 *        deno task bench --state-cost   (what a Redis round trip adds to a DPoP request)
 *        deno task bench --abuse [--seconds 8]   (valid callers under attack: `bench/abuse.ts`)
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { pem } from "../src/encoding.ts";
import { type CpuShares, cpuShares, cpuTicks, peakRssMb, rssMb } from "./proc.ts";
import { runAbuseBench } from "./abuse.ts";
import { runFixedRate, startBenchService } from "./service.ts";
import { runStateCostBench } from "./state_cost.ts";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const RSA_KEY = here("../tests/fixtures/keys/rsa.key-and-cert.pem");
const ISSUER = "https://authority.bench";
const REGISTRY = "registry.bench";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "8" },
    connections: { type: "string", default: "32" },
    soak: { type: "string", default: "0" },
    abuse: { type: "boolean", default: false },
    // Only (b) and (c), each with Workers 1 and 2: the scale-out comparison alone, in ~2 min.
    "workers-only": { type: "boolean", default: false },
    // What a Redis round trip adds to a DPoP request (bench/state_cost.ts), in ~20 s.
    "state-cost": { type: "boolean", default: false },
  },
});
if (values["state-cost"]) {
  await runStateCostBench();
  Deno.exit(0);
}
if (values.abuse) {
  await runAbuseBench(Number(values.seconds));
  Deno.exit(0);
}
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const SOAK_SECONDS = Number(values.soak);
/** The half-load latency and the trivial handler run at most this long. */
const SHORT_SECONDS = Math.min(SECONDS, 5);
/** Each in-process signing measurement, of which a scenario takes two to four. */
const CEILING_SECONDS = Math.min(SECONDS, 3);
/** wrk threads; bench/requests.lua gives each thread its own stride through the requests. */
const WRK_THREADS = 2;

// ---- set-up -----------------------------------------------------------------------------------

await requireWrk();
const dir = await Deno.makeTempDir({ prefix: "registry-token-bench-" });
/** The Authority's signing keys: RS256 as most Authorities use, and EdDSA, cheaper to verify. */
const authorityKeys = {
  RS256: await generateKeyPair("RS256"),
  EdDSA: await generateKeyPair("EdDSA"),
};
type CallerAlg = keyof typeof authorityKeys;
await Deno.writeTextFile(
  `${dir}/authority-jwks.json`,
  JSON.stringify({
    keys: await Promise.all(
      Object.entries(authorityKeys).map(async ([alg, { publicKey }]) => ({
        ...await exportJWK(publicKey),
        kid: alg,
        alg,
      })),
    ),
  }),
);
const ecKeyPath = await writeEcKey();
console.error("minting caller tokens …");
// (b) a CI fleet: 10 runners pulling from 20 repositories in random order.
const runners = await callerTokens(10, "ci-runner", "RS256");
const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)];
const fleet = Array.from(
  { length: 4_000 },
  () => requestLine(pick(runners), `team/app-${Math.floor(Math.random() * 20)}`),
);
const identical = [runners[0]].map((token) => requestLine(token, "team/app-0"));

/**
 * What a scenario sends: at saturation, then at half that rate. A distinct workload never repeats
 * a line, and names the algorithm of its callers' tokens, which each request must verify.
 */
interface Workload {
  lines: readonly string[];
  halfLoadLines: readonly string[];
  distinctCallers?: CallerAlg;
}
const repeating = (lines: readonly string[]): Workload => ({ lines, halfLoadLines: lines });
/**
 * One caller per request, enough for `rate` tokens/s (at least the scenario's signing ceiling),
 * and another set for the latency at half load, so that no request there hits a cache.
 */
async function allDistinct(callerAlg: CallerAlg, rate: number): Promise<Workload> {
  return {
    lines: await distinctLines(Math.round(SECONDS * rate), `${callerAlg}-user`, callerAlg),
    halfLoadLines: await distinctLines(
      Math.round((SHORT_SECONDS * rate) / 2),
      `${callerAlg}-late-user`,
      callerAlg,
    ),
    distinctCallers: callerAlg,
  };
}
const WORKERS_ONLY = values["workers-only"];
// Not needed (and slow to mint) when only (b) and (c) run.
const distinctRs256Callers = WORKERS_ONLY ? repeating([]) : await allDistinct("RS256", 1_400);
const distinctEdDsaCallers = WORKERS_ONLY ? repeating([]) : await allDistinct("EdDSA", 2_500);

// ---- reference ceilings -----------------------------------------------------------------------

// The signing ceilings of each scenario are measured right before and right after it, because
// this shared VM's speed drifts by 20% or more over the minutes a whole run takes.
console.error("measuring reference ceilings …");
const signRs256Serial = await signCeiling("RS256", 1);
const trivial = await trivialServerRate();
console.error(`  RS256 one core ${signRs256Serial}/s; trivial HTTP ${Math.round(trivial)}/s`);

// ---- the service ------------------------------------------------------------------------------

const rows: Row[] = [];
for (
  const [name, alg, workload, workers] of [
    ["(a) all distinct, RS256", "RS256", distinctRs256Callers, 1],
    ["(b) CI fleet, RS256", "RS256", repeating(fleet), 1],
    ["(b) CI fleet, RS256, Workers: 2", "RS256", repeating(fleet), 2],
    ["(c) identical, RS256", "RS256", repeating(identical), 1],
    ["(c) identical, RS256, Workers: 2", "RS256", repeating(identical), 2],
    ["(a) all distinct, ES256", "ES256", distinctRs256Callers, 1],
    ["(a) all distinct, RS256, EdDSA callers", "RS256", distinctEdDsaCallers, 1],
    ["(a) all distinct, ES256, EdDSA callers", "ES256", distinctEdDsaCallers, 1],
  ] as const
) {
  if (WORKERS_ONLY && name.startsWith("(a)")) continue;
  console.error(`running ${name} …`);
  const key = alg === "RS256" ? RSA_KEY : ecKeyPath;
  const before = await adjacentCeilings(alg, workload.distinctCallers);
  const row = await scenario(name, key, workload, workers);
  const after = await adjacentCeilings(alg, workload.distinctCallers);
  rows.push({
    ...row,
    ceiling: (before.signing + after.signing) / 2,
    verifyAndSign: before.verifyAndSign && after.verifyAndSign
      ? (before.verifyAndSign + after.verifyAndSign) / 2
      : undefined,
  });
  console.error(`  ${JSON.stringify(rows.at(-1))}`);
}

let soak: string | undefined;
if (SOAK_SECONDS > 0) {
  console.error(`soak: (b) at half its saturation rate for ${SOAK_SECONDS}s …`);
  soak = await soakTest(fleet, rows.find((row) => row.name.startsWith("(b)"))!.rate / 2);
}

console.log(report());
await Deno.remove(dir, { recursive: true });

// ---- pieces -----------------------------------------------------------------------------------

interface Row {
  name: string;
  rate: number;
  /** In-process signatures/s with the scenario's key, the mean of before and after it. */
  ceiling: number;
  /** Likewise, each signature preceded by verifying a caller token: the bound for (a). */
  verifyAndSign?: number;
  p50: string;
  p99: string;
  p99Half: number;
  errors: number;
  peakRssMb: number;
  cpu: CpuShares;
}

async function scenario(
  name: string,
  keyPath: string,
  workload: Workload,
  workers = 1,
): Promise<Omit<Row, "ceiling" | "verifyAndSign">> {
  const service = await startService(keyPath, workers);
  try {
    // Warm-up, so that (c) measures the steady state rather than the first signature. For (a)
    // it uses a caller of the half-load set, which then starts one further on.
    const { lines } = workload;
    const distinct = workload.distinctCallers !== undefined;
    const halfLoadLines = distinct ? workload.halfLoadLines.slice(1) : workload.halfLoadLines;
    await fetchLine(service.port, workload.halfLoadLines[0]);
    const running = runWrk(service.port, lines, SECONDS);
    // Where the CPU goes at saturation, sampled in the middle of the run.
    await sleep(1_000);
    const pids = await service.pids();
    const cpuBefore = await cpuTicks(pids);
    await sleep(Math.max(1, SECONDS - 2) * 1_000);
    const cpu = cpuShares(cpuBefore, await cpuTicks(pids));
    const saturated = await running;
    if (distinct && saturated.requests > lines.length) {
      throw new Error(
        `wrk sent ${saturated.requests} requests but only ${lines.length} distinct callers were ` +
          "prepared; the scenario would have repeated callers",
      );
    }
    const halfRate = saturated.rate / 2;
    // A distinct workload stops early rather than repeat a caller.
    const halfSeconds = distinct
      ? Math.min(SHORT_SECONDS, halfLoadLines.length / halfRate)
      : SHORT_SECONDS;
    const half = await fixedRateLatency(service.port, halfLoadLines, halfRate, halfSeconds);
    return {
      name,
      rate: saturated.rate,
      p50: saturated.p50,
      p99: saturated.p99,
      p99Half: half,
      errors: saturated.errors,
      // With workers, the sum over the primary and every worker.
      peakRssMb: (await Promise.all(pids.map(peakRssMb))).reduce((sum, mb) => sum + mb, 0),
      cpu,
    };
  } finally {
    await service.stop();
  }
}

function startService(keyPath: string, workers = 1) {
  return startBenchService(dir, ISSUER, keyPath, workers);
}

/** `count` caller tokens from the bench Authority, signed with `alg`, subjects `<prefix>-<i>`. */
async function callerTokens(count: number, prefix: string, alg: CallerAlg): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let start = 0; start < count; start += 256) {
    const batch = Array.from(
      { length: Math.min(256, count - start) },
      (_, offset) =>
        new SignJWT({ scope: "registry.token.issue" })
          .setProtectedHeader({ alg, kid: alg })
          .setIssuer(ISSUER)
          .setSubject(`${prefix}-${start + offset}`)
          .setIssuedAt(now)
          .setExpirationTime(now + 3_600)
          .sign(authorityKeys[alg].privateKey),
    );
    tokens.push(...await Promise.all(batch));
  }
  return tokens;
}

/** `count` requests, each from its own caller for its own repository. */
async function distinctLines(count: number, prefix: string, alg: CallerAlg): Promise<string[]> {
  const tokens = await callerTokens(count, prefix, alg);
  return tokens.map((token, i) => requestLine(token, `${prefix}/repo-${i}`));
}

/** One prepared request: `path<TAB>authorization`, as bench/requests.lua reads them. */
function requestLine(token: string, repository: string): string {
  return `/token?service=${REGISTRY}&scope=repository:${repository}:pull\tBearer ${token}`;
}

async function runWrk(port: number, lines: readonly string[], seconds: number) {
  const requestsFile = `${dir}/requests-${port}.txt`;
  await Deno.writeTextFile(requestsFile, `${lines.join("\n")}\n`);
  const { stdout } = await new Deno.Command("wrk", {
    args: [
      `-t${WRK_THREADS}`,
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      "--latency",
      "-s",
      here("./requests.lua"),
      `http://127.0.0.1:${port}`,
    ],
    env: { REQUESTS: requestsFile, THREADS: String(WRK_THREADS) },
  }).output();
  const text = new TextDecoder().decode(stdout);
  const number = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    rate: number(/Requests\/sec:\s+([\d.]+)/),
    requests: number(/(\d+) requests in/),
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
  const { p99, errors } = await runFixedRate(dir, port, lines, rate, seconds, CONNECTIONS);
  if (errors) throw new Error(`${errors} requests failed at the fixed rate`);
  return p99;
}

async function fetchLine(port: number, line: string) {
  const [path, authorization] = line.split("\t");
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization } });
  await response.body?.cancel();
  if (response.status !== 200) throw new Error(`bench request failed with ${response.status}`);
}

/** The in-process ceilings for `alg`, and the verify+sign bound when callers are distinct. */
async function adjacentCeilings(alg: "RS256" | "ES256", distinctCallers?: CallerAlg) {
  return {
    signing: await signCeiling(alg, CONNECTIONS),
    verifyAndSign: distinctCallers && await signCeiling(alg, CONNECTIONS, distinctCallers),
  };
}

/** Signatures/s in-process; with `callerAlg`, each preceded by verifying such a signature. */
async function signCeiling(
  alg: "RS256" | "ES256",
  concurrency: number,
  callerAlg?: CallerAlg,
): Promise<number> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      here("./sign_ceiling.ts"),
      alg,
      String(concurrency),
      String(CEILING_SECONDS),
      ...callerAlg ? [callerAlg] : [],
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
  const { rate } = await runWrk(port, ["/\tBearer x"], SHORT_SECONDS);
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
    `machine: ${navigator.hardwareConcurrency} cores, ${cpu}; Deno ${Deno.version.deno}; wrk -t${WRK_THREADS} -c${CONNECTIONS}, ${SECONDS}s per scenario`,
    "",
    "reference ceilings (measured in this run):",
    `  RS256 signing in-process, one at a time (one core): ${signRs256Serial}/s`,
    `  trivial handler on the service transport: ${Math.round(trivial)} req/s`,
    `  per scenario, in-process with ${CONNECTIONS} in flight, before and after it: signing with its key,`,
    "  and for (a) each signature preceded by verifying a caller signature (verify+sign)",
    "",
    "| scenario | tokens/s | signing ceiling | vs signing ceiling | vs verify+sign | vs one-core RS256 | vs trivial HTTP | p50 | p99 | p99 at 50% load | errors | peak RSS |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) =>
      [
        row.name,
        Math.round(row.rate),
        `${Math.round(row.ceiling)}/s`,
        `${(row.rate / row.ceiling).toFixed(2)}×`,
        row.verifyAndSign ? `${(row.rate / row.verifyAndSign).toFixed(2)}×` : "–",
        `${(row.rate / signRs256Serial).toFixed(1)}×`,
        `${(row.rate / trivial).toFixed(2)}×`,
        row.p50,
        row.p99,
        `${row.p99Half.toFixed(2)}ms`,
        row.errors,
        `${row.peakRssMb.toFixed(0)} MB`,
      ].join(" | ")
    ).map((cells) => `| ${cells} |`),
  ];
  lines.push(
    "",
    `cores in use at saturation (of ${navigator.hardwareConcurrency}), sampled mid-run:`,
    "",
    "| scenario | service main thread(s) | signing threads | other service threads | rest of machine (wrk), approx. | idle |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map(({ name, cpu }) =>
      `| ${name} | ${
        [cpu.main, cpu.signing, cpu.otherThreads, cpu.elsewhere, cpu.idle]
          .map((cores) => cores.toFixed(2)).join(" | ")
      } |`
    ),
  );
  lines.push(
    "",
    "Server:Workers 2 against 1 (the same workload, the same run):",
    "",
    ...(["(b)", "(c)"] as const).map((scenario) => {
      const [one, two] = [1, 2].map((workers) =>
        rows.find((row) =>
          row.name.startsWith(scenario) && row.name.endsWith(", Workers: 2") === (workers === 2)
        )!
      );
      return `- ${scenario}: ${Math.round(one.rate)} → ${Math.round(two.rate)} tokens/s, ${
        (two.rate / one.rate).toFixed(2)
      }×`;
    }),
  );
  if (soak) lines.push("", soak);
  return lines.join("\n");
}
