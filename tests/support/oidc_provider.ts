/**
 * A real OIDC Authority for tests: the npm `oidc-provider` on loopback, issuing client-credentials
 * JWT access tokens that are plain bearer, DPoP-bound (RFC 9449, `cnf.jkt`) or certificate-bound
 * (RFC 8705, `cnf["x5t#S256"]`).
 *
 * Two servers share one provider: plain HTTP at the issuer, and an HTTPS alias that asks for a
 * client certificate (advertised as `mtls_endpoint_aliases.token_endpoint`).
 *
 * The provider signs with an ES256, RS256 or EdDSA key, and is shaped like the StellaOps Authority
 * (tokens carry `registry.token.issue`) or like a CI issuer (no scope at all).
 *
 * Custom claims (`stellaops:plan`, `stellaops:license`, or any others such as a CI issuer's
 * `project_path` and `groups`) are per request: the harness sends them
 * JSON-encoded in the test-only `X-Test-Token-Claims` header of its token request, and the
 * provider's `extraTokenClaims` copies them into the token. That lets each test pick its own values
 * without registering a client per plan or licence.
 *
 * @module
 */

import type { X509Certificate } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { exportJWK, generateKeyPair } from "jose";
import { createDpopKey, type DpopKey, dpopProof } from "./dpop.ts";

/** The scope every harness token carries, unless the provider is CI-shaped (`scoped: false`). */
export const REGISTRY_SCOPE = "registry.token.issue";
/** The default resource indicator, which becomes the tokens' `aud`. */
export const DEFAULT_RESOURCE = "urn:registry-token";
/** Client ID (and so `sub`) of bearer tokens. */
export const BEARER_CLIENT_ID = "ci-bot";
/** Client ID (and so `sub`) of DPoP-bound tokens. */
export const DPOP_CLIENT_ID = "ci-bot-dpop";
/** The fixture client certificates; each is also the client ID (and `sub`) that presents it. */
export type MtlsClient = "client-a" | "client-b";
/** JWS algorithms the provider accepts in DPoP proofs. */
export const DPOP_ALGORITHMS = [
  "ES256",
  "ES384",
  "ES512",
  "PS256",
  "PS384",
  "PS512",
  "RS256",
  "RS384",
  "RS512",
  "Ed25519",
  "EdDSA",
];
/** Test-only request header whose JSON object `extraTokenClaims` copies into the token. */
export const TEST_CLAIMS_HEADER = "x-test-token-claims";

/** Claims the real Authority adds to its tokens; left out when not given. */
export interface TokenClaims {
  /** Becomes `stellaops:plan`. */
  readonly plan?: string;
  /** Becomes `stellaops:license`. */
  readonly license?: string;
  /** Any other claims, as a CI issuer adds them (`project_path`, `ref`, `groups`…). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** Algorithms the provider can sign its tokens with (a fresh key of that type per provider). */
export type ProviderSigningAlg = "ES256" | "RS256" | "EdDSA";

/** Options of `startOidcProvider`. */
export interface OidcProviderOptions {
  /** Resource indicator the tokens are for, and so their `aud`; default `urn:registry-token`. */
  readonly resource?: string;
  /** Access token lifetime in seconds; default 600. */
  readonly accessTokenTtl?: number;
  /** The key type and algorithm tokens are signed with; default ES256. */
  readonly signingAlg?: ProviderSigningAlg;
  /**
   * Whether clients and tokens carry `registry.token.issue` (the StellaOps Authority's shape);
   * `false` makes a CI-shaped issuer whose tokens carry no scope at all. Default `true`.
   */
  readonly scoped?: boolean;
}

/** A running test Authority. */
export interface TestOidcProvider {
  /** `http://127.0.0.1:PORT`. */
  readonly issuer: string;
  /** `issuer` + `/.well-known/openid-configuration`. */
  readonly metadataAddress: string;
  /** The HTTPS token endpoint that requests a client certificate. */
  readonly mtlsTokenEndpoint: string;
  /** PEM of the CA that issued the HTTPS alias's certificate (and the fixture client certs). */
  readonly caPem: string;
  /** The resource indicator of the tokens, i.e. their `aud`. */
  readonly resource: string;
  /** The algorithm its tokens are signed with. */
  readonly signingAlg: ProviderSigningAlg;
  /** A client-credentials JWT access token for a plain (bearer) client. */
  bearerToken(claims?: TokenClaims): Promise<string>;
  /** A DPoP-bound token (`cnf.jkt`) for `key`, or for a fresh ES256 key. */
  dpopToken(key?: DpopKey, claims?: TokenClaims): Promise<{ token: string; key: DpopKey }>;
  /** A certificate-bound token (`cnf["x5t#S256"]`) got over the mTLS alias with a fixture cert. */
  mtlsToken(
    client: MtlsClient,
    claims?: TokenClaims,
  ): Promise<{ token: string; certificatePem: string; keyPem: string }>;
  /** Stops both servers and drops their connections. */
  close(): Promise<void>;
}

/** Client secret of the bearer and DPoP clients (`client_secret_basic`), for hand-made requests. */
export const CLIENT_SECRET = "harness-client-secret";

const FIXTURES = new URL("../fixtures/mtls/", import.meta.url);

/** Reads a file of tests/fixtures/mtls (made by its generate.sh). */
export async function readMtlsFixture(name: string): Promise<string> {
  return await Deno.readTextFile(new URL(name, FIXTURES));
}

/** Starts a provider on random loopback ports; `close()` it when done. */
export async function startOidcProvider(
  options: OidcProviderOptions = {},
): Promise<TestOidcProvider> {
  const resource = options.resource ?? DEFAULT_RESOURCE;
  const accessTokenTtl = options.accessTokenTtl ?? 600;
  const signingAlg = options.signingAlg ?? "ES256";
  const scope = options.scoped === false ? undefined : REGISTRY_SCOPE;
  const [{ Provider, errors }, caPem, serverPem, serverKey, signingJwk] = await Promise.all([
    loadOidcProvider(),
    readMtlsFixture("ca.pem"),
    readMtlsFixture("server.pem"),
    readMtlsFixture("server.key"),
    signingKey(signingAlg),
  ]);

  // Listen before the provider exists: its issuer must name the port the OS picks.
  let app: RequestListener = (_request, response) => {
    response.statusCode = 503;
    response.end();
  };
  const http = createHttpServer((request, response) => app(request, response));
  // Client certificates from other CAs are let through TLS on purpose, so the provider answers
  // `invalid_client` (certificateAuthorized below) instead of the handshake failing.
  const https = createHttpsServer(
    { cert: serverPem, key: serverKey, ca: caPem, requestCert: true, rejectUnauthorized: false },
    (request, response) => app(request, response),
  );
  const servers = [http, https];
  try {
    await Promise.all(servers.map(listen));
  } catch (error) {
    await Promise.all(servers.map(closeServer));
    throw error;
  }
  const issuer = `http://127.0.0.1:${port(http)}`;
  const tokenEndpoint = `${issuer}/token`;
  const mtlsTokenEndpoint = `https://127.0.0.1:${port(https)}/token`;

  const peerCertificate = (ctx: ProviderContext): X509Certificate | undefined =>
    (ctx.req.socket as Partial<TLSSocket>).getPeerX509Certificate?.();

  const clientCredentials = {
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    ...(scope === undefined ? {} : { scope }),
  };
  const configuration = {
    jwks: { keys: [signingJwk] },
    // Access tokens fall back to the clients' ID token algorithm; there is only the one key.
    clientDefaults: { id_token_signed_response_alg: signingAlg },
    clients: [
      { ...clientCredentials, client_id: BEARER_CLIENT_ID, client_secret: CLIENT_SECRET },
      {
        ...clientCredentials,
        client_id: DPOP_CLIENT_ID,
        client_secret: CLIENT_SECRET,
        dpop_bound_access_tokens: true,
      },
      ...(["client-a", "client-b"] as const).map((client) => ({
        ...clientCredentials,
        client_id: client,
        token_endpoint_auth_method: "tls_client_auth",
        tls_client_auth_subject_dn: `CN=${client}`,
        tls_client_certificate_bound_access_tokens: true,
      })),
    ],
    clientAuthMethods: ["client_secret_basic", "tls_client_auth"],
    // The default is ES256 and EdDSA only; tests may bind tokens to RSA or P-384/521 keys too.
    enabledJWA: { dPoPSigningAlgValues: DPOP_ALGORITHMS },
    // Set, not defaulted: the default function logs a notice when called.
    ttl: { ClientCredentials: () => accessTokenTtl },
    scopes: scope === undefined ? [] : [scope],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            // A resource server must name its scopes; a CI-shaped one has none.
            scope: scope ?? "",
            audience: resource,
            accessTokenTTL: accessTokenTtl,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: signingAlg } },
          };
        },
      },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        getCertificate: peerCertificate,
        certificateAuthorized: (ctx: ProviderContext) =>
          (ctx.req.socket as TLSSocket).authorized === true,
        certificateSubjectMatches: (ctx: ProviderContext, property: string, expected: string) =>
          property === "tls_client_auth_subject_dn" && peerCertificate(ctx)?.subject === expected,
      },
    },
    extraTokenClaims: (ctx: ProviderContext | undefined) => {
      const header = ctx?.get(TEST_CLAIMS_HEADER);
      return header ? JSON.parse(header) : undefined;
    },
    // oidc-provider advertises no aliases itself; RFC 8705 clients find the alias here.
    discovery: { mtls_endpoint_aliases: { token_endpoint: mtlsTokenEndpoint } },
  };
  const provider = await quietly(() => new Provider(issuer, configuration));
  // Kept so a failed token request can say why the provider answered 500.
  let lastServerError: Error | undefined;
  provider.on("server_error", (_ctx, error) => {
    lastServerError = error;
  });
  app = provider.callback();

  const requestToken = async (
    endpoint: string,
    init: {
      headers?: Record<string, string>;
      body: Record<string, string>;
      client?: Deno.HttpClient;
    },
    claims: TokenClaims | undefined,
  ): Promise<string> => {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...claimsHeader(claims),
        ...init.headers,
      },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        ...(scope === undefined ? {} : { scope }),
        ...init.body,
      }),
      client: init.client,
    });
    const body = await response.json();
    if (!response.ok || typeof body.access_token !== "string") {
      const cause = response.status >= 500 ? lastServerError : undefined;
      throw new Error(
        `token request to ${endpoint} failed: ${response.status} ${JSON.stringify(body)}`,
        { cause },
      );
    }
    return body.access_token;
  };
  const basic = (clientId: string) => ({
    authorization: `Basic ${btoa(`${clientId}:${CLIENT_SECRET}`)}`,
  });

  return {
    issuer,
    metadataAddress: `${issuer}/.well-known/openid-configuration`,
    mtlsTokenEndpoint,
    caPem,
    resource,
    signingAlg,
    async bearerToken(claims) {
      return await requestToken(
        tokenEndpoint,
        { headers: basic(BEARER_CLIENT_ID), body: {} },
        claims,
      );
    },
    async dpopToken(key, claims) {
      const proofKey = key ?? await createDpopKey();
      const proof = await dpopProof(proofKey, { htm: "POST", htu: tokenEndpoint });
      const token = await requestToken(
        tokenEndpoint,
        { headers: { ...basic(DPOP_CLIENT_ID), dpop: proof }, body: {} },
        claims,
      );
      return { token, key: proofKey };
    },
    async mtlsToken(client, claims) {
      const [certificatePem, keyPem] = await Promise.all([
        readMtlsFixture(`${client}.pem`),
        readMtlsFixture(`${client}.key`),
      ]);
      const httpClient = Deno.createHttpClient({
        caCerts: [caPem],
        cert: certificatePem,
        key: keyPem,
      });
      try {
        const token = await requestToken(
          mtlsTokenEndpoint,
          { body: { client_id: client }, client: httpClient },
          claims,
        );
        return { token, certificatePem, keyPem };
      } finally {
        httpClient.close();
      }
    },
    async close() {
      await Promise.all(servers.map(closeServer));
    },
  };
}

/**
 * The little of oidc-provider's API used here. The package ships no types, and
 * `@types/oidc-provider` drags in npm's `@types/node`, whose WebCrypto types clash with Deno's
 * (`CryptoKey` from jose stops type-checking elsewhere in tests/).
 */
interface OidcProviderModule {
  Provider: new (issuer: string, configuration: Record<string, unknown>) => {
    callback(): RequestListener;
    on(event: "server_error", listener: (ctx: unknown, error: Error) => void): unknown;
  };
  errors: { InvalidTarget: new () => Error };
}

/** The parts of oidc-provider's Koa context used by the configuration callbacks. */
interface ProviderContext {
  readonly req: IncomingMessage;
  get(header: string): string;
}

let oidcProviderModule: Promise<OidcProviderModule> | undefined;

/**
 * Imports oidc-provider once. Dynamically, because at import it warns that Deno is an
 * unsupported runtime, and a static import could not be kept quiet.
 */
function loadOidcProvider(): Promise<OidcProviderModule> {
  oidcProviderModule ??= quietly(() => import("oidc-provider") as Promise<OidcProviderModule>);
  return oidcProviderModule;
}

/** A signing key as a private JWK, fresh per provider (ES256 ~1 ms, RS256 some 100 ms). */
async function signingKey(alg: ProviderSigningAlg) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...await exportJWK(privateKey), kid: crypto.randomUUID(), alg, use: "sig" };
}

function claimsHeader(claims: TokenClaims | undefined): Record<string, string> {
  const values = {
    ...claims?.extra,
    "stellaops:plan": claims?.plan,
    "stellaops:license": claims?.license,
  };
  const present = Object.entries(values).filter(([, value]) => value !== undefined);
  return present.length
    ? { [TEST_CLAIMS_HEADER]: JSON.stringify(Object.fromEntries(present)) }
    : {};
}

/**
 * Runs `action` with oidc-provider's own console notices dropped: its quick-start warnings (the
 * in-memory adapter, Deno as a runtime) are expected here and would only be noise. Anything else
 * logged meanwhile still goes through.
 */
async function quietly<T>(action: () => T | Promise<T>): Promise<T> {
  const { info, warn } = console;
  const filtered = (log: (...data: unknown[]) => void) => (...data: unknown[]) => {
    // Not anchored: on a terminal the notice is wrapped in ANSI colour codes.
    if (typeof data[0] === "string" && /oidc-provider (WARNING|NOTICE): /.test(data[0])) return;
    log.apply(console, data);
  };
  console.info = filtered(info);
  console.warn = filtered(warn);
  try {
    return await action();
  } finally {
    console.info = info;
    console.warn = warn;
  }
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function port(server: Server): number {
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    server.close((error) => error ? reject(error) : resolve());
    // Keep-alive connections would hold close() open until they time out.
    server.closeAllConnections();
  });
}
