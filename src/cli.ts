/**
 * Command-line flags, shared by the service entry point and the launcher that derives its
 * permissions.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isRepositoryPath } from "./authz/scope.ts";

/** What the operator asked for on the command line. */
export interface CommandLine {
  readonly config?: string;
  readonly check: boolean;
  readonly version: boolean;
  readonly dev: boolean;
  readonly help: boolean;
  /** Directory to write the registry's trust files into, then exit. */
  readonly exportTrust?: string;
  /** Decide one request from given claims and print why, then exit (`--explain`). */
  readonly explain?: ExplainRequest;
  /** A YAML file of policy cases to decide and compare, then exit (`--test-policy`). */
  readonly testPolicy?: string;
  /** Diagnose a registry that refuses this service's tokens, then exit (`--doctor`). */
  readonly doctor?: DoctorTarget;
  /** Set by the primary for each of its `Server:Workers` processes (1-based), never by hand. */
  readonly worker?: number;
}

/** What `--doctor` examines; the caller token comes from `REGISTRY_TOKEN_DOCTOR_TOKEN`. */
export interface DoctorTarget {
  /** The registry's base URL (http or https). */
  readonly registry: string;
  /** A repository to ask a pull token for; without it, a token with no scope. */
  readonly repository?: string;
}

/** What `--explain` decides: a request as the service would see it, without a signature. */
export interface ExplainRequest {
  /** The claims as JSON text, or `@FILE` naming a file in the working directory. */
  readonly claims: string;
  readonly service: string;
  /** Every `--scope`, in order. */
  readonly scopes: readonly string[];
  /** The Authority by `Name`; default: the one whose `Issuer` is the claims' `iss`, else the first. */
  readonly authority?: string;
}

/** Usage text for `--help` and for bad flags. */
export const USAGE =
  `usage: registry-token-service [--config PATH] [--check | --export-trust DIR | --explain … |
                              --test-policy FILE | --doctor URL] [--dev] [--version]
  --config PATH  configuration file (default: etc/registry-token.yaml, or $REGISTRY_TOKEN_CONFIG)
  --check        validate configuration and keys, then exit
  --export-trust DIR
                 write jwks.json and rootcertbundle.pem for the registry into DIR, print its
                 auth.token settings, then exit
  --explain --claims JSON|@FILE --service S --scope SCOPE [--scope …] [--authority NAME]
                 decide a request from the given caller claims (no signature is checked, nothing
                 is minted), print each scope and action with the rule that decided it; exit 0
                 when everything is granted, 3 otherwise
  --test-policy FILE
                 decide every case of a YAML file ({Name, Claims, Service, Scope, Expect}) and
                 compare with Expect; exit 0 only if every case passed, 3 otherwise
  --doctor REGISTRY_URL [--repository NAME]
                 find why a registry refuses this service's tokens: its challenge, a token from
                 the realm for the caller token in $REGISTRY_TOKEN_DOCTOR_TOKEN, then tokens
                 minted here that differ in one property; exit 0 when it accepts them, 1 otherwise
  --dev          development profile: generated keys and a sample caller token (never for production)
  --version      print the version and exit
  --worker N     (internal) run as worker N of Server:Workers; the primary passes it`;

/** Parses flags; throws an `Error` with a one-line message for unknown or malformed flags. */
export function parseCommandLine(args: readonly string[]): CommandLine {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: "string" },
      "export-trust": { type: "string" },
      explain: { type: "boolean", default: false },
      claims: { type: "string" },
      service: { type: "string" },
      scope: { type: "string", multiple: true },
      authority: { type: "string" },
      "test-policy": { type: "string" },
      doctor: { type: "string" },
      repository: { type: "string" },
      check: { type: "boolean", default: false },
      version: { type: "boolean", default: false },
      dev: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      worker: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.dev && values.config) throw new Error("--dev and --config cannot be combined");
  if (values.dev && values["export-trust"]) {
    throw new Error("--export-trust needs the production keys, not --dev");
  }
  if (values.dev && (values.explain || values["test-policy"] !== undefined)) {
    throw new Error("--explain and --test-policy decide with the configuration, not --dev");
  }
  if (values.dev && values.doctor !== undefined) {
    throw new Error("--doctor checks the production keys, not --dev");
  }
  const commands = [
    values.check && "--check",
    values["export-trust"] !== undefined && "--export-trust",
    values.explain && "--explain",
    values["test-policy"] !== undefined && "--test-policy",
    values.doctor !== undefined && "--doctor",
  ].filter(Boolean);
  if (commands.length > 1) throw new Error(`${commands.join(" and ")} cannot be combined`);
  const worker = values.worker === undefined ? undefined : Number(values.worker);
  if (worker !== undefined && !(Number.isSafeInteger(worker) && worker >= 1)) {
    throw new Error(`--worker takes a worker number, got "${values.worker}"`);
  }
  return {
    config: values.config,
    check: values.check ?? false,
    version: values.version ?? false,
    dev: values.dev ?? false,
    help: values.help ?? false,
    exportTrust: values["export-trust"],
    explain: explainRequest(values),
    testPolicy: values["test-policy"],
    doctor: doctorTarget(values.doctor, values.repository),
    worker,
  };
}

function doctorTarget(registry?: string, repository?: string): DoctorTarget | undefined {
  if (registry === undefined) {
    if (repository !== undefined) throw new Error("--repository only goes with --doctor");
    return undefined;
  }
  const url = URL.parse(registry);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash) {
    throw new Error(`--doctor takes the registry's http(s) URL, got "${registry}"`);
  }
  if (url.username || url.password) {
    // Flags land in shell history and `ps`: the caller token comes from the environment.
    throw new Error("--doctor takes the registry's URL without a user name or password");
  }
  if (repository !== undefined && !isRepositoryPath(repository)) {
    throw new Error(
      `--repository takes a repository name such as library/alpine, got "${repository}"`,
    );
  }
  return { registry: url.href, repository };
}

function explainRequest(values: {
  explain?: boolean;
  claims?: string;
  service?: string;
  scope?: string[];
  authority?: string;
}): ExplainRequest | undefined {
  const { claims, service, scope, authority } = values;
  if (!values.explain) {
    const stray = [
      claims !== undefined && "--claims",
      service !== undefined && "--service",
      scope !== undefined && "--scope",
      authority !== undefined && "--authority",
    ].filter(Boolean);
    if (stray.length) throw new Error(`${stray.join(", ")} only go with --explain`);
    return undefined;
  }
  if (claims === undefined) throw new Error("--explain needs --claims JSON or --claims @FILE");
  if (service === undefined) throw new Error("--explain needs --service");
  if (scope === undefined || scope.length === 0) throw new Error("--explain needs --scope");
  return { claims, service, scopes: scope, authority };
}
