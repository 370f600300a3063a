/**
 * The service's least-privilege Deno permission flags, derived from its configuration.
 *
 * This is the single source of the permission set: `deno task start`, the tests that spawn
 * the service, and the compiled binary all take their flags from here.
 *
 * @module
 */

import { ENV_PREFIX } from "./config/document.ts";
import type { Options } from "./config/options.ts";

/** Environment variables npm dependencies probe and must not be asked about (`yaml`). */
const IGNORED_ENV = ["LOG_TOKENS", "LOG_STREAM"];

/**
 * Flags for `deno run`: read only the config, key and TLS files, env only `REGISTRY_TOKEN_*`,
 * net only the listen address and the Authority's host (when keys are fetched remotely).
 */
export function permissionFlags(options: Options, configPath: string | undefined): string[] {
  const reads = [
    configPath,
    options.signing.keyPath,
    options.signing.certificatePath,
    options.authority.keys.kind === "jwks-file" ? options.authority.keys.path : undefined,
    options.server.tls?.certificatePath,
    options.server.tls?.keyPath,
    options.server.tls?.clientCaPath,
  ].filter((path): path is string => path !== undefined);
  const hosts = [listenAddress(options), ...authorityHosts(options)];
  return [
    `--allow-read=${unique(reads).map(checkedListItem).join(",")}`,
    `--allow-env=${ENV_PREFIX}*`,
    `--ignore-env=${IGNORED_ENV.join(",")}`,
    `--allow-net=${unique(hosts).join(",")}`,
    "--no-prompt",
  ];
}

/** Flags for `--export-trust DIR`: the service's reads, writing only `dir`, no network. */
export function trustExportFlags(
  options: Options,
  configPath: string | undefined,
  dir: string,
): string[] {
  return [
    ...permissionFlags(options, configPath).filter((flag) => !flag.startsWith("--allow-net=")),
    `--allow-write=${checkedListItem(dir)}`,
  ];
}

/** Flags for the development profile: it reads no files and only listens. */
export function devPermissionFlags(options: Options): string[] {
  return [
    `--allow-env=${ENV_PREFIX}*`,
    `--ignore-env=${IGNORED_ENV.join(",")}`,
    `--allow-net=${listenAddress(options)}`,
    "--no-prompt",
  ];
}

function listenAddress(options: Options): string {
  const { host, port } = options.server;
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function authorityHosts(options: Options): string[] {
  const { keys, issuer } = options.authority;
  switch (keys.kind) {
    case "jwks-file":
      return [];
    case "jwks-uri":
      return [hostOf(keys.jwksUri)];
    case "discovery":
      // The jwks_uri usually lives on the issuer's host; a different host needs Authority:JwksUri.
      return [hostOf(keys.metadataAddress), ...(URL.canParse(issuer) ? [hostOf(issuer)] : [])];
  }
}

function hostOf(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  return `${parsed.hostname}:${port}`;
}

function checkedListItem(path: string): string {
  if (path.includes(",")) {
    throw new Error(`path "${path}" contains a comma, which Deno permission lists cannot hold`);
  }
  return path;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
