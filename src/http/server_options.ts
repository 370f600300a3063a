/**
 * What the HTTP layer is configured with: where it listens, TLS, trusted proxies, deadlines.
 * Built by `config/`, which owns none of these types.
 *
 * @module
 */

/** TLS termination by the service itself, requesting client certificates for mTLS. */
export interface TlsOptions {
  readonly certificatePath: string;
  readonly keyPath: string;
  readonly keyPassword?: string;
  /** Client certificates must chain to this CA bundle; without it any presented certificate counts. */
  readonly clientCaPath?: string;
}

/** Where and how the service listens. */
export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  /** Public URL of this service behind a proxy, for DPoP `htu`; else the request's own URL. */
  readonly publicBaseUrl?: string;
  readonly tls?: TlsOptions;
  /** Addresses allowed to forward a client certificate in `clientCertificateHeader`. */
  readonly trustedProxies: ReadonlySet<string>;
  readonly clientCertificateHeader?: string;
  /**
   * Service processes on this host sharing the listen port (`auto` already resolved): more than
   * one makes `main.ts` a primary that runs that many workers (`src/workers.ts`).
   */
  readonly workers: number;
  /** How long SIGTERM waits for in-flight requests before exiting anyway. */
  readonly drainTimeoutSeconds: number;
  /** Reload when the config or key files change, not only on SIGHUP. */
  readonly reloadOnChange: boolean;
  /** Deadlines and the connection cap that bound what one client can hold. */
  readonly limits: ConnectionLimits;
  /** Failed authentications allowed per client address: a burst, refilled per minute (0: off). */
  readonly failedAuthLimit: { readonly burst: number; readonly perMinute: number };
}

/** How long a client may take, and how many connections may be open at once. */
export interface ConnectionLimits {
  /** The whole header block must arrive within this, however slowly it trickles in. */
  readonly headersTimeoutSeconds: number;
  /** A `POST /token` form body must arrive within this once the headers are in. */
  readonly bodyTimeoutSeconds: number;
  /** An idle keep-alive connection is closed after this. */
  readonly idleTimeoutSeconds: number;
  /** A request is answered (or refused) within this, from its first byte. */
  readonly requestTimeoutSeconds: number;
  /** Open connections at once; one more is closed as soon as it is accepted. */
  readonly maxConnections: number;
}

/** PEM text of the TLS files, read once at startup. */
export interface TlsMaterial {
  readonly certificate: string;
  readonly key: string;
  readonly passphrase?: string;
  readonly clientCa?: string;
}
