/**
 * The service's Deno runtime flags: its least-privilege permission set, derived from its
 * configuration, and its memory caps.
 *
 * This is the single source of those flags: `deno task start`, the tests that spawn the
 * service, the benchmark and the compiled binary all take them from here.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { ENV_PREFIX } from "./config/document.ts";
import type { AuthorityOptions } from "./authn/caller.ts";
import type { Options } from "./config/options.ts";
import { configuredFiles } from "./config/files.ts";
import { probeHost } from "./http/serve.ts";

/**
 * Hosts Deno allows importing from unless told otherwise (and bakes into compiled binaries);
 * denying them leaves no host at all.
 */
const DEFAULT_IMPORT_HOSTS = [
  "jsr.io:443",
  "deno.land:443",
  "esm.sh:443",
  "raw.esm.sh:443",
  "cdn.jsdelivr.net:443",
  "raw.githubusercontent.com:443",
  "gist.githubusercontent.com:443",
];

/**
 * Environment variables npm dependencies probe and must not be asked about: `yaml`'s two, the
 * Redis client's (`@redis/client` reads `REDIS_DEBUG_MAINTENANCE` and `REDIS_EMIT_DIAGNOSTICS`
 * when it connects), and OpenTelemetry's `OTEL_*` (the OTLP exporter reads its endpoint,
 * headers and timeouts from them): seen as unset, so that `Telemetry` alone decides where
 * metrics go.
 */
const IGNORED_ENV = [
  "LOG_TOKENS",
  "LOG_STREAM",
  "REDIS_DEBUG_MAINTENANCE",
  "REDIS_EMIT_DIAGNOSTICS",
  "OTEL_*",
];

/**
 * Flags for `deno run` and `deno compile`: read only the directories holding the config, key
 * and TLS files (directories, so that a reload can pick up a rotated key file next to the old
 * one), env only `REGISTRY_TOKEN_*`, net only the listen address, the host of each Authority
 * whose keys are fetched remotely, the state backend and the OTLP Collector. Never write,
 * run, FFI or system information.
 */
export function runtimeFlags(options: Options, configPath: string | undefined): string[] {
  const { reloadable, tls, state, telemetry } = configuredFiles(options);
  const files = [
    ...(configPath === undefined ? [] : [configPath]),
    ...reloadable,
    ...tls,
    ...state,
    ...telemetry,
  ];
  return [
    `--allow-read=${unique(files.map(readableDirectory)).join(",")}`,
    ...baseFlags([
      ...ownAddresses(options),
      ...authorityHosts(options),
      ...stateHosts(options),
      ...telemetryHosts(options),
    ]),
  ];
}

/**
 * With `Server:Workers` above 1 a compiled binary is its own primary: it may run `executable`
 * (its install path) and nothing else; each worker revokes that at startup (`src/workers.ts`).
 * Under `deno task start` the launcher is the primary, and the service gets no run permission.
 */
export function workerFlags(options: Options, executable: string): string[] {
  return options.server.workers > 1 ? [`--allow-run=${checkedListItem(executable)}`] : [];
}

/** Flags for `--export-trust DIR`: the service's reads, writing only `dir`, no network. */
export function trustExportFlags(
  options: Options,
  configPath: string | undefined,
  dir: string,
): string[] {
  return [
    ...runtimeFlags(options, configPath).filter((flag) => !flag.startsWith("--allow-net=")),
    `--allow-write=${checkedListItem(dir)}`,
  ];
}

/**
 * Flags for `--explain` and `--test-policy`: the service's reads plus the `inputs` (a claims
 * file, a cases file) named on the command line, and no network — they check no signature.
 */
export function policyCheckFlags(
  options: Options,
  configPath: string | undefined,
  inputs: readonly string[],
): string[] {
  const [reads, ...rest] = runtimeFlags(options, configPath);
  const directories = reads.slice("--allow-read=".length).split(",");
  return [
    `--allow-read=${unique([...directories, ...inputs.map(readableDirectory)]).join(",")}`,
    ...rest.filter((flag) => !flag.startsWith("--allow-net=")),
  ];
}

/**
 * Flags for `--doctor REGISTRY_URL`: the service's reads, and the network only to the registry
 * and to this service's own hosts, where its realm is (`Registry:Realm`, `Server:PublicBaseUrl`,
 * the listen address). No write.
 */
export function doctorFlags(
  options: Options,
  configPath: string | undefined,
  registry: string,
): string[] {
  const [reads] = runtimeFlags(options, configPath);
  const realms = [options.realm, options.server.publicBaseUrl].filter((url) => url !== undefined);
  return [reads, ...baseFlags([hostOf(registry), ...realms.map(hostOf), ...ownAddresses(options)])];
}

/** Flags for the development profile: it reads no files and only listens. */
export function devRuntimeFlags(options: Options): string[] {
  return baseFlags(ownAddresses(options));
}

function baseFlags(hosts: string[]): string[] {
  return [
    `--allow-env=${ENV_PREFIX}*`,
    `--ignore-env=${IGNORED_ENV.join(",")}`,
    `--allow-net=${unique(hosts).join(",")}`,
    // Every module is local or embedded; nothing may be loaded from the network at run time.
    "--no-remote",
    `--deny-import=${DEFAULT_IMPORT_HOSTS.join(",")}`,
    // Under sustained load V8 grows the young generation to tens of MB; 4 MB semi-spaces
    // keep peak RSS about 35 MB lower at no measurable cost in throughput (bench/load.ts).
    "--v8-flags=--max-semi-space-size=4",
    "--no-prompt",
  ];
}

/**
 * The listen address, and the loopback address the accept watchdog connects to (`serve.ts`).
 * With port 0 (tests) the port is not known in advance, so the probe may reach the whole host.
 */
function ownAddresses(options: Options): string[] {
  const { host, port } = options.server;
  const address = (name: string) => name.includes(":") ? `[${name}]` : name;
  const probe = address(probeHost(host));
  return [`${address(host)}:${port}`, port === 0 ? probe : `${probe}:${port}`].map(
    checkedListItem,
  );
}

/** The shared state backend's `host:port`, exactly. */
function stateHosts(options: Options): string[] {
  const { hostPort } = options.state;
  return hostPort === undefined ? [] : [checkedListItem(hostPort)];
}

/** The OTLP Collector's `host:port`, exactly. */
function telemetryHosts(options: Options): string[] {
  const otlp = options.telemetry.otlp;
  return otlp === undefined ? [] : [checkedListItem(otlp.hostPort)];
}

/** The hosts of every Authority whose keys are fetched remotely. */
function authorityHosts(options: Options): string[] {
  return options.authorities.flatMap(remoteHosts);
}

function remoteHosts({ keys, issuer }: AuthorityOptions): string[] {
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
  return checkedListItem(`${parsed.hostname}:${port}`);
}

/**
 * The absolute directory of `file`, which the service may read. A file directly in `/` would
 * open the whole file system (and a relative path under systemd resolves there): refused.
 */
function readableDirectory(file: string): string {
  const directory = resolve(dirname(file));
  if (directory === "/") {
    throw new Error(
      `"${file}" is in the root directory: keep config and keys in a directory of their own`,
    );
  }
  return checkedListItem(directory);
}

/** Deno's permission lists are comma-separated, so an entry with a comma would widen them. */
function checkedListItem(entry: string): string {
  if (entry.includes(",")) {
    throw new Error(`"${entry}" contains a comma, which Deno permission lists cannot hold`);
  }
  return entry;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
