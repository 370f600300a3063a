/**
 * Where the state several service processes must share lives (`State`): the DPoP replay
 * records, the DPoP nonces and the failed-authentication budget, and nothing else.
 *
 * @module
 */

/** The `State` options. */
export interface StateOptions {
  /** `memory`: this process alone (one process per site); `redis`: shared by every process. */
  readonly backend: "memory" | "redis";
  /** `redis://host:port[/db]` or `rediss://…` (TLS); set exactly when `backend` is `redis`. */
  readonly address?: string;
  /** `host:port` of `address`, which the permission set lets the service connect to. */
  readonly hostPort?: string;
  /** A file holding the password (its trailing newline ignored); the password is never inline. */
  readonly passwordPath?: string;
  /** PEM CA bundle the `rediss://` server's certificate must chain to. */
  readonly caPath?: string;
  /** Prefix of every key the service writes. */
  readonly keyPrefix: string;
  /** How long one operation may take before the backend counts as unavailable (seconds). */
  readonly timeoutSeconds: number;
}
