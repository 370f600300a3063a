/**
 * Assembles a runnable service from validated options: loads signing and Authority keys once,
 * at startup, and wires them into the HTTP application.
 *
 * @module
 */

import {
  type AuthorityKeys,
  parseJwks,
  remoteAuthorityKeys,
  staticAuthorityKeys,
} from "./authn/authority_keys.ts";
import { ConfigError } from "./config/error.ts";
import type { Options } from "./config/options.ts";
import type { AuthorityOptions } from "./authn/authenticate.ts";
import type { TlsMaterial, TlsOptions } from "./http/server_options.ts";
import { createVerifiedTokenCache } from "./authn/verified_tokens.ts";
import { createMintedTokenCache, MINTED_TOKEN_CACHE_SIZE } from "./token/reuse.ts";
import { createVerificationBudget, type VerificationBudget } from "./http/failure_limit.ts";
import { createNonceSource, createReplayCache } from "./authn/dpop_state.ts";
import type { ConnectionInfo } from "./http/connection.ts";
import { createApp } from "./http/app.ts";
import type { Logger } from "./observability/logger.ts";
import type { TokenMetrics } from "./observability/metrics.ts";
import {
  type KeyIdFormat,
  KeyLoadError,
  loadSigningKey,
  type SigningKey,
  type SigningKeySource,
} from "./token/keys.ts";
import type { NonceSource, ReplayCache } from "./authn/dpop.ts";
import { createTokenSigner } from "./token/mint.ts";

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
  readonly authorityKeys: AuthorityKeys;
  /** DPoP replay cache and nonces, carried over by a reload so proofs stay single-use. */
  readonly dpopState: DpopState;
  /** Signature-check budgets per client, carried over by a reload. */
  readonly failures: VerificationBudget;
  /** TLS certificate, key and client CA when the service terminates TLS itself. */
  readonly tls?: TlsMaterial;
  /** Answers one request; `connection` is what the server adapter knows about its connection. */
  readonly fetch: (request: Request, connection?: ConnectionInfo) => Response | Promise<Response>;
}

/** State of DPoP checking that outlives one configuration. */
export interface DpopState {
  readonly replay: ReplayCache;
  readonly nonces?: NonceSource;
}

/**
 * Loads keys and builds the app; throws `ConfigError` naming the key whose file is bad.
 * A reload passes the running service as `previous`, whose caches are carried over: the DPoP
 * replay cache (so a proof cannot be replayed across a reload) and remote Authority keys when
 * their location is unchanged.
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
  const authorityKeys = reusableAuthorityKeys(options, previous) ??
    await loadAuthorityKeys(options.authority, io);
  const tls = options.server.tls && await loadTls(options.server.tls, io.readFile);
  const dpopState = dpopStateFor(options, io, previous);
  const { burst, perMinute } = options.server.failedAuthLimit;
  const sameLimit = JSON.stringify(previous?.options.server.failedAuthLimit) ===
    JSON.stringify(options.server.failedAuthLimit);
  const failures = previous && sameLimit
    ? previous.failures
    : createVerificationBudget(burst, perMinute);
  io.metrics.setPlans(options.policy.plans.keys());
  const app = createApp({
    options,
    authorityKeys,
    signer: createTokenSigner(signingKey),
    jwks: () => {
      const now = io.now();
      const current = currentPublishedKeys(publishedKeys, now);
      return { keys: [signingKey.publicJwk, ...current.map((key) => key.publicJwk)] };
    },
    now: io.now,
    randomId: io.randomId,
    metrics: io.metrics,
    logger: io.logger,
    verifiedTokens: createVerifiedTokenCache(
      options.authority.tokenCacheSize,
      options.authority.clockSkewSeconds,
      authorityKeys.version,
    ),
    mintedTokens: createMintedTokenCache(
      MINTED_TOKEN_CACHE_SIZE,
      options.signing.reuseWindowSeconds,
    ),
    failures,
    dpop: {
      options: options.authority.dpop,
      ...dpopState,
    },
  });
  return {
    options,
    signingKey,
    publishedKeys,
    authorityKeys,
    dpopState,
    failures,
    tls,
    fetch: (request, connection) => app.fetch(request, connection ?? {}),
  };
}

async function loadKey(
  source: SigningKeySource,
  keyIdFormat: KeyIdFormat,
  section: string,
  readFile: ServiceIo["readFile"],
): Promise<SigningKey> {
  try {
    return await loadSigningKey({ ...source, keyIdFormat }, readFile);
  } catch (error) {
    if (!(error instanceof KeyLoadError)) throw error;
    const key = error.path === source.certificatePath ? "CertificatePath" : "KeyPath";
    throw new ConfigError(`RegistryTokenService:${section}:${key}`, error.message);
  }
}

function reusableAuthorityKeys(options: Options, previous?: Service): AuthorityKeys | undefined {
  if (!previous) return undefined;
  const [before, after] = [previous.options.authority, options.authority];
  // A JWKS file is re-read on every reload: the operator may have replaced it.
  const sameRemote = after.keys.kind !== "jwks-file" && before.issuer === after.issuer &&
    JSON.stringify(before.keys) === JSON.stringify(after.keys);
  return sameRemote ? previous.authorityKeys : undefined;
}

function dpopStateFor(options: Options, io: ServiceIo, previous?: Service): DpopState {
  const dpop = options.authority.dpop;
  const sameNonces =
    previous?.options.authority.dpop.nonceLifetimeSeconds === dpop.nonceLifetimeSeconds;
  return {
    replay: previous?.dpopState.replay ?? createReplayCache(dpop.replayCacheSize),
    nonces: !dpop.requireNonce
      ? undefined
      : (sameNonces ? previous?.dpopState.nonces : undefined) ??
        createNonceSource(dpop.nonceLifetimeSeconds, io.randomId),
  };
}

async function loadTls(tls: TlsOptions, readFile: ServiceIo["readFile"]): Promise<TlsMaterial> {
  const read = async (path: string, key: string) => {
    try {
      return new TextDecoder().decode(await readFile(path));
    } catch (error) {
      throw new ConfigError(`RegistryTokenService:Server:Tls:${key}`, (error as Error).message);
    }
  };
  return {
    certificate: await read(tls.certificatePath, "CertificatePath"),
    key: await read(tls.keyPath, "KeyPath"),
    passphrase: tls.keyPassword,
    clientCa: tls.clientCaPath && await read(tls.clientCaPath, "ClientCaPath"),
  };
}

async function loadAuthorityKeys(
  authority: AuthorityOptions,
  io: ServiceIo,
): Promise<AuthorityKeys> {
  const location = authority.keys;
  if (location.kind !== "jwks-file") {
    return remoteAuthorityKeys(location, authority.issuer, {
      fetch: io.fetch,
      now: () => io.now().getTime(),
      onFetchError: (message) => io.logger.log("warn", message),
    });
  }
  try {
    const text = new TextDecoder().decode(await io.readFile(location.path));
    return staticAuthorityKeys(parseJwks(JSON.parse(text), location.path));
  } catch (error) {
    const problem = error instanceof SyntaxError ? "is not valid JSON" : (error as Error).message;
    throw new ConfigError("RegistryTokenService:Authority:JwksPath", problem);
  }
}
