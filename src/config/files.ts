/**
 * The files a configuration names, in one list: the permission set may read their
 * directories, and `Server:ReloadOnChange` watches the ones a reload picks up.
 *
 * @module
 */

import type { Options } from "./options.ts";

/** Files named by `options`: those a reload re-reads, and the TLS files (restart only). */
export interface ConfiguredFiles {
  /** Signing and published keys and certificates, the Authorities' JWKS files. */
  readonly reloadable: readonly string[];
  /** The listener's certificate, key and client CA: read once, at start. */
  readonly tls: readonly string[];
  /** The state backend's password file and CA bundle: read when its connection is made. */
  readonly state: readonly string[];
  /** The OTLP push's headers file: read once, at start. */
  readonly telemetry: readonly string[];
}

/** The files `options` names, without the config file itself. */
export function configuredFiles(options: Options): ConfiguredFiles {
  const { signing, authorities, server, state, telemetry } = options;
  const present = (files: (string | undefined)[]) =>
    files.filter((file): file is string => file !== undefined);
  return {
    reloadable: present([
      signing.keyPath,
      signing.certificatePath,
      ...signing.publishedKeys.flatMap((key) => [key.keyPath, key.certificatePath]),
      ...authorities.map(({ keys }) => keys.kind === "jwks-file" ? keys.path : undefined),
    ]),
    tls: present([server.tls?.certificatePath, server.tls?.keyPath, server.tls?.clientCaPath]),
    state: present([state.passwordPath, state.caPath]),
    telemetry: present([telemetry.otlp?.headersPath]),
  };
}
