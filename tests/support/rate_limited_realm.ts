/**
 * A token realm on loopback that answers every request with the service's own `429
 * rate_limited`: the status, headers and body the service's pipeline renders, captured from an
 * in-process service whose budget a flood of forged tokens used up. It shows what real clients
 * print for a rate limit. The service process gives a client `429` only while more than
 * `MAX_WAITING_CHECKS` failed checks of that client queue, which a client's one request cannot be
 * made to meet on cue; the answer it would get is this one.
 *
 * @module
 */

import assert from "node:assert/strict";
import { basic, forgedTokens, type TestAuthority } from "./authority.ts";
import { REGISTRY, startTestService } from "./service.ts";

/** What the service answers a rate-limited client. */
export interface CapturedAnswer {
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: string;
}

/** Floods an in-process service with forged tokens until it answers `429`, and returns that. */
export async function serviceRateLimitAnswer(authority: TestAuthority): Promise<CapturedAnswer> {
  const service = await startTestService(authority, {
    Server: { FailedAuthLimit: { Burst: 1, PerMinute: 1 } },
  });
  const answers = await Promise.all(
    (await forgedTokens(authority, 40)).map((token) =>
      service.request(`/token?service=${REGISTRY}`, { headers: { authorization: basic(token) } }, {
        remoteAddress: "127.0.0.1",
      })
    ),
  );
  const limited = answers.find((answer) => answer.status === 429);
  assert.ok(limited, `the flood got no 429: ${answers.map((answer) => answer.status)}`);
  const captured = {
    status: limited.status,
    headers: [...limited.headers],
    body: await limited.text(),
  };
  await Promise.all(
    answers.filter((answer) => answer !== limited).map((answer) => answer.body?.cancel()),
  );
  await service.close();
  return captured;
}

/** A running realm that answers every request with one captured answer. */
export interface ReplayRealm {
  readonly realm: string;
  /** How many requests it answered. */
  readonly requests: () => number;
  stop(): Promise<void>;
}

/** Serves `answer` to every request at `http://127.0.0.1:<port>/token`. */
export function startReplayRealm(answer: CapturedAnswer): Promise<ReplayRealm> {
  let requests = 0;
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) =>
        resolve({
          realm: `http://127.0.0.1:${port}/token`,
          requests: () => requests,
          stop: () => server.shutdown(),
        }),
    }, async (request) => {
      requests++;
      await request.body?.cancel();
      return new Response(answer.body, { status: answer.status, headers: answer.headers });
    });
  });
}
