/** Options as a whole: documented defaults and the checks that span sections. */

import assert from "node:assert/strict";
import { DEFAULT_DPOP_OPTIONS } from "../../src/config/dpop.ts";
import { assertConfigError, build, doc } from "../support/config.ts";

Deno.test("buildOptions applies the documented defaults to a minimal document", () => {
  const options = build(doc());
  assert.deepEqual(options.server, {
    host: "0.0.0.0",
    port: 5001,
    publicBaseUrl: undefined,
    tls: undefined,
    trustedProxies: new Set(),
    clientCertificateHeader: undefined,
    workers: 1,
    drainTimeoutSeconds: 10,
    reloadOnChange: false,
    failedAuthLimit: { burst: 50, perMinute: 60 },
    limits: {
      headersTimeoutSeconds: 10,
      bodyTimeoutSeconds: 10,
      idleTimeoutSeconds: 5,
      requestTimeoutSeconds: 30,
      maxConnections: 1024,
    },
  });
  assert.equal(options.authorities[0].senderConstraint, "none");
  assert.deepEqual(options.authorities[0].dpop, DEFAULT_DPOP_OPTIONS);
  assert.equal(options.signing.lifetimeSeconds, 300);
  assert.equal(options.signing.issuer, "registry-token");
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
  assert.equal(options.authorities[0].clockSkewSeconds, 60);
  assert.deepEqual(options.authorities[0].requiredScopes, ["registry.token.issue"]);
  assert.deepEqual(options.authorities[0].audiences, []);
  assert.equal(options.policy.partialGrants, false);
  assert.equal(options.policy.defaultPlan, undefined);
  assert.equal(options.policy.plans.size, 0);
  assert.equal(options.policy.revokedLicenses.size, 0);
  assert.equal(options.policy.allowedServices.size, 0);
  assert.equal(options.realm, undefined);
});

Deno.test("buildOptions rejects a non-URL Realm and an invalid required scope", () => {
  assertConfigError(
    () => build(doc({ Registry: { Realm: "tokens.test/token" } })),
    "RegistryTokenService:Registry:Realm",
    /http\(s\) URL/,
  );
  assertConfigError(
    () =>
      build(doc({
        Authority: { Issuer: "https://authority.test", RequiredScopes: ["ok", "two words"] },
      })),
    "RegistryTokenService:Authority:RequiredScopes:1",
    /not a valid OAuth scope/,
  );
});

Deno.test("buildOptions validates sender-constraint settings", () => {
  const authority = (extra: Record<string, unknown>) => ({
    Authority: { Issuer: "https://authority.test", ...extra },
  });
  assertConfigError(
    () => build(doc(authority({ SenderConstraint: "cookies" }))),
    "RegistryTokenService:Authority:SenderConstraint",
    /must be one of none, dpop, mtls, dpop-or-mtls/,
  );
  assertConfigError(
    () => build(doc(authority({ SenderConstraint: "mtls" }))),
    "RegistryTokenService:Authority:SenderConstraint",
    /needs client certificates: configure Server:Tls or Server:ClientCertificateHeader/,
  );
  assertConfigError(
    () => build(doc(authority({ DPoP: { Algorithms: ["ES256", "HS256"] } }))),
    "RegistryTokenService:Authority:DPoP:Algorithms:1",
    /not an asymmetric JWS algorithm/,
  );
  assertConfigError(
    () => build(doc(authority({ DPoP: { ProofMaxAge: "1h" } }))),
    "RegistryTokenService:Authority:DPoP:ProofMaxAge",
    /between 1s and 600s/,
  );
  assertConfigError(
    () => build(doc({ Server: { ClientCertificateHeader: "X-Client-Cert" } })),
    "RegistryTokenService:Server:ClientCertificateHeader",
    /needs Server:TrustedProxies/,
  );
  assertConfigError(
    () => build(doc({ Server: { TrustedProxies: ["proxy.internal"] } })),
    "RegistryTokenService:Server:TrustedProxies:0",
    /not an IP address/,
  );
  assertConfigError(
    () => build(doc({ Server: { Tls: { KeyPath: "/k.pem" } } })),
    "RegistryTokenService:Server:Tls:CertificatePath",
    /is required/,
  );
  const mtls = build(doc({
    ...authority({ SenderConstraint: "MTLS" }),
    Server: { Tls: { CertificatePath: "/c.pem", KeyPath: "/k.pem" } },
  }));
  assert.equal(mtls.authorities[0].senderConstraint, "mtls");
  assert.deepEqual(mtls.server.tls, {
    certificatePath: "/c.pem",
    keyPath: "/k.pem",
    keyPassword: undefined,
    clientCaPath: undefined,
  });
});

Deno.test("DPoP constraints need the public URL, and a public URL has no query", () => {
  assertConfigError(
    () => build(doc({ Authority: { Issuer: "https://authority.test", SenderConstraint: "dpop" } })),
    "RegistryTokenService:Authority:SenderConstraint",
    /needs Server:PublicBaseUrl \(or Registry:Realm\)/,
  );
  const withRealm = build(doc({
    Authority: { Issuer: "https://authority.test", SenderConstraint: "dpop" },
    Registry: { Realm: "https://tokens.example/token" },
  }));
  assert.equal(withRealm.authorities[0].senderConstraint, "dpop");
  assertConfigError(
    () => build(doc({ Server: { PublicBaseUrl: "https://tokens.example/?x=1" } })),
    "RegistryTokenService:Server:PublicBaseUrl",
    /query or fragment/,
  );
  assertConfigError(
    () => build(doc({ Server: { Host: "127.0.0.1,169.254.169.254" } })),
    "RegistryTokenService:Server:Host",
    /not a host name/,
  );
});

Deno.test("several workers with state in memory refuse an Authority that requires DPoP", () => {
  const server = { Server: { Workers: 2, PublicBaseUrl: "https://tokens.test" } };
  for (const SenderConstraint of ["dpop", "dpop-or-mtls"]) {
    assertConfigError(
      () =>
        build(doc({
          ...server,
          Server: {
            ...server.Server,
            ClientCertificateHeader: "x-client-cert",
            TrustedProxies: ["10.0.0.1"],
          },
          Authorities: [
            { Name: "plain", Issuer: "https://a.test" },
            { Name: "bound", Issuer: "https://b.test", SenderConstraint },
          ],
          Authority: undefined,
        })),
      "RegistryTokenService:Server:Workers",
      /2 workers with State:Backend memory .*Authorities:1:SenderConstraint requires DPoP/,
    );
  }
  // Without DPoP several workers are allowed; one worker with DPoP too.
  assert.equal(build(doc(server)).server.workers, 2);
  const dpop = { Authority: { Issuer: "https://authority.test", SenderConstraint: "dpop" } };
  assert.equal(build(doc({ ...dpop, Server: { ...server.Server, Workers: 1 } })).server.workers, 1);
  // With the state shared through Redis, several workers may serve DPoP callers.
  const shared = build(doc({
    ...dpop,
    ...server,
    State: { Backend: "redis", Address: "redis://127.0.0.1:6379" },
  }));
  assert.equal(shared.server.workers, 2);
  assert.equal(shared.state.backend, "redis");
});
