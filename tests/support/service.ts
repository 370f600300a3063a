/**
 * Builds a service instance in-process for HTTP-level tests: fixture signing key, a test
 * Authority's JWKS, a fixed clock, and captured log lines.
 *
 * @module
 */

import { mergeDocument } from "../../src/config/document.ts";
import type { AuthorityOptions } from "../../src/authn/caller.ts";
import { buildOptions, type Options } from "../../src/config/options.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createTokenMetrics, type TokenMetrics } from "../../src/observability/metrics.ts";
import type { ConnectionInfo } from "../../src/http/connection.ts";
import { createService, type Service } from "../../src/service.ts";
import { NOW, type TestAuthority } from "./authority.ts";

/** Absolute path of a file under `tests/fixtures/`. */
export function fixture(path: string): string {
  return new URL(`../fixtures/${path}`, import.meta.url).pathname;
}

/** The fixture signing key: RSA-2048 with a self-signed certificate in one PEM file. */
export const SIGNING_KEY_PATH = fixture("keys/rsa.key-and-cert.pem");
/** The registry tokens are requested for (the `service` parameter) throughout the tests. */
export const REGISTRY = "registry.test";
/** Origin of the requests `request` sends: DPoP proofs name `${ORIGIN}/token` as `htu`. */
export const ORIGIN = "https://tokens.test";
/** Path under which the test Authority's JWKS is served from memory. */
const AUTHORITY_JWKS_PATH = "memory:authority-jwks.json";

/** A `RegistryTokenService` section: sensible test defaults, top-level sections replaced by `patch`. */
export function serviceDocument(authority: TestAuthority, patch: Record<string, unknown> = {}) {
  return {
    RegistryTokenService: {
      Authority: { Issuer: authority.issuer, JwksPath: AUTHORITY_JWKS_PATH },
      Signing: { Issuer: "registry-token-test", KeyPath: SIGNING_KEY_PATH },
      Registry: { Realm: "https://tokens.test/token" },
      Plans: [
        { Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] },
        { Name: "reader", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
        {
          Name: "admin",
          Repositories: [
            { Pattern: "*", Actions: ["*"] },
            { Type: "registry", Pattern: "catalog", Actions: ["*"] },
          ],
        },
      ],
      DefaultPlan: "reader",
      ...patch,
    },
  };
}

/** Options for `serviceDocument(authority, patch)`, with no environment overrides. */
export function testOptions(
  authority: TestAuthority,
  patch: Record<string, unknown> = {},
): Options {
  return buildOptions(mergeDocument(serviceDocument(authority, patch), () => undefined));
}

/**
 * The Authority options of `serviceDocument(authority)`, without the verified-token cache, with
 * `patch` on top: for calling `authenticate` directly.
 */
export function authorityOptions(
  authority: TestAuthority,
  patch: Partial<AuthorityOptions> = {},
): AuthorityOptions {
  return { ...testOptions(authority).authorities[0], tokenCacheSize: 0, ...patch };
}

/** A running in-process service and what it logged. */
export interface TestService extends Service {
  /** The log lines, audit events aside. */
  readonly logs: string[];
  /** The audit events, parsed. */
  readonly auditEvents: Record<string, unknown>[];
  readonly metrics: TokenMetrics;
  /** Sends a request to the app (no socket), as if it came on `connection`. */
  request(path: string, init?: RequestInit, connection?: ConnectionInfo): Promise<Response>;
}

/** Starts an in-process service for `authority` with the given section patch. */
export async function startTestService(
  authority: TestAuthority,
  patch: Record<string, unknown> = {},
  now: () => Date = () => NOW,
): Promise<TestService> {
  const logs: string[] = [];
  const auditEvents: Record<string, unknown>[] = [];
  const metrics = createTokenMetrics();
  let sequence = 0;
  const jwksBytes = new TextEncoder().encode(JSON.stringify(authority.jwks));
  const service = await createService(testOptions(authority, patch), {
    readFile: (path) =>
      path === AUTHORITY_JWKS_PATH ? Promise.resolve(jwksBytes) : Deno.readFile(path),
    fetch: () => Promise.reject(new Error("tests must not reach the network")),
    now,
    randomId: () => `id-${++sequence}`,
    logger: createLogger((line) => {
      const record = JSON.parse(line);
      if (record.msg === "audit") auditEvents.push(record);
      else logs.push(line);
    }, now),
    metrics,
  });
  return {
    ...service,
    logs,
    auditEvents,
    metrics,
    request: async (path, init, connection) =>
      await service.fetch(new Request(`${ORIGIN}${path}`, init), connection),
  };
}
