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
import { ConfigError } from "./config/document.ts";
import type { AuthorityOptions, Options, TlsOptions } from "./config/options.ts";
import { createNonceSource, createReplayCache } from "./authn/dpop_state.ts";
import type { ConnectionInfo } from "./http/connection.ts";
import { createApp } from "./http/app.ts";
import type { Logger } from "./observability/logger.ts";
import type { TokenMetrics } from "./observability/metrics.ts";
import { KeyLoadError, loadSigningKey, type SigningKey } from "./token/keys.ts";
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

/** A ready-to-serve service. */
export interface Service {
  readonly options: Options;
  readonly signingKey: SigningKey;
  readonly authorityKeys: AuthorityKeys;
  /** TLS certificate, key and client CA when the service terminates TLS itself. */
  readonly tls?: TlsMaterial;
  /** Answers one request; `connection` is what the server adapter knows about its connection. */
  readonly fetch: (request: Request, connection?: ConnectionInfo) => Response | Promise<Response>;
}

/** PEM text of the TLS files, read once at startup. */
export interface TlsMaterial {
  readonly certificate: string;
  readonly key: string;
  readonly passphrase?: string;
  readonly clientCa?: string;
}

/** Loads keys and builds the app; throws `ConfigError` naming the key whose file is bad. */
export async function createService(options: Options, io: ServiceIo): Promise<Service> {
  const signingKey = await loadSigningKey(options.signing, io.readFile).catch((error) => {
    if (!(error instanceof KeyLoadError)) throw error;
    const key = error.path === options.signing.certificatePath ? "CertificatePath" : "KeyPath";
    throw new ConfigError(`RegistryTokenService:Signing:${key}`, error.message);
  });
  const authorityKeys = await loadAuthorityKeys(options.authority, io);
  const tls = options.server.tls && await loadTls(options.server.tls, io.readFile);
  const dpop = options.authority.dpop;
  io.metrics.setPlans(options.policy.plans.keys());
  const app = createApp({
    options,
    authorityKeys,
    signer: createTokenSigner(signingKey),
    jwks: { keys: [signingKey.publicJwk] },
    now: io.now,
    randomId: io.randomId,
    metrics: io.metrics,
    logger: io.logger,
    dpop: {
      options: dpop,
      clockSkewSeconds: options.authority.clockSkewSeconds,
      replay: createReplayCache(dpop.replayCacheSize),
      nonces: dpop.requireNonce
        ? createNonceSource(dpop.nonceLifetimeSeconds, io.randomId)
        : undefined,
    },
  });
  return {
    options,
    signingKey,
    authorityKeys,
    tls,
    fetch: (request, connection) => app.fetch(request, connection ?? {}),
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
