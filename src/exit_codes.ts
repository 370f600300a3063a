/**
 * The process exit codes, shared by the service, the launcher that supervises it and the
 * compile task, and the one way a configuration error ends them.
 *
 * @module
 */

import type { ConfigError } from "./config/error.ts";

/** Exit code for invalid flags, configuration or keys. */
export const EXIT_CONFIG = 2;
/** Exit code when the service cannot start serving (address in use, TLS set-up, export). */
export const EXIT_STARTUP = 1;
/** Exit code of `--explain` when something was refused, of `--test-policy` when a case failed. */
export const EXIT_NOT_GRANTED = 3;
/**
 * Exit code when the listener stopped accepting connections (descriptors ran out): a fresh
 * process serves again, so the launcher, systemd and Kubernetes restart on it (EX_TEMPFAIL).
 */
export const EXIT_RESTART = 75;

/** Prints `config error: <key>: <problem>` on stderr and returns `EXIT_CONFIG`. */
export function exitForConfigError(error: ConfigError): number {
  console.error(`config error: ${error.message}`);
  return EXIT_CONFIG;
}
