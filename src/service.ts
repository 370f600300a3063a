/**
 * Assembles a runnable service from validated options: loads signing and Authority keys once,
 * at startup, and wires them into the HTTP application. A reload builds a new service that
 * takes over the running one's state where its settings allow (`carryOver`).
 *
 * Each Authority has its own keys and verified-token cache. The DPoP replay cache and the nonce
 * source are one for all of them: a proof is charged to one token and so to one Authority, but
 * which Authority that is depends on configuration a reload may change (a Name, the item an
 * Issuer is in), and a proof accepted once must never be accepted again whatever the
 * configuration says; and a response carries one `DPoP-Nonce`, offered before the caller's
 * Authority is known.
 *
 * @module
 */

import type { AuthorityKeys } from "./authn/authority_keys.ts";
import type { Options } from "./config/options.ts";
import type { AuthorityOptions } from "./authn/caller.ts";
import type { TlsMaterial } from "./http/server_options.ts";
import { createVerifiedTokenCache } from "./authn/verified_tokens.ts";
import { createMintedTokenCache, MINTED_TOKEN_CACHE_SIZE } from "./token/reuse.ts";
import { createBudget, type VerificationBudget } from "./http/failure_limit.ts";
import { memoryState, sameState, type SharedState } from "./state/shared.ts";
import type { ConnectionInfo } from "./http/connection.ts";
import { createApp } from "./http/app.ts";
import type { TrustedAuthority } from "./issue.ts";
import type { Logger } from "./observability/logger.ts";
import type { TokenMetrics } from "./observability/metrics.ts";
import type { SigningKey } from "./token/keys.ts";
import { loadAuthorityKeys, loadKey, loadTls } from "./service_files.ts";
import type { NonceSource, ReplayCache } from "./authn/dpop.ts";
import { createTokenSigner, type TokenSigner } from "./token/mint.ts";
import { timed } from "./observability/timing.ts";

/** The I/O a service instance uses, injected so tests and the dev profile control it. */
export interface ServiceIo {
  readonly readFile: (path: string) => Promise<Uint8Array>;
  readonly fetch: typeof fetch;
  readonly now: () => Date;
  readonly randomId: () => string;
  readonly logger: Logger;
  readonly metrics: TokenMetrics;
}

/** A key published for verification only, until an optional instant. */
export interface PublishedKey {
  readonly key: SigningKey;
  readonly until?: Date;
}

/** The published keys still within their `Until` at `now` (for `/jwks` and the trust export). */
export function currentPublishedKeys(published: readonly PublishedKey[], now: Date): SigningKey[] {
  return published.filter(({ until }) => until === undefined || until > now).map(({ key }) => key);
}

/** A ready-to-serve service. */
export interface Service {
  readonly options: Options;
  readonly signingKey: SigningKey;
  /** Keys published besides the signing key (key rotation). */
  readonly publishedKeys: readonly PublishedKey[];
  /** Each Authority's keys, by `Name`. */
  readonly authorityKeys: ReadonlyMap<string, AuthorityKeys>;
  /** DPoP replay cache and nonces (all Authorities'), carried over so proofs stay single-use. */
  readonly dpopState: DpopState;
  /** Signature-check budgets per client, carried over by a reload. */
  readonly failures: VerificationBudget;
  /** The backend of the replay cache, the nonces and the budget (`State`), carried over. */
  readonly state: SharedState;
  /** TLS certificate, key and client CA when the service terminates TLS itself. */
  readonly tls?: TlsMaterial;
  /** Answers one request; `connection` is what the server adapter knows about its connection. */
  readonly fetch: (request: Request, connection?: ConnectionInfo) => Response | Promise<Response>;
  /**
   * Releases the stateful parts, except those `successor` carried over: a reload hands them on,
   * and whichever service drops them closes them. Given a successor, the requests this service
   * is still answering finish first, since they use these parts; without one (a stop) it
   * releases at once, as the drain has already waited for requests as long as it may.
   */
  readonly close: (successor?: Service) => Promise<void>;
}

/** State of DPoP checking that outlives one configuration, shared by every Authority. */
export interface DpopState {
  readonly replay: ReplayCache;
  /** Present when some Authority requires nonces. */
  readonly nonces?: NonceSource;
}

/** The stateful parts a reload hands on to the next service; the others are built afresh. */
export interface CarriedState {
  /** Keys of the Authorities whose keys survive, by `Name`. */
  readonly authorityKeys?: ReadonlyMap<string, AuthorityKeys>;
  readonly replay?: ReplayCache;
  readonly nonces?: NonceSource;
  readonly failures?: VerificationBudget;
  /** The state backend (its connection), kept while the `State` settings are unchanged. */
  readonly state?: SharedState;
}

/**
 * Decides, in this one place, what of `previous` survives a reload to `options`: a part is left
 * behind when a setting it was built from changed, and keys from a JWKS file always are; the
 * replay cache always survives while the `State` settings do (a changed backend starts from
 * what the new one holds). Authority keys are matched by `Name`.
 */
export function carryOver(previous: Service | undefined, options: Options): CarriedState {
  if (!previous) return {};
  const [before, after] = [previous.options, options];
  const [limitBefore, limitAfter] = [before.server.failedAuthLimit, after.server.failedAuthLimit];
  const lifetime = nonceLifetimeSeconds(after);
  const authorityKeys = new Map<string, AuthorityKeys>();
  for (const authority of after.authorities) {
    const was = before.authorities.find((candidate) => candidate.name === authority.name);
    const keys = previous.authorityKeys.get(authority.name);
    if (was && keys && sameRemoteKeys(was, authority)) authorityKeys.set(authority.name, keys);
  }
  // The same State settings keep the connection, and with it what is built on it; changed ones
  // open a new backend (the replaced service closes the old connection).
  if (!sameState(previous.state.options, after.state)) return { authorityKeys };
  return {
    authorityKeys,
    state: previous.state,
    // Whatever its configured size: a fresh cache would forget proofs that could then be
    // replayed across the reload.
    replay: previous.dpopState.replay,
    // A nonce handed out just before the reload stays acceptable while its lifetime is unchanged.
    nonces: lifetime !== undefined && lifetime === nonceLifetimeSeconds(before)
      ? previous.dpopState.nonces
      : undefined,
    // A reload must not refill the buckets of clients that are failing signature checks.
    failures:
      limitBefore.burst === limitAfter.burst && limitBefore.perMinute === limitAfter.perMinute
        ? previous.failures
        : undefined,
  };
}

/**
 * The lifetime of the server nonces all Authorities share: the shortest an Authority that
 * requires nonces asks for (none: no Authority requires them).
 */
function nonceLifetimeSeconds(options: Options): number | undefined {
  const lifetimes = options.authorities
    .filter(({ dpop }) => dpop.requireNonce)
    .map(({ dpop }) => dpop.nonceLifetimeSeconds);
  return lifetimes.length ? Math.min(...lifetimes) : undefined;
}

/** Room in the shared replay cache: each Authority brings the proofs it is configured for. */
function replayCacheSize(options: Options): number {
  return options.authorities.reduce((sum, { dpop }) => sum + dpop.replayCacheSize, 0);
}

/** Remote keys fetched for one issuer from one location serve a reload that changed neither. */
function sameRemoteKeys(before: AuthorityOptions, after: AuthorityOptions): boolean {
  if (before.issuer !== after.issuer) return false;
  const [was, is] = [before.keys, after.keys];
  switch (is.kind) {
    case "discovery":
      return was.kind === "discovery" && was.metadataAddress === is.metadataAddress;
    case "jwks-uri":
      return was.kind === "jwks-uri" && was.jwksUri === is.jwksUri;
    case "jwks-file":
      // Re-read on every reload: the operator may have replaced the file.
      return false;
  }
}

/**
 * Why DPoP-bound tokens cannot be served, when several workers each keep their own replay
 * cache. A token bound with `cnf.jkt` is checked whatever `SenderConstraint` says, so the
 * configuration check (which refuses DPoP Authorities in this set-up) is not enough on its own:
 * a proof accepted by one worker would be accepted again by another.
 */
function unsharedReplay(options: Options): string | undefined {
  if (options.server.workers <= 1 || options.state.backend !== "memory") return undefined;
  return "DPoP-bound tokens cannot be kept single-use by several workers without shared state: " +
    "its operator must set State:Backend redis";
}

/**
 * Loads keys and builds the app; throws `ConfigError` naming the key whose file is bad.
 * A reload passes the running service as `previous`, whose stateful parts are carried over as
 * `carryOver` decides.
 */
export async function createService(
  options: Options,
  io: ServiceIo,
  previous?: Service,
): Promise<Service> {
  const { signing } = options;
  const signingKey = await loadKey(signing, signing.keyIdFormat, "Signing", io.readFile);
  const publishedKeys = await Promise.all(signing.publishedKeys.map(async (published, index) => ({
    key: await loadKey(
      published,
      signing.keyIdFormat,
      `Signing:PublishedKeys:${index}`,
      io.readFile,
    ),
    until: published.until,
  })));
  let carried = carryOver(previous, options);
  // The one decision carryOver cannot make without reading files: a rotated state password or CA
  // needs a new connection (and so, as for changed State settings, fresh parts built on it).
  if (carried.state && !await carried.state.sameFiles(io.readFile)) {
    carried = { authorityKeys: carried.authorityKeys };
  }
  const authorityKeys = new Map<string, AuthorityKeys>();
  for (const authority of options.authorities) {
    authorityKeys.set(
      authority.name,
      carried.authorityKeys?.get(authority.name) ?? await loadAuthorityKeys(authority, io),
    );
  }
  const tls = options.server.tls && await loadTls(options.server.tls, io.readFile);
  const lifetime = nonceLifetimeSeconds(options);
  const state = carried.state ?? await openState(options, io);
  const dpopState: DpopState = {
    replay: carried.replay ?? state.replayCache(replayCacheSize(options)),
    nonces: lifetime === undefined
      ? undefined
      : carried.nonces ?? state.nonceSource(lifetime, io.randomId),
  };
  const authorities = new Map<string, TrustedAuthority>(
    options.authorities.map((authority) => {
      const keys = authorityKeys.get(authority.name)!;
      return [authority.name, {
        keys,
        verifiedTokens: createVerifiedTokenCache(
          authority.tokenCacheSize,
          authority.clockSkewSeconds,
          keys.version,
        ),
        dpop: {
          options: authority.dpop,
          replay: dpopState.replay,
          nonces: authority.dpop.requireNonce ? dpopState.nonces : undefined,
          unavailable: unsharedReplay(options),
        },
      }];
    }),
  );
  const { burst, perMinute } = options.server.failedAuthLimit;
  const failures = carried.failures ??
    createBudget(burst, perMinute, state.buckets(burst, perMinute));
  io.metrics.setLabels({
    plans: options.policy.plans.keys(),
    authorities: options.authorities.map(({ name }) => name),
  });
  const app = createApp({
    options,
    authorities,
    signer: timedSigner(createTokenSigner(signingKey), io.metrics),
    jwks: () => {
      const now = io.now();
      const current = currentPublishedKeys(publishedKeys, now);
      return { keys: [signingKey.publicJwk, ...current.map((key) => key.publicJwk)] };
    },
    now: io.now,
    randomId: io.randomId,
    metrics: io.metrics,
    logger: io.logger,
    mintedTokens: createMintedTokenCache(
      MINTED_TOKEN_CACHE_SIZE,
      options.signing.reuseWindowSeconds,
    ),
    failures,
    nonces: dpopState.nonces,
    stateReport: () => state.report(),
  });
  // A service a reload replaced still answers the requests it took, with its own parts.
  const answering = new Set<Promise<Response>>();
  const service: Service = {
    options,
    signingKey,
    publishedKeys,
    authorityKeys,
    dpopState,
    failures,
    state,
    tls,
    fetch: (request, connection) => {
      const answer = Promise.resolve(app.fetch(request, connection ?? {}));
      answering.add(answer);
      const answered = () => void answering.delete(answer);
      answer.then(answered, answered);
      return answer;
    },
    close: async (successor) => {
      if (successor) await Promise.allSettled(answering);
      const handedOn = new Set(successor ? statefulParts(successor) : []);
      await Promise.all(
        statefulParts(service).filter((part) => !handedOn.has(part)).map((part) => part.close()),
      );
    },
  };
  return service;
}

/** `sign`, its durations and failures counted in `metrics`. */
function timedSigner(sign: TokenSigner, metrics: TokenMetrics): TokenSigner {
  return (claims) => timed(() => sign(claims), metrics.signing);
}

/**
 * Opens the `State` backend `options` names. The Redis client is loaded only for the Redis
 * backend (a literal specifier, so `deno compile` still embeds it): a memory-backed process does
 * not carry its modules.
 */
async function openState(options: Options, io: ServiceIo): Promise<SharedState> {
  if (options.state.backend === "memory") return memoryState(options.state);
  const { openRedisState } = await import("./state/redis.ts");
  return await openRedisState(options.state, io);
}

/** The parts `carryOver` may hand on: the ones that hold state, and so something to close. */
function statefulParts(service: Service): { close(): Promise<void> }[] {
  const { authorityKeys, dpopState: { replay, nonces }, failures, state } = service;
  const shared = nonces ? [replay, nonces, failures, state] : [replay, failures, state];
  return [...authorityKeys.values(), ...shared];
}
