/**
 * The files and remote key sets a service's options name, loaded into keys and TLS material.
 * A file that cannot be read or parsed is a `ConfigError` naming the key that named it, so a
 * start or a reload says what to fix.
 *
 * @module
 */

import {
  type AuthorityKeys,
  parseJwks,
  remoteAuthorityKeys,
  staticAuthorityKeys,
} from "./authn/authority_keys.ts";
import type { AuthorityOptions } from "./authn/caller.ts";
import { ConfigError } from "./config/error.ts";
import type { TlsMaterial, TlsOptions } from "./http/server_options.ts";
import type { TokenMetrics } from "./observability/metrics.ts";
import type { Logger } from "./observability/logger.ts";
import {
  type KeyIdFormat,
  KeyLoadError,
  loadSigningKey,
  type SigningKey,
  type SigningKeySource,
} from "./token/keys.ts";

/** What loading reads and fetches with (a `ServiceIo` fits). */
export interface LoadIo {
  readonly readFile: (path: string) => Promise<Uint8Array>;
  readonly fetch: typeof fetch;
  readonly now: () => Date;
  readonly logger: Logger;
  readonly metrics: Pick<TokenMetrics, "authorityKeyRefresh">;
}

/**
 * The signing or a published key of `section`; a bad file is a ConfigError naming its key, and a
 * `Signing:KeyIdFormat` the key cannot have (libtrust for Ed25519) one naming that.
 */
export async function loadKey(
  source: SigningKeySource,
  keyIdFormat: KeyIdFormat | undefined,
  section: string,
  readFile: LoadIo["readFile"],
): Promise<SigningKey> {
  try {
    return await loadSigningKey({ ...source, keyIdFormat }, readFile);
  } catch (error) {
    if (!(error instanceof KeyLoadError)) throw error;
    if (error.code === "KEY_ID_FORMAT_UNSUPPORTED") {
      throw new ConfigError("RegistryTokenService:Signing:KeyIdFormat", error.message);
    }
    const key = error.path === source.certificatePath ? "CertificatePath" : "KeyPath";
    throw new ConfigError(`RegistryTokenService:${section}:${key}`, error.message);
  }
}

/** The listener's TLS files as text, read once at startup. */
export async function loadTls(tls: TlsOptions, readFile: LoadIo["readFile"]): Promise<TlsMaterial> {
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

/** An Authority's keys: fetched (discovery, JWKS URL) or read from its JWKS file. */
export async function loadAuthorityKeys(
  authority: AuthorityOptions,
  io: LoadIo,
): Promise<AuthorityKeys> {
  const location = authority.keys;
  if (location.kind !== "jwks-file") {
    return remoteAuthorityKeys(location, authority.issuer, {
      fetch: io.fetch,
      now: () => io.now().getTime(),
      onFetchError: (message) => io.logger.log("warn", message, { authority: authority.name }),
      onRefresh: (ok) => io.metrics.authorityKeyRefresh(authority.name, ok),
    });
  }
  try {
    const text = new TextDecoder().decode(await io.readFile(location.path));
    return staticAuthorityKeys(parseJwks(JSON.parse(text), location.path));
  } catch (error) {
    const problem = error instanceof SyntaxError ? "is not valid JSON" : (error as Error).message;
    throw new ConfigError(`${authority.section}:JwksPath`, problem);
  }
}
