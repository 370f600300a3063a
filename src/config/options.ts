/**
 * Validated, immutable service options built from the merged configuration document: each
 * section file settles and builds its own part; the checks that span sections live here.
 *
 * @module
 */

import type { AuthorityOptions } from "../authn/caller.ts";
import type { PolicyOptions } from "../authz/authorize.ts";
import type { ServerOptions } from "../http/server_options.ts";
import { authoritiesOptions, AUTHORITY_SECTION } from "./authority.ts";
import { ROOT_KEY, SERVICE_SCHEMA, type ServiceDocument } from "./document.ts";
import { ConfigError } from "./error.ts";
import { policyOptions } from "./policy.ts";
import { settle } from "./schema.ts";
import { serverOptions } from "./server.ts";
import { stateOptions } from "./state.ts";
import type { StateOptions } from "../state/options.ts";
import { type SigningOptions, signingOptions } from "./signing.ts";
import { optionalUrl } from "./values.ts";
import { telemetryOptions } from "./telemetry.ts";
import type { TelemetryOptions } from "../observability/otlp.ts";

/** Everything the service needs to run, validated once at startup. */
export interface Options {
  readonly server: ServerOptions;
  /** The trusted Authorities, in configuration order; `Authority` alone is one named `default`. */
  readonly authorities: readonly AuthorityOptions[];
  readonly signing: SigningOptions;
  /** `realm` of `WWW-Authenticate` challenges; defaults to this service's own `/token` URL. */
  readonly realm?: string;
  readonly policy: PolicyOptions;
  /** Where the state shared by every process lives (replay records, nonces, the budget). */
  readonly state: StateOptions;
  /** The OTLP push of the metrics, if any. */
  readonly telemetry: TelemetryOptions;
}

/** Validates a merged document into `Options`; throws `ConfigError` naming the first bad key. */
export function buildOptions(document: ServiceDocument): Options {
  // Sound: the schema settled differs from SERVICE_SCHEMA only in requiring Authority.
  const settled = settle(schemaFor(document) as typeof SERVICE_SCHEMA, document, ROOT_KEY);
  const key = (path: string) => `${ROOT_KEY}:${path}`;
  const server = serverOptions(settled.Server, key("Server"));
  // An absent list settles to [], which must not count as set.
  const authorities = authoritiesOptions(
    settled.Authority,
    document.Authorities === undefined ? undefined : settled.Authorities,
    ROOT_KEY,
  );
  const realm = optionalUrl(settled.Registry.Realm, key("Registry:Realm"));
  const pathOf = (index: number) =>
    document.Authorities === undefined ? key("Authority") : key(`Authorities:${index}`);
  authorities.forEach((authority, index) =>
    checkSenderConstraint(authority, server, realm, pathOf(index))
  );
  const signing = signingOptions(settled.Signing, key("Signing"));
  const policy = policyOptions(settled, ROOT_KEY);
  authorities.forEach((authority, index) => checkPlans(authority, policy, pathOf(index)));
  const state = stateOptions(settled.State, key("State"));
  const telemetry = telemetryOptions(settled.Telemetry, key("Telemetry"));
  const options = { server, authorities, signing, realm, policy, state, telemetry };
  checkWorkers(options, pathOf, key("Server:Workers"));
  return options;
}

/**
 * Several workers with state in memory would each keep their own DPoP replay cache: a proof
 * accepted by one could be replayed at another. Without DPoP it is allowed (each worker then
 * counts its own failure budget, docs/operations.md).
 */
function checkWorkers(options: Options, pathOf: (index: number) => string, path: string): void {
  const { workers } = options.server;
  if (workers <= 1 || options.state.backend !== "memory") return;
  const index = options.authorities.findIndex(({ senderConstraint }) =>
    senderConstraint === "dpop" || senderConstraint === "dpop-or-mtls"
  );
  if (index < 0) return;
  throw new ConfigError(
    path,
    `${workers} workers with State:Backend memory cannot share the DPoP replay cache, and ` +
      `${pathOf(index)}:SenderConstraint requires DPoP: use State:Backend redis, or 1 worker`,
  );
}

/**
 * The schema `document` is settled with: without `Authorities`, `Authority` is required, so its
 * missing `Issuer` is reported in its place among the keys, as when it was the only way.
 */
function schemaFor(document: ServiceDocument) {
  if (document.Authorities !== undefined) return SERVICE_SCHEMA;
  const Authority = { ...AUTHORITY_SECTION, optional: false };
  return { ...SERVICE_SCHEMA, fields: { ...SERVICE_SCHEMA.fields, Authority } };
}

/** A sender constraint needs what it checks against: the public URL, client certificates. */
function checkSenderConstraint(
  authority: AuthorityOptions,
  server: ServerOptions,
  realm: string | undefined,
  path: string,
): void {
  const constraint = authority.senderConstraint;
  if ((constraint === "dpop" || constraint === "dpop-or-mtls") && !server.publicBaseUrl && !realm) {
    throw new ConfigError(
      `${path}:SenderConstraint`,
      `${constraint} needs Server:PublicBaseUrl (or Registry:Realm): DPoP proofs ` +
        "are checked against the URL callers use, never against a Host header they choose",
    );
  }
  if (
    (constraint === "mtls" || constraint === "dpop-or-mtls") &&
    !server.tls && !server.clientCertificateHeader
  ) {
    throw new ConfigError(
      `${path}:SenderConstraint`,
      `${constraint} needs client certificates: configure Server:Tls or Server:ClientCertificateHeader`,
    );
  }
}

/** Every plan an Authority's mappings and default name is in the plan catalogue. */
function checkPlans(authority: AuthorityOptions, policy: PolicyOptions, path: string): void {
  const check = (plan: string, key: string) => {
    if (policy.plans.has(plan)) return;
    const known = policy.plans.size ? [...policy.plans.keys()].join(", ") : "none are configured";
    throw new ConfigError(key, `"${plan}" is not a configured plan (${known})`);
  };
  authority.planMappings.forEach((mapping, index) =>
    check(mapping.plan, `${path}:PlanMappings:${index}:Plan`)
  );
  if (authority.defaultPlan !== undefined) check(authority.defaultPlan, `${path}:DefaultPlan`);
}
