/**
 * `deno task bench --state-cost`: what a Redis round trip adds to a DPoP-bound token request.
 * The same in-process service (no HTTP, so the difference is the state store's) answers the
 * same kind of request — a fresh proof each time, its nonce-free replay record written — with
 * `State:Backend: memory` and with `redis` against a real `redis-server` on loopback,
 * alternating in blocks so that both see the same machine.
 *
 * @module
 */

import { createTestAuthority, NOW_SECONDS } from "../tests/support/authority.ts";
import { createDpopKey, dpopProof, jwkThumbprint } from "../tests/support/dpop.ts";
import { startRedis } from "../tests/support/redis.ts";
import { REGISTRY, startTestService, type TestService } from "../tests/support/service.ts";

const BLOCKS = 10;
const PER_BLOCK = 200;
const HTU = "https://tokens.test/token";

/** p50 and p99 latency, in milliseconds, of DPoP token requests with each backend. */
export async function runStateCostBench(): Promise<void> {
  const authority = await createTestAuthority();
  const key = await createDpopKey();
  const token = await authority.token({
    claims: { cnf: { jkt: await jwkThumbprint(key.publicJwk) }, exp: NOW_SECONDS + 3600 },
  });
  const redis = await startRedis();
  const dpop = {
    Authority: {
      Issuer: authority.issuer,
      JwksPath: "memory:authority-jwks.json",
      SenderConstraint: "dpop",
      DPoP: { ReplayCacheSize: 1_000_000 },
    },
    Server: { PublicBaseUrl: "https://tokens.test" },
    Plans: [{ Name: "ci", Repositories: [{ Pattern: "*", Actions: ["pull"] }] }],
    DefaultPlan: "ci",
  };
  const services: Record<string, TestService> = {
    memory: await startTestService(authority, dpop),
    redis: await startTestService(authority, {
      ...dpop,
      State: { Backend: "redis", Address: redis.address },
    }),
  };
  const samples: Record<string, number[]> = { memory: [], redis: [] };
  try {
    for (let block = 0; block < BLOCKS; block++) {
      for (const [backend, service] of Object.entries(services)) {
        // Proofs are made before timing: signing one is the client's cost, not the service's.
        const proofs = await Promise.all(
          Array.from(
            { length: PER_BLOCK },
            () => dpopProof(key, { htm: "GET", htu: HTU, accessToken: token, iat: NOW_SECONDS }),
          ),
        );
        for (const proof of proofs) {
          const started = performance.now();
          const answer = await service.request(
            `/token?service=${REGISTRY}&scope=repository:a:pull`,
            {
              headers: { authorization: `DPoP ${token}`, dpop: proof },
            },
          );
          await answer.arrayBuffer();
          if (answer.status !== 200) throw new Error(`${backend}: ${answer.status}`);
          samples[backend].push(performance.now() - started);
          if (service.logs.length > 1_000) service.logs.length = 0;
        }
      }
    }
  } finally {
    for (const service of Object.values(services)) await service.close();
    await redis.stop();
  }
  const quantile = (values: number[], q: number) =>
    [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
  const line = (backend: string) => {
    const values = samples[backend];
    return `| ${backend} | ${values.length} | ${quantile(values, 0.5).toFixed(2)} ms | ${
      quantile(values, 0.99).toFixed(2)
    } ms |`;
  };
  console.log("DPoP-bound token requests, in process, one at a time, a fresh proof each:\n");
  console.log("| State:Backend | requests | p50 | p99 |\n| --- | --- | --- | --- |");
  console.log([line("memory"), line("redis")].join("\n"));
  const delta = (q: number) => quantile(samples.redis, q) - quantile(samples.memory, q);
  console.log(
    `\nRedis adds ${delta(0.5).toFixed(2)} ms at p50 and ${delta(0.99).toFixed(2)} ms at p99.`,
  );
}
