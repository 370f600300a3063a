/**
 * The Redis (or Valkey) backend of the shared state, through the maintained `@redis/client`
 * (node-redis's core, no dependencies of its own; see docs/operations.md#shared-state).
 *
 * - DPoP replay records: a Lua script per proof — atomic, so of any number of processes
 *   presenting the same proof at once exactly one sees it fresh. It also keeps the memory
 *   backend's bounds (each caller at most a tenth of the records, all callers at most
 *   `capacity`) and detects a backend that lost its data (see `REPLAY_SCRIPT`).
 * - DPoP nonces: one per nonce epoch, `SET key nonce NX PX ms GET` — the first process to ask
 *   for an epoch's nonce chooses it, every other one reads the same; each process caches the
 *   nonces it has handed out, and asks the backend about any other.
 * - The failure budget's buckets: a Lua script per operation, so take-if-available and refill
 *   are atomic across processes.
 *
 * Every operation is bounded by `State:Timeout`. When the backend is unreachable or slow, the
 * replay cache and the nonces fail closed (`503 state_unavailable`), the buckets fall back to
 * this process's own (counted in `registry_token_state_fallbacks_total`), and the outage is
 * logged once. The client reconnects by itself; nothing needs a restart.
 *
 * Slightly over 300 lines on purpose: the three stores share one connection, one timeout and one
 * outage state, and split apart they would pass all three between files.
 *
 * @module
 */

import { createClient } from "@redis/client";
import type { NonceSource, ReplayCache } from "../authn/dpop.ts";
import { ROOT_KEY } from "../config/document.ts";
import { ConfigError } from "../config/error.ts";
import { Denial } from "../denial.ts";
import { errorMessage } from "../error_message.ts";
import { type BucketStore, createMemoryBuckets } from "../http/failure_limit.ts";
import type { Logger } from "../observability/logger.ts";
import type { TokenMetrics } from "../observability/metrics.ts";
import type { StateOptions } from "./options.ts";
import type { SharedState } from "./shared.ts";

/** What opening the backend needs. */
export interface RedisStateIo {
  readonly readFile: (path: string) => Promise<Uint8Array>;
  readonly logger: Logger;
  readonly metrics: Pick<TokenMetrics, "stateFallback" | "stateDataLost">;
  /** A fresh random identifier (names the replay records' generation). */
  readonly randomId: () => string;
}

/** The backend did not answer within `State:Timeout`, or is not connected. */
class StateUnavailable extends Error {
  override readonly name = "StateUnavailable";
}

/** Seconds a refused DPoP request is told to wait. */
const RETRY_AFTER_SECONDS = 1;

/**
 * How long before the replay records began a proof may have been made and still be accepted:
 * after a data loss, the window in which a proof used just before could be replayed once.
 */
const PREDATES_GRACE_MS = 2_000;

/** Longest wait between two reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 1_000;

/**
 * One token-bucket operation, atomic. KEYS[1]: the bucket; ARGV: mode (`take`, `add`, `level`),
 * now (s), tokens to add, burst, refill per second, expiry (ms). Same arithmetic as the memory
 * buckets: a bucket's time never moves backwards.
 */
const BUCKET_SCRIPT = `
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local delta = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local stored = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = burst
local at = now
if stored[1] then
  local was = tonumber(stored[2])
  tokens = math.min(burst, tonumber(stored[1]) + math.max(0, now - was) * rate)
  at = math.max(now, was)
end
if mode == 'level' then return tostring(tokens) end
if mode == 'take' then
  if tokens < 1 then return '0' end
  tokens = tokens - 1
else
  tokens = math.max(0, math.min(burst, tokens + delta))
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return '1'
`;

/**
 * Records one DPoP proof, atomically. KEYS: the proof's record, its owner's records (a sorted
 * set scored by expiry), every owner's records (the same), the generation record. ARGV: now
 * (ms), the proof's expiry (ms), its record's lifetime (ms), the owner's share, the capacity,
 * the proof id, its `iat` (ms), the grace (ms) before the records began, a new generation's
 * random part, the server's `run_id`.
 *
 * The generation record (`<random>:<ms since>:<run_id>`, no expiry) is written when the records
 * begin. If it is missing (a restart without persistence, a flush), or names another server run
 * (a restart from an RDB or AOF file, a failover to a replica: both bring back an older state
 * than the one last written, with the generation record in it), the records may have lost
 * proofs: a new generation starts now, and a proof made before then could have been used before
 * the loss, so it is refused (`predates`) — but for `PREDATES_GRACE_MS`, since `iat` is in whole
 * seconds and a client's clock may lag a little (the first start of a site, and any restart of
 * Redis, look the same as a loss: a proof from before it is refused once, the safe way). The
 * script returns the outcome and the generation, so each process can say once that it changed.
 */
const REPLAY_SCRIPT = `
local generation = redis.call('GET', KEYS[4])
local since, run = nil, nil
if generation then since, run = string.match(generation, '^[^:]*:(%d+):(.*)$') end
if not since or run ~= ARGV[10] then
  generation = ARGV[9] .. ':' .. ARGV[1] .. ':' .. ARGV[10]
  since = ARGV[1]
  redis.call('SET', KEYS[4], generation)
end
since = tonumber(since)
if tonumber(ARGV[7]) < since - tonumber(ARGV[8]) then return {'predates', generation} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'replayed', generation} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) or
   redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  return {'full', generation}
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[3])
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[6])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
return {'fresh', generation}
`;

/** Opens the Redis backend `options` names; connects in the background and keeps reconnecting. */
export async function openRedisState(
  options: StateOptions,
  io: RedisStateIo,
): Promise<SharedState> {
  const timeoutMs = Math.max(1, Math.round(options.timeoutSeconds * 1000));
  const password = options.passwordPath === undefined
    ? undefined
    : passwordOf(await readNamed(io, options.passwordPath, "State:PasswordPath"));
  const ca = options.caPath === undefined
    ? undefined
    : new TextDecoder().decode(await readNamed(io, options.caPath, "State:CaPath"));
  const tls = new URL(options.address!).protocol === "rediss:";
  const client = createClient({
    url: options.address,
    password,
    // Queued commands would wait for a connection past any timeout: fail them at once instead.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: Math.max(timeoutMs, 1_000),
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS),
      ...(tls ? { tls: true as const, ca } : {}),
    },
  });
  let down = false;
  let closed = false;
  // Before the first connection, "not connected" is the connection being made, not an outage
  // (a refused or failed one is, and says so through the client's error event).
  let connected = false;
  const markDown = (error: unknown) => {
    if (down || closed) return;
    down = true;
    io.logger.log("warn", "shared state unavailable", {
      address: redacted(options.address!),
      error: errorMessage(error),
      effect: "DPoP requests are refused (503 state_unavailable); the failure budget is " +
        "counted per process until it is back",
    });
  };
  const markUp = () => {
    connected = true;
    if (!down || closed) return;
    down = false;
    io.logger.log("info", "shared state available again", { address: redacted(options.address!) });
  };
  client.on("error", markDown);
  // The server's run: a reconnection may reach a restarted server, or a replica promoted in its
  // place, whose data is older than what was last written (see REPLAY_SCRIPT).
  let serverRun: string | undefined;
  client.on("ready", () => {
    serverRun = undefined;
    markUp();
  });
  client.connect().catch(markDown);

  /** Runs one operation within the timeout; any failure is `StateUnavailable`. */
  const run = async <T>(operation: () => Promise<T>): Promise<T> => {
    if (!client.isReady) {
      if (connected) markDown(new Error("not connected"));
      throw new StateUnavailable("not connected");
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const result = await Promise.race([
        operation(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new StateUnavailable(`no answer within ${timeoutMs}ms`)),
            timeoutMs,
          );
        }),
      ]);
      markUp();
      return result;
    } catch (error) {
      markDown(error);
      throw error instanceof StateUnavailable ? error : new StateUnavailable(String(error));
    } finally {
      clearTimeout(timer);
    }
  };
  /** The DPoP parts never fail open: an unanswered operation refuses the request. */
  const closedFail = async <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      return await run(operation);
    } catch (error) {
      if (!(error instanceof StateUnavailable)) throw error;
      throw new Denial(
        "state_unavailable",
        "the shared state DPoP proofs are checked against is unavailable; try again shortly",
        {},
        RETRY_AFTER_SECONDS,
      );
    }
  };
  const key = (...parts: (string | number)[]) => `${options.keyPrefix}${parts.join(":")}`;

  // The replay records' generation this process last saw; a change means the backend lost them.
  let generation: string | undefined;
  const replayCache = (capacity: number): ReplayCache => {
    const ownerShare = Math.max(1, Math.floor(capacity / 10));
    return {
      async remember(owner, proof, now) {
        serverRun ??= await closedFail(async () => runIdOf(await client.info("server")));
        const run = serverRun;
        const nowMs = Math.floor(now * 1000);
        const expiresMs = Math.ceil(proof.expiresAt * 1000);
        const reply = await closedFail(() =>
          client.eval(REPLAY_SCRIPT, {
            keys: [
              key("dpop", "jti", proof.id),
              key("dpop", "owner", owner),
              key("dpop", "proofs"),
              key("dpop", "generation"),
            ],
            arguments: [
              String(nowMs),
              String(expiresMs),
              String(Math.max(1, expiresMs - nowMs)),
              String(ownerShare),
              String(capacity),
              proof.id,
              String(Math.floor(proof.issuedAt * 1000)),
              String(PREDATES_GRACE_MS),
              io.randomId(),
              run,
            ],
          })
        ) as [string, string];
        const [outcome, current] = reply;
        if (generation !== undefined && current !== generation) {
          io.metrics.stateDataLost();
          io.logger.log("error", "shared state lost its DPoP replay records", {
            address: redacted(options.address!),
            effect: "DPoP proofs made before now are refused (dpop_proof_invalid); new ones " +
              "are accepted",
          });
        }
        generation = current;
        return outcome as "fresh" | "replayed" | "full" | "predates";
      },
      close: () => Promise.resolve(),
    };
  };

  const nonceSource = (lifetime: number, randomNonce: () => string): NonceSource => {
    const known = new Map<number, string>();
    // Long enough to outlive the epoch after its own, whenever in its epoch it was created.
    const ttl = String(Math.ceil((2 * lifetime + 10) * 1000));
    const nonceKey = (epoch: number) => key("dpop", "nonce", lifetime, epoch);
    const epochOf = (now: number) => Math.floor(now / lifetime);
    const keep = (epoch: number, nonce: string) => {
      known.set(epoch, nonce);
      const newest = Math.max(...known.keys());
      for (const old of known.keys()) if (old < newest - 1) known.delete(old);
      return nonce;
    };
    const nonceOf = async (epoch: number): Promise<string> => {
      const cached = known.get(epoch);
      if (cached !== undefined) return cached;
      const mine = randomNonce();
      const theirs = await closedFail(() =>
        client.sendCommand(["SET", nonceKey(epoch), mine, "NX", "PX", ttl, "GET"])
      );
      return keep(epoch, typeof theirs === "string" ? theirs : mine);
    };
    return {
      current: (now) => nonceOf(epochOf(now)),
      async accepts(nonce, now) {
        const epoch = epochOf(now);
        if (known.get(epoch) === nonce || known.get(epoch - 1) === nonce) return true;
        // One this process has not seen: another process's, or one chosen after the backend
        // lost its data (every process then converges on the backend's).
        const stored = await closedFail(() =>
          Promise.all([client.get(nonceKey(epoch)), client.get(nonceKey(epoch - 1))])
        );
        return stored.some((value) => typeof value === "string" && value === nonce);
      },
      close: () => Promise.resolve(),
    };
  };

  const buckets = (burst: number, perMinute: number): BucketStore => {
    const local = createMemoryBuckets(burst, perMinute);
    const rate = perMinute / 60;
    // A bucket untouched for as long as it takes to refill is full: it may go.
    const expiry = String(Math.ceil((burst / rate + 60) * 1000));
    const script = (mode: string, client_: string, now: number, tokens: number) =>
      run(() =>
        client.eval(BUCKET_SCRIPT, {
          keys: [key("budget", burst, perMinute, client_)],
          arguments: [mode, String(now), String(tokens), String(burst), String(rate), expiry],
        })
      ).then(String);
    const shared = async <T>(operation: () => Promise<T>, own: () => Promise<T>) => {
      try {
        return await operation();
      } catch (error) {
        if (!(error instanceof StateUnavailable)) throw error;
        io.metrics.stateFallback();
        return await own();
      }
    };
    return {
      take: (who, now) =>
        shared(async () => await script("take", who, now, 0) === "1", () => local.take(who, now)),
      add: (who, now, tokens) =>
        shared(
          async () => void await script("add", who, now, tokens),
          () => local.add(who, now, tokens),
        ),
      level: (who, now) =>
        shared(async () => Number(await script("level", who, now, 0)), () => local.level(who, now)),
      close: () => Promise.resolve(),
    };
  };

  const opened = [password, ca];
  const sameFiles = async (readFile: (path: string) => Promise<Uint8Array>) => {
    const again = await Promise.all([
      options.passwordPath === undefined
        ? undefined
        : readFile(options.passwordPath).then(passwordOf, () => null),
      options.caPath === undefined
        ? undefined
        : readFile(options.caPath).then((bytes) => new TextDecoder().decode(bytes), () => null),
    ]);
    return again.every((value, index) => value === opened[index]);
  };

  return {
    options,
    sameFiles,
    replayCache,
    nonceSource,
    buckets,
    async report() {
      try {
        await run(() => client.ping());
        return { backend: "redis", status: "up" };
      } catch {
        return { backend: "redis", status: "unavailable" };
      }
    },
    close() {
      closed = true;
      try {
        client.destroy();
      } catch { /* never connected */ }
      return Promise.resolve();
    },
  };
}

/** The `run_id` in an `INFO server` answer: it changes whenever the server (re)starts. */
function runIdOf(info: string): string {
  const run = /^run_id:([0-9a-f]+)\r?$/m.exec(info)?.[1];
  if (!run) throw new Error("INFO server named no run_id");
  return run;
}

/** The password file's content without its trailing newline. */
function passwordOf(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes).replace(/\r?\n$/, "");
}

async function readNamed(io: RedisStateIo, path: string, key: string): Promise<Uint8Array> {
  try {
    return await io.readFile(path);
  } catch (error) {
    throw new ConfigError(
      `${ROOT_KEY}:${key}`,
      `cannot read "${path}": ${(error as Error).message}`,
    );
  }
}

/** The address for a log line (it holds no password: the config refuses one). */
function redacted(address: string): string {
  const url = new URL(address);
  return `${url.protocol}//${url.host}${url.pathname}`;
}
