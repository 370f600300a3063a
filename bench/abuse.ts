/**
 * `deno task bench --abuse`: what valid callers see while unauthenticated clients attack.
 *
 * One service process (default config, production permission set) on loopback. Each scenario
 * runs a fixed-rate stream of valid callers (`bench/fixed_rate.ts`, cached caller tokens) for
 * `seconds`, beside one attack from this process, and reports the valid callers' p50/p99 and
 * errors and the service's peak RSS; the quiet baseline runs first, in the same run. Attacks
 * are bounded in connections and time and stop by themselves:
 *
 * - slowloris: connections that send a header block and never finish it, reopened when closed;
 * - unfinished bodies: `POST /token` announcing 60,000 bytes and sending 30,000;
 * - h2c: HTTP/2 prior-knowledge prefaces, again and again;
 * - idle: connections that send nothing;
 * - bad credentials: a loop of distinct forged tokens, an expired token and garbage.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { rssMb } from "./proc.ts";
import { runFixedRate, startBenchService } from "./service.ts";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const ISSUER = "https://authority.bench";
const REGISTRY = "registry.bench";
const RSA_KEY = here("../tests/fixtures/keys/rsa.key-and-cert.pem");
/** Valid callers per second during every scenario. */
const VALID_RATE = 200;
/** Connections an attack holds at once (below the default Server:MaxConnections of 1024). */
const ATTACK_CONNECTIONS = 800;

/** One row of the report. */
interface AbuseRow {
  readonly scenario: string;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly peakRss: number;
  readonly attack: string;
}

/** Runs every scenario for `seconds` each and prints the table. */
export async function runAbuseBench(seconds: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-abuse-" });
  const genuine = await generateKeyPair("RS256");
  const impostor = await generateKeyPair("RS256");
  await Deno.writeTextFile(
    `${dir}/authority-jwks.json`,
    JSON.stringify({ keys: [{ ...await exportJWK(genuine.publicKey), kid: "k", alg: "RS256" }] }),
  );
  const sign = (key: CryptoKey, subject: string, exp: number) =>
    new SignJWT({ scope: "registry.token.issue" })
      .setProtectedHeader({ alg: "RS256", kid: "k" })
      .setIssuer(ISSUER).setSubject(subject).setIssuedAt().setExpirationTime(exp)
      .sign(key);
  const now = Math.floor(Date.now() / 1000);
  const callers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => sign(genuine.privateKey, `valid-${i}`, now + 3600)),
  );
  const valid = callers.flatMap((token, i) =>
    Array.from(
      { length: 10 },
      (_, repo) =>
        `/token?service=${REGISTRY}&scope=repository:team/app-${(i + repo) % 10}:pull\t${
          basic(token)
        }`,
    )
  );
  const forged = await Promise.all(
    Array.from({ length: 400 }, (_, i) => sign(impostor.privateKey, `forged-${i}`, now + 3600)),
  );
  const badCredentials = [
    ...forged,
    await sign(genuine.privateKey, "expired", now - 600),
    "garbage",
  ].map(basic);

  const service = await startBenchService(dir, ISSUER, RSA_KEY);
  console.error(`abuse bench: ${seconds}s per scenario, valid callers at ${VALID_RATE}/s`);
  const attacks: [string, (port: number, signal: AbortSignal) => Promise<string>][] = [
    ["quiet baseline", () => Promise.resolve("none")],
    [
      "slowloris",
      (port, signal) => holdConnections(port, signal, "GET /healthz HTTP/1.1\r\nHost: x\r\n"),
    ],
    [
      "unfinished bodies",
      (port, signal) =>
        holdConnections(
          port,
          signal,
          "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
            `Content-Length: 60000\r\n\r\n${"a".repeat(30_000)}`,
        ),
    ],
    [
      "h2c prefaces",
      (port, signal) => holdConnections(port, signal, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ],
    ["idle connections", (port, signal) => holdConnections(port, signal, "")],
    ["bad credentials", (port, signal) => floodBadCredentials(port, signal, badCredentials)],
  ];
  const rows: AbuseRow[] = [];
  let exitCode: number;
  try {
    for (const [scenario, attack] of attacks) {
      const stop = new AbortController();
      let peakRss = await rssMb(service.pid);
      const sampler = setInterval(async () => {
        peakRss = Math.max(peakRss, await rssMb(service.pid).catch(() => 0));
      }, 250);
      const attacking = attack(service.port, stop.signal);
      await sleep(500);
      const measured = await runFixedRate(dir, service.port, valid, VALID_RATE, seconds, 8);
      stop.abort();
      const summary = await attacking;
      clearInterval(sampler);
      rows.push({ scenario, ...measured, peakRss, attack: summary });
      console.error(`  ${scenario}: p99 ${measured.p99.toFixed(1)} ms, peak RSS ${peakRss} MB`);
      await sleep(1500);
    }
  } finally {
    exitCode = await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
  if (exitCode !== 0) throw new Error(`the service exited ${exitCode} after the abuse bench`);
  console.log(report(rows));
}

function basic(token: string): string {
  return `Basic ${btoa(`oauth2accesstoken:${token}`)}`;
}

/** Keeps `ATTACK_CONNECTIONS` connections open, each having sent `bytes`, until `signal`. */
async function holdConnections(port: number, signal: AbortSignal, bytes: string) {
  const payload = new TextEncoder().encode(bytes);
  let opened = 0;
  const holder = async () => {
    while (!signal.aborted) {
      let connection: Deno.Conn | undefined;
      try {
        connection = await Deno.connect({ hostname: "127.0.0.1", port });
        opened++;
        if (payload.length) await connection.write(payload);
        // Held until the service closes it (a deadline) or the scenario ends.
        const buffer = new Uint8Array(4096);
        const closed = (async () => {
          while (await connection!.read(buffer) !== null);
        })().catch(() => {});
        await Promise.race([
          closed,
          new Promise((resolve) => signal.addEventListener("abort", resolve)),
        ]);
      } catch {
        await sleep(100);
      } finally {
        try {
          connection?.close();
        } catch { /* closed by the service */ }
      }
    }
  };
  await Promise.all(Array.from({ length: ATTACK_CONNECTIONS }, holder));
  return `${ATTACK_CONNECTIONS} held, ${opened} opened`;
}

/** Four loops sending bad credentials back to back until `signal`. */
async function floodBadCredentials(port: number, signal: AbortSignal, credentials: string[]) {
  const statuses = new Map<number, number>();
  const loop = async (offset: number) => {
    for (let i = offset; !signal.aborted; i += 4) {
      const response = await fetch(`http://127.0.0.1:${port}/token?service=${REGISTRY}`, {
        headers: { authorization: credentials[i % credentials.length] },
      }).catch(() => undefined);
      await response?.body?.cancel();
      const status = response?.status ?? 0;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all([0, 1, 2, 3].map(loop));
  return [...statuses].map(([status, count]) => `${count}×${status}`).join(" ");
}

function report(rows: readonly AbuseRow[]): string {
  const quiet = rows[0];
  const lines = [
    "| scenario | valid p50 ms | valid p99 ms | p99 vs quiet | errors | peak RSS MB | attack |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) =>
      `| ${row.scenario} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${
        (row.p99 / quiet.p99).toFixed(2)
      }× | ${row.errors} | ${row.peakRss.toFixed(0)} | ${row.attack} |`
    ),
  ];
  return lines.join("\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
