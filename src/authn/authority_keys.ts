/**
 * The Authority's token-signing keys: from a local JWKS file (air-gapped sites), a JWKS URL,
 * or OIDC discovery. Remote keys are cached; an unknown `kid` triggers a refetch at most once
 * per cooldown, and a failed refresh keeps the cached keys serving.
 *
 * @module
 */

import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { Denial } from "../denial.ts";

/** Where the Authority's token-signing keys come from. */
export type AuthorityKeyLocation =
  | { readonly kind: "discovery"; readonly metadataAddress: string }
  | { readonly kind: "jwks-uri"; readonly jwksUri: string }
  | { readonly kind: "jwks-file"; readonly path: string };

/** Resolves the verification key of a caller token, and reports whether keys are loaded. */
export interface AuthorityKeys {
  /** jose key resolver for `jwtVerify`. */
  readonly getKey: JWTVerifyGetKey;
  /** Whether a key set is loaded and usable. */
  ready(): boolean;
  /** Fetches the key set now (startup prefetch); rejects when that fails. */
  refresh(): Promise<void>;
  /** Changes whenever a new key set is loaded, so refusals found with an old one can lapse. */
  version(): number;
  /** Called once no service uses the keys: aborts a fetch under way, and any later one. */
  close(): Promise<void>;
}

/** Timing of remote key fetches, in milliseconds. */
export interface RemoteKeyTiming {
  /** Cached keys older than this are refreshed in the background. */
  readonly maxAgeMs: number;
  /** Minimum time between two fetches (unknown `kid`s cannot force more). */
  readonly cooldownMs: number;
  /** Abort a discovery or JWKS fetch after this long. */
  readonly timeoutMs: number;
}

/** Default timing: refresh every 10 minutes, refetch at most every 5 s, 5 s timeout. */
const DEFAULT_REMOTE_KEY_TIMING: RemoteKeyTiming = {
  maxAgeMs: 10 * 60_000,
  cooldownMs: 5_000,
  timeoutMs: 5_000,
};

/** I/O for remote keys, injected so tests control the network and the clock. */
export interface RemoteKeyIo {
  readonly fetch: typeof fetch;
  readonly now: () => number;
  /** Told about failed fetches (the cached keys keep serving). */
  readonly onFetchError: (message: string) => void;
  /** Told whether each fetch of the key set succeeded (startup prefetch included). */
  readonly onRefresh?: (ok: boolean) => void;
}

const MAX_DOCUMENT_BYTES = 512 * 1024;

/** Validates a parsed JWKS document: public keys only, at least one. */
export function parseJwks(document: unknown, source: string): JSONWebKeySet {
  const keys = (document as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(`${source} is not a JWKS (expected {"keys": [...]} with at least one key)`);
  }
  for (const key of keys) {
    if (typeof key !== "object" || key === null || typeof key.kty !== "string") {
      throw new Error(`${source} holds an entry that is not a JWK`);
    }
    if ("d" in key || "k" in key) {
      throw new Error(
        `${source} holds private or symmetric key material; publish public keys only`,
      );
    }
  }
  return { keys };
}

/**
 * Authority keys from a fixed key set (a local JWKS file, or the development profile), held in
 * memory only, so `close` has nothing to release.
 */
export function staticAuthorityKeys(jwks: JSONWebKeySet): AuthorityKeys {
  const getKey = createLocalJWKSet(jwks);
  return {
    getKey,
    ready: () => true,
    refresh: () => Promise.resolve(),
    version: () => 0,
    close: () => Promise.resolve(),
  };
}

/** Authority keys fetched from a JWKS URL or through OIDC discovery, with caching. */
export function remoteAuthorityKeys(
  location: Exclude<AuthorityKeyLocation, { kind: "jwks-file" }>,
  issuer: string,
  io: RemoteKeyIo,
  timing: RemoteKeyTiming = DEFAULT_REMOTE_KEY_TIMING,
): AuthorityKeys {
  let resolver: JWTVerifyGetKey | undefined;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let inFlight: Promise<void> | undefined;
  let loads = 0;
  const closing = new AbortController();

  async function fetchJson(url: string): Promise<unknown> {
    const response = await io.fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.any([closing.signal, AbortSignal.timeout(timing.timeoutMs)]),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`${url} answered ${response.status}`);
    }
    const text = await response.text();
    if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`${url} sent an oversized document`);
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`${url} did not send JSON`);
    }
  }

  async function jwksUri(): Promise<string> {
    if (location.kind === "jwks-uri") return location.jwksUri;
    const metadata = await fetchJson(location.metadataAddress) as Record<string, unknown>;
    if (metadata?.issuer !== issuer) {
      throw new Error(
        `discovery document at ${location.metadataAddress} names issuer ${
          JSON.stringify(metadata?.issuer)
        }, expected "${issuer}"`,
      );
    }
    const uri = typeof metadata.jwks_uri === "string" && URL.canParse(metadata.jwks_uri)
      ? new URL(metadata.jwks_uri)
      : undefined;
    const metadataProtocol = new URL(location.metadataAddress).protocol;
    // Keys must come over the network from the Authority: no data:/file: URLs, no downgrade
    // from https, no credentials.
    if (
      !uri || !/^https?:$/.test(uri.protocol) ||
      (metadataProtocol === "https:" && uri.protocol !== "https:") ||
      uri.username || uri.password
    ) {
      throw new Error(`discovery document at ${location.metadataAddress} has no usable jwks_uri`);
    }
    return uri.href;
  }

  async function load(): Promise<void> {
    attemptedAt = io.now();
    const uri = await jwksUri();
    resolver = createLocalJWKSet(parseJwks(await fetchJson(uri), uri));
    fetchedAt = io.now();
    loads++;
  }

  function refresh(): Promise<void> {
    inFlight ??= load()
      .then(() => io.onRefresh?.(true))
      // A fetch cut short by close() is no failure to report: nothing uses these keys any more.
      .catch((error) => {
        if (closing.signal.aborted) return;
        io.onRefresh?.(false);
        throw error;
      })
      .finally(() => inFlight = undefined);
    return inFlight;
  }

  /**
   * Refreshes unless one was attempted within the cooldown — then it only waits for a fetch still
   * under way, so concurrent requests share it. Failures are reported, not thrown.
   */
  async function refreshIfAllowed(): Promise<void> {
    if (io.now() - attemptedAt < timing.cooldownMs) return await inFlight?.catch(() => {});
    await refresh().catch((error) =>
      io.onFetchError(`Authority keys: ${(error as Error).message}`)
    );
  }

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (!resolver) await refreshIfAllowed();
    if (!resolver) {
      throw new Denial(
        "authority_unavailable",
        "the Authority's signing keys are not available yet; try again shortly",
      );
    }
    if (io.now() - fetchedAt > timing.maxAgeMs) void refreshIfAllowed();
    try {
      return await resolver(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      await refreshIfAllowed();
      return await resolver(header, token);
    }
  };

  return {
    getKey,
    ready: () => resolver !== undefined,
    refresh,
    version: () => loads,
    close: () => {
      closing.abort();
      return inFlight ?? Promise.resolve();
    },
  };
}
