import assert from "node:assert/strict";
import { basic, createTestAuthority } from "../support/authority.ts";
import { MAIN, productionFlags, spawnDeno, writeConfig } from "../support/process.ts";
import { SIGNING_KEY_PATH } from "../support/service.ts";
import { runFixedRate } from "../../bench/service.ts";

/**
 * Shortened soak for CI; the full one is `deno task bench --soak 180` (docs/performance.md).
 * Long enough for V8's first full collection (about 20 s in at this rate), before which RSS
 * climbs whether or not anything leaks.
 */
const SECONDS = 45;
/**
 * Highest RSS accepted at any point. RSS climbs until V8's first full collection, which came at
 * 145–162 MB in this test's runs (the highest in runs of the whole suite), and settles at ~122 MB
 * after it; a leak is what the last-third check below catches.
 */
const PEAK_MB = 175;
const RATE = 400;

Deno.test(`a ${SECONDS}s soak at a steady ${RATE} req/s has no errors and flat memory`, async () => {
  const authority = await createTestAuthority("https://authority.test");
  const dir = await Deno.makeTempDir({ prefix: "registry-token-soak-" });
  await Deno.writeTextFile(`${dir}/authority-jwks.json`, JSON.stringify(authority.jwks));
  const config = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 0 },
      Authority: { Issuer: authority.issuer, JwksPath: `${dir}/authority-jwks.json` },
      Signing: { Issuer: "registry-token-soak", KeyPath: SIGNING_KEY_PATH },
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "*", Actions: ["pull", "push"] }] }],
      DefaultPlan: "ci",
    },
  }, dir);
  // A CI fleet: 20 callers, 50 repositories, every combination a different request.
  const now = Math.floor(Date.now() / 1000);
  const callers = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => authority.token({ claims: { sub: `runner-${i}`, iat: now, exp: now + 600 } }),
    ),
  );
  const lines = callers.flatMap((token, i) =>
    Array.from(
      { length: 50 },
      (_, repo) =>
        `/token?service=registry.soak&scope=repository:team/app-${(repo + i) % 50}:pull\t${
          basic(token)
        }`,
    )
  );

  const service = spawnDeno(await productionFlags(config), MAIN, ["--config", config]);
  try {
    const { port } = await service.waitForLog("listening");
    const pid = service.child.pid;
    const samples: number[] = [];
    const sampler = setInterval(async () => samples.push(await rssMb(pid)), 2_000);
    const result = await runFixedRate(dir, Number(port), lines, RATE, SECONDS, 8);
    clearInterval(sampler);
    assert.equal(result.errors, 0);
    assert.equal(result.sent, RATE * SECONDS);
    // A leak keeps setting new highs; garbage waiting for a collection does not, once collected.
    const split = Math.floor((samples.length * 2) / 3);
    const earlier = Math.max(...samples.slice(0, split));
    const late = Math.max(...samples.slice(split));
    const trace = samples.map((mb) => mb.toFixed(0)).join(", ");
    assert.ok(late <= earlier + 5, `RSS still rising in the last third: ${trace}`);
    assert.ok(Math.max(...samples) < PEAK_MB, `RSS above ${PEAK_MB} MB: ${trace}`);
  } finally {
    assert.equal((await service.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
});

async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
}
