/**
 * Load benchmark: runs the real service (production permission set, real keys) on loopback,
 * drives `GET /token` with wrk, and measures the reference ceilings side by side in the same
 * run: the runtime's in-process signing rate and a trivial handler on the service's transport.
 *
 * Scenarios: (a) every request from a different caller for a different repository, (b) a CI
 * fleet (few identities, repeated scopes), (c) one identical request repeated — (b) and (c) also
 * with `Server:Workers: 2`, reported as a ratio to one process; (a) again with an ES256 and an
 * Ed25519 signing key, and all three (a)s with EdDSA instead of RS256 caller tokens. Each runs for
 * a bounded time and everything stops by itself. Besides rates, latencies and memory, it reports
 * where the cores went at saturation.
 *
 * (a)'s callers are never repeated: its pool is sized from the in-process verify+sign rate
 * measured right before it (which the service, doing that and more, cannot beat), and should the
 * service outrun even that, `wrk` stops when the pool runs out and the row says so. A scenario
 * that fails is reported as failed; the others still run.
 *
 * Usage: deno task bench [--seconds 8] [--connections 32] [--soak 0] [--workers-only]
 *                         [--only "NAME|…"]   (only the scenarios whose name contains one)
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
    // Only the scenarios whose name contains one of these (separated by "|"), e.g. "Ed25519".
    only: { type: "string", default: "" },
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

/**
 * An (a) pool holds this many times the verify+sign rate measured before it, per second of load:
 * the service cannot beat that rate, but this VM's speed drifts between the measurement and the
 * load (a 1.25 margin once ran out).
 */
const POOL_MARGIN = 1.5;

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
/** Signing keys by the algorithm they sign with (ES256 and Ed25519 fresh for the run). */
type KeyAlg = "RS256" | "ES256" | "EdDSA";
const signingKeys: Record<KeyAlg, string> = {
  RS256: RSA_KEY,
  ES256: await writeKey({ name: "ECDSA", namedCurve: "P-256" }, "es256"),
  EdDSA: await writeKey({ name: "Ed25519" }, "ed25519"),
};
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
 * What a scenario sends: the same lines over and over, or (a) a line per request from pools of
 * distinct callers whose tokens are signed with `callers`, each of which a request must verify.
 */
type Workload = { lines: readonly string[]; distinct?: never } | { distinct: CallerAlg };
const repeating = (lines: readonly string[]): Workload => ({ lines });
const WORKERS_ONLY = values["workers-only"];
const ONLY = values.only.split("|").map((part) => part.trim()).filter(Boolean);

/**
 * Pools of requests, each from its own caller for its own repository, by caller algorithm and
 * subject prefix; minted as a scenario needs more, and shared by scenarios (each of which starts
 * a fresh service, with empty caches).
 */
const pools = new Map<string, string[]>();

// ---- reference ceilings -----------------------------------------------------------------------

// The signing ceilings of each scenario are measured right before and right after it, because
// this shared VM's speed drifts by 20% or more over the minutes a whole run takes.
console.error("measuring reference ceilings …");
const signRs256Serial = await signCeiling("RS256", 1);
const trivial = await trivialServerRate();
console.error(`  RS256 one core ${signRs256Serial}/s; trivial HTTP ${Math.round(trivial)}/s`);

// ---- the service ------------------------------------------------------------------------------

const rows: Row[] = [];
const failed: string[] = [];
const rs256Callers: Workload = { distinct: "RS256" };
const edDsaCallers: Workload = { distinct: "EdDSA" };
for (
  const [name, alg, workload, workers] of [
    ["(a) all distinct, RS256", "RS256", rs256Callers, 1],
    ["(b) CI fleet, RS256", "RS256", repeating(fleet), 1],
    ["(b) CI fleet, RS256, Workers: 2", "RS256", repeating(fleet), 2],
    ["(c) identical, RS256", "RS256", repeating(identical), 1],
    ["(c) identical, RS256, Workers: 2", "RS256", repeating(identical), 2],
    ["(a) all distinct, ES256", "ES256", rs256Callers, 1],
    ["(a) all distinct, Ed25519", "EdDSA", rs256Callers, 1],
    ["(a) all distinct, RS256, EdDSA callers", "RS256", edDsaCallers, 1],
    ["(a) all distinct, ES256, EdDSA callers", "ES256", edDsaCallers, 1],
    ["(a) all distinct, Ed25519, EdDSA callers", "EdDSA", edDsaCallers, 1],
    // Once signing is cheap the main thread is the bound; a second worker brings the other core.
    ["(a) all distinct, RS256, Workers: 2", "RS256", rs256Callers, 2],
    ["(a) all distinct, Ed25519, Workers: 2", "EdDSA", rs256Callers, 2],
    ["(a) all distinct, Ed25519, EdDSA callers, Workers: 2", "EdDSA", edDsaCallers, 2],
  ] as const
) {
  if (WORKERS_ONLY && name.startsWith("(a)")) continue;
  if (ONLY.length && !ONLY.some((part) => name.includes(part))) continue;
  console.error(`running ${name} …`);
  try {
    const before = await adjacentCeilings(alg, workload.distinct);
    const row = await scenario(name, signingKeys[alg], workload, workers, before.verifyAndSign);
    const after = await adjacentCeilings(alg, workload.distinct);
    const mean = (key: "signing" | "verifyAndSign" | "verify") =>
      before[key] && after[key] ? (before[key] + after[key]) / 2 : undefined;
    rows.push({
      ...row,
      ceiling: mean("signing")!,
      verifyAndSign: mean("verifyAndSign"),
      verify: mean("verify"),
    });
    console.error(`  ${JSON.stringify(rows.at(-1))}`);
  } catch (error) {
    // One scenario's failure is reported; it never costs the others their run.
    failed.push(`${name}: ${(error as Error).message}`);
    console.error(`  failed: ${(error as Error).message}`);
  }
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
  /** Likewise, caller-token verifications alone: the bound for (a) once signing is cheap. */
  verify?: number;
  /** For (a): distinct callers prepared, and whether `wrk` ran out of them before the end. */
  pool?: { size: number; ranOut: boolean; repeated: number };
  p50: string;
  p99: string;
  p99Half: number;
  errors: number;
  peakRssMb: number;
  cpu: CpuShares;
}

/**
 * Runs one scenario on a fresh service. For (a), `verifyAndSign` (the in-process rate measured
 * just before) sizes the pool of distinct callers, and the half-load set is sized from the rate
 * then measured, so neither ever repeats a caller (whose verified token would be cached).
 */
async function scenario(
  name: string,
  keyPath: string,
  workload: Workload,
  workers: number,
  verifyAndSign?: number,
): Promise<Omit<Row, "ceiling" | "verifyAndSign" | "verify">> {
  const callers = workload.distinct;
  const lines = callers === undefined
    ? workload.lines!
    : await distinctLines(callers, "user", Math.ceil(verifyAndSign! * SECONDS * POOL_MARGIN));
  const service = await startService(keyPath, workers);
  try {
    // Warm-up, so that (c) measures the steady state rather than the first signature; for (a)
    // by a caller of its own, found in neither pool.
    await fetchLine(service.port, callers ? (await warmUpLine(callers)) : lines[0]);
    const running = runWrk(service.port, lines, SECONDS, callers !== undefined);
    // Where the CPU goes at saturation, sampled in the middle of the run.
    await sleep(1_000);
    const pids = await service.pids();
    const cpuBefore = await cpuTicks(pids);
    await sleep(Math.max(1, SECONDS - 2) * 1_000);
    const cpu = cpuShares(cpuBefore, await cpuTicks(pids));
    const saturated = await running;
    const halfRate = saturated.rate / 2;
    const halfLoadLines = callers === undefined
      ? lines
      : await distinctLines(callers, "late-user", Math.ceil(halfRate * SHORT_SECONDS) + 1);
    const half = await fixedRateLatency(service.port, halfLoadLines, halfRate, SHORT_SECONDS);
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
      ...callers && {
        pool: {
          size: lines.length,
          ranOut: saturated.requests + saturated.repeated >= lines.length - CONNECTIONS,
          repeated: saturated.repeated,
        },
      },
    };
  } finally {
    await service.stop();
  }
}

function startService(keyPath: string, workers = 1) {
  return startBenchService(dir, ISSUER, keyPath, workers);
}

/**
 * `count` caller tokens from the bench Authority, signed with `alg`, subjects `<prefix>-<i>` from
 * `first` on.
 */
async function callerTokens(
  count: number,
  prefix: string,
  alg: CallerAlg,
  first = 0,
): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let start = first; start < first + count; start += 256) {
    const batch = Array.from(
      { length: Math.min(256, first + count - start) },
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

/** The first `count` requests of the `alg`/`prefix` pool, minting what is missing. */
async function distinctLines(alg: CallerAlg, prefix: string, count: number): Promise<string[]> {
  const key = `${alg}-${prefix}`;
  const pool = pools.get(key) ?? [];
  pools.set(key, pool);
  if (pool.length < count) {
    console.error(`  minting ${count - pool.length} ${alg} caller tokens (${key}) …`);
    const tokens = await callerTokens(count - pool.length, key, alg, pool.length);
    // One push per line: spreading 100,000 of them into one call overflows the stack.
    for (const token of tokens) pool.push(requestLine(token, `${key}/repo-${pool.length}`));
  }
  return pool.slice(0, count);
}

/** A distinct caller of `alg` used only to warm a service up. */
async function warmUpLine(alg: CallerAlg): Promise<string> {
  return (await distinctLines(alg, "warm-up", 1))[0];
}

/** One prepared request: `path<TAB>authorization`, as bench/requests.lua reads them. */
function requestLine(token: string, repository: string): string {
  return `/token?service=${REGISTRY}&scope=repository:${repository}:pull\tBearer ${token}`;
}

/** `wrk` sending `lines`; with `once`, never a line twice (it stops when they run out). */
async function runWrk(port: number, lines: readonly string[], seconds: number, once = false) {
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
    env: { REQUESTS: requestsFile, THREADS: String(WRK_THREADS), ONCE: once ? "1" : "0" },
  }).output();
  const text = new TextDecoder().decode(stdout);
  const number = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    rate: number(/Requests\/sec:\s+([\d.]+)/),
    requests: number(/(\d+) requests in/),
    p50: /^\s+50%\s+(\S+)/m.exec(text)?.[1] ?? "?",
    p99: /^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? "?",
    errors: number(/Non-2xx or 3xx responses:\s+(\d+)/) + number(/Socket errors:.*?(\d+)/),
    repeated: number(/repeated requests: (\d+)/),
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

/**
 * The in-process ceilings for `alg`, and when callers are distinct the verify+sign bound and the
 * verification of their tokens alone.
 */
async function adjacentCeilings(alg: KeyAlg, distinctCallers?: CallerAlg) {
  return {
    signing: await signCeiling(alg, CONNECTIONS),
    verifyAndSign: distinctCallers && await signCeiling(alg, CONNECTIONS, distinctCallers),
    verify: distinctCallers && await signCeiling("none", CONNECTIONS, distinctCallers),
  };
}

/**
 * Signatures/s in-process; with `callerAlg`, each preceded by verifying such a signature (with
 * `none`, verifications/s alone).
 */
async function signCeiling(
  alg: KeyAlg | "none",
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

/** A fresh signing key of `algorithm`, written as PKCS#8 PEM to `dir/signing-<name>.pem`. */
async function writeKey(algorithm: EcKeyGenParams | Algorithm, name: string): Promise<string> {
  const { privateKey } = await crypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const path = `${dir}/signing-${name}.pem`;
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
  const ratio = (value: number, to?: number) => to ? `${(value / to).toFixed(2)}×` : "–";
  const lines = [
    `machine: ${navigator.hardwareConcurrency} cores, ${cpu}; Deno ${Deno.version.deno}; wrk -t${WRK_THREADS} -c${CONNECTIONS}, ${SECONDS}s per scenario`,
    "",
    "reference ceilings (measured in this run):",
    `  RS256 signing in-process, one at a time (one core): ${signRs256Serial}/s`,
    `  trivial handler on the service transport: ${Math.round(trivial)} req/s`,
    `  per scenario, in-process with ${CONNECTIONS} in flight, before and after it: signing with its key;`,
    "  for (a) also each signature preceded by verifying a caller signature (verify+sign), and the",
    "  caller signatures' verification alone (verify)",
    "",
    "| scenario | tokens/s | signing ceiling | vs signing ceiling | verify+sign | vs verify+sign | verify | vs verify | vs one-core RS256 | vs trivial HTTP | p50 | p99 | p99 at 50% load | errors | peak RSS | callers |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) =>
      [
        row.name,
        Math.round(row.rate),
        `${Math.round(row.ceiling)}/s`,
        ratio(row.rate, row.ceiling),
        row.verifyAndSign ? `${Math.round(row.verifyAndSign)}/s` : "–",
        ratio(row.rate, row.verifyAndSign),
        row.verify ? `${Math.round(row.verify)}/s` : "–",
        ratio(row.rate, row.verify),
        `${(row.rate / signRs256Serial).toFixed(1)}×`,
        ratio(row.rate, trivial),
        row.p50,
        row.p99,
        `${row.p99Half.toFixed(2)}ms`,
        row.errors,
        `${row.peakRssMb.toFixed(0)} MB`,
        poolText(row),
      ].join(" | ")
    ).map((cells) => `| ${cells} |`),
  ];
  lines.push(
    "",
    `cores in use at saturation (of ${navigator.hardwareConcurrency}), sampled mid-run:`,
    "",
    "| scenario | service main thread(s) | signing and verifying threads | other service threads | rest of machine (wrk), approx. | idle |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map(({ name, cpu }) =>
      `| ${name} | ${
        [cpu.main, cpu.signing, cpu.otherThreads, cpu.elsewhere, cpu.idle]
          .map((cores) => cores.toFixed(2)).join(" | ")
      } |`
    ),
  );
  const row = (name: string) => rows.find((row) => row.name === name);
  const comparisons: [string, Row | undefined, Row | undefined][] = [
    ["(b)", row("(b) CI fleet, RS256"), row("(b) CI fleet, RS256, Workers: 2")],
    ["(c)", row("(c) identical, RS256"), row("(c) identical, RS256, Workers: 2")],
    ...["RS256", "Ed25519", "Ed25519, EdDSA callers"].map((
      key,
    ): [string, Row | undefined, Row | undefined] => [
      `(a) ${key}`,
      row(`(a) all distinct, ${key}`),
      row(`(a) all distinct, ${key}, Workers: 2`),
    ]),
  ];
  lines.push(
    "",
    "Server:Workers 2 against 1 (the same workload, the same run):",
    "",
    ...comparisons.map(([scenario, one, two]) =>
      one && two
        ? `- ${scenario}: ${Math.round(one.rate)} → ${Math.round(two.rate)} tokens/s, ${
          ratio(two.rate, one.rate)
        }`
        : `- ${scenario}: not measured`
    ),
  );
  const targets = [1, 2].flatMap((workers) => {
    const suffix = workers > 1 ? `, Workers: ${workers}` : "";
    const rsa = row(`(a) all distinct, RS256${suffix}`);
    const edEd = row(`(a) all distinct, Ed25519, EdDSA callers${suffix}`);
    const edRs = row(`(a) all distinct, Ed25519${suffix}`);
    if (!rsa || !edEd || !edRs) return [];
    return [
      `- Server:Workers ${workers}: (a) Ed25519 key, EdDSA callers against (a) RS256 key: ${
        Math.round(edEd.rate)
      } / ${Math.round(rsa.rate)} = ${ratio(edEd.rate, rsa.rate)} (target ≥ 10×)`,
      `- Server:Workers ${workers}: (a) Ed25519 key, RS256 callers against the in-process RS256 ` +
      `verification ceiling: ${Math.round(edRs.rate)} / ${Math.round(edRs.verify ?? 0)} = ${
        ratio(edRs.rate, edRs.verify)
      } (target ≥ 0.8×)`,
      `- Server:Workers ${workers}: p99 at 50% load: ${edRs.p99Half.toFixed(2)} ms with RS256 ` +
      `callers, ${edEd.p99Half.toFixed(2)} ms with EdDSA callers (target < 10 ms)`,
    ];
  });
  if (targets.length) {
    lines.push("", "Ed25519 signing key against the targets (the same run):", "", ...targets);
  }
  if (failed.length) {
    lines.push(
      "",
      "failed scenarios (the others ran):",
      ...failed.map((f) => `- ${f}`),
    );
  }
  if (soak) lines.push("", soak);
  return lines.join("\n");
}

/** What the distinct callers of (a) were: how many, and whether the load ran out of them. */
function poolText({ pool }: Row): string {
  if (!pool) return "repeating";
  const repeated = pool.repeated ? `, ${pool.repeated} repeated while stopping` : "";
  return pool.ranOut
    ? `pool of ${pool.size} ran out before ${SECONDS}s: rate is a lower bound${repeated}`
    : `${pool.size} distinct, none repeated`;
}
