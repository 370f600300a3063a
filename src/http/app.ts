/**
 * The HTTP application: routes, the request log, and rendering of pipeline outcomes.
 *
 * Built by a function so tests call `app.request()` without a socket.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { JWK } from "jose";
import { Denial, type DenialReason } from "../denial.ts";
import {
  type Audit,
  type IssueDeps,
  type IssuedToken,
  issueToken,
  type TokenRequestInput,
  type VerificationGate,
} from "../issue.ts";
import type { Logger } from "../observability/logger.ts";
import type { TokenMetrics } from "../observability/metrics.ts";
import { denialResponse, oauthTokenResponse, registryError, tokenResponse } from "./respond.ts";
import { clientCertificateOf, type ConnectionInfo } from "./connection.ts";
import type { FailureLimiter } from "./failure_limit.ts";
import { normaliseAddress, type ServerOptions } from "../config/options.ts";
import type { SenderEvidence } from "../authn/sender.ts";

/** Everything the application needs; all I/O comes in through here. */
export interface AppDeps extends IssueDeps {
  /** Failed-authentication accounting per client address. */
  readonly failures: FailureLimiter;
  /** Public keys of the registry tokens as now published at `/jwks` (rotation adds some). */
  readonly jwks: () => { readonly keys: readonly JWK[] };
  readonly metrics: TokenMetrics;
  readonly logger: Logger;
}

type Env = {
  Bindings: ConnectionInfo;
  Variables: { requestId: string; audit: Audit; reason?: DenialReason | "internal_error" };
};

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** Longest request URL accepted: 32 scopes of 255-character names fit comfortably. */
export const MAX_URL_LENGTH = 16 * 1024;
/** Most header bytes accepted: a large Authority token, a DPoP proof and ordinary headers. */
export const MAX_HEADER_BYTES = 32 * 1024;
/**
 * Whether a denial counts against the client's failed-authentication budget: a presented
 * credential that failed. Anonymous requests and the DPoP nonce challenge are part of normal
 * use, and must not lock out the authenticated callers sharing an (e.g. NAT) address.
 */
const FAILED_AUTHENTICATION = (denial: Denial) =>
  denial.rendering.status === 401 && denial.reason !== "credentials_missing" &&
  denial.reason !== "dpop_nonce_required";
/** Largest `POST /token` form accepted: an Authority token plus a few dozen scopes. */
const MAX_FORM_BYTES = 64 * 1024;

/** Creates the service's Hono application. */
export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const allowed = {
    "/token": "GET, POST",
    "/healthz": "GET, HEAD",
    "/readyz": "GET, HEAD",
    "/jwks": "GET, HEAD",
    "/metrics": "GET, HEAD",
  };

  app.use(async (c, next) => {
    const started = performance.now();
    const offered = c.req.header("x-request-id");
    const requestId = offered && REQUEST_ID.test(offered) ? offered : deps.randomId();
    const audit: Audit = {};
    c.set("requestId", requestId);
    c.set("audit", audit);
    await next();
    c.res.headers.set("x-request-id", requestId);
    deps.logger.log(c.res.status >= 500 ? "error" : "info", "request", {
      request_id: requestId,
      method: c.req.method,
      path: c.req.path.slice(0, 256),
      status: c.res.status,
      reason: c.get("reason"),
      ...audit,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
    });
  });

  /** Runs the pipeline on the request `read` extracts and renders the outcome. */
  async function answer(
    c: Context<Env>,
    read: () => TokenRequestInput | Promise<TokenRequestInput>,
    render: (issued: IssuedToken) => Response,
  ): Promise<Response> {
    const address = clientAddress(c, deps.options.server);
    const now = deps.now().getTime() / 1000;
    const rateLimited = (retryAfter: number) =>
      new Denial("rate_limited", "too many failed authentications; try again later", {
        retry_after: retryAfter,
      });
    // Before anything costly: a client whose failures have used up its budget waits.
    const retryAfter = deps.failures.retryAfter(address, now);
    if (retryAfter > 0) return refuse(c, rateLimited(retryAfter));
    // A signature check holds one attempt of the budget while it runs and keeps it if it fails.
    let failureCounted = false;
    const gate: VerificationGate = {
      enter() {
        const wait = deps.failures.acquire(address, now);
        if (wait > 0) throw rateLimited(wait);
      },
      leave(error) {
        if (error instanceof Denial && FAILED_AUTHENTICATION(error)) failureCounted = true;
        else deps.failures.release(address, now);
      },
    };
    try {
      const issued = await issueToken(await read(), deps, c.get("audit"), gate);
      deps.metrics.issued(issued.plan);
      return withNonce(render(issued));
    } catch (error) {
      if (!(error instanceof Denial)) throw error;
      if (FAILED_AUTHENTICATION(error) && !failureCounted) {
        deps.failures.recordFailure(address, now);
      }
      return withNonce(refuse(c, error));
    }
  }

  /** Renders a denial, counting and logging it under its reason. */
  function refuse(c: Context<Env>, denial: Denial): Response {
    c.set("reason", denial.reason);
    deps.metrics.rejected(denial.reason);
    return denialResponse(denial, {
      realm: realmOf(c, deps),
      service: c.get("audit").service,
      preferDpop: deps.options.authority.senderConstraint === "dpop",
      dpopAlgorithms: deps.dpop.options.algorithms,
    });
  }

  // Oversized requests are refused before any work is done on them.
  app.use(async (c, next) => {
    if (c.req.url.length > MAX_URL_LENGTH) {
      return refuse(
        c,
        new Denial("uri_too_long", `the URL is longer than ${MAX_URL_LENGTH} bytes`),
      );
    }
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, name) => headerBytes += name.length + value.length + 4);
    if (headerBytes > MAX_HEADER_BYTES) {
      return refuse(
        c,
        new Denial("headers_too_large", `the request headers exceed ${MAX_HEADER_BYTES} bytes`),
      );
    }
    await next();
  });

  /** Offers the current server nonce on every token answer when nonces are required. */
  function withNonce(response: Response): Response {
    const nonces = deps.dpop.nonces;
    if (nonces) response.headers.set("dpop-nonce", nonces.current(deps.now().getTime() / 1000));
    return response;
  }

  // Hono answers HEAD with the GET route, which would mint (and count) a token only to drop it.
  app.use(
    "/token",
    (c, next) =>
      c.req.method === "HEAD" ? Promise.resolve(methodNotAllowed(allowed["/token"])) : next(),
  );
  const { server, realm } = deps.options;
  app.get("/token", (c) => answer(c, () => queryRequest(c, server, realm), tokenResponse));
  app.post("/token", (c) => answer(c, () => formRequest(c, server, realm), oauthTokenResponse));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // Ready when the Authority's keys are loaded, i.e. when callers can be authenticated.
  app.get(
    "/readyz",
    (c) =>
      deps.authorityKeys.ready() ? c.json({ status: "ready" }) : c.json(
        { status: "not ready", reason: "the Authority's signing keys are not loaded" },
        503,
      ),
  );
  app.get("/jwks", (c) => c.json(deps.jwks(), 200, { "cache-control": "public, max-age=300" }));
  app.get("/metrics", async (c) =>
    c.body(await deps.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));
  for (const [path, allow] of Object.entries(allowed)) app.all(path, () => methodNotAllowed(allow));

  app.notFound(() => registryError(404, "NOT_FOUND", "not found"));
  app.onError((error, c) => {
    c.set("reason", "internal_error");
    deps.logger.log("error", "unhandled error", {
      request_id: c.get("requestId"),
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    return registryError(500, "UNKNOWN", "internal error; see the service log");
  });
  return app;
}

/** `GET /token`: query parameters and the `Authorization` header. */
function queryRequest(
  c: Context<Env>,
  server: ServerOptions,
  realm: string | undefined,
): TokenRequestInput {
  const params = new URL(c.req.url).searchParams;
  return {
    service: singleParameter(params, "service"),
    scopes: params.getAll("scope"),
    credential: { authorization: c.req.header("authorization") },
    sender: senderEvidence(c, server, realm),
  };
}

/**
 * The URL callers used for this request, which DPoP proofs must name: under
 * `Server:PublicBaseUrl`, else `Registry:Realm` for the token endpoint, else (only when no DPoP
 * constraint is configured, see options) the request's own URL, whose host the caller chose.
 */
function publicUrl(url: URL, server: ServerOptions, realm: string | undefined): string {
  if (server.publicBaseUrl) return `${server.publicBaseUrl}${url.pathname}`;
  return realm ?? `${url.origin}${url.pathname}`;
}

/** Proof-of-possession material of the request: DPoP header(s) and client certificate. */
function senderEvidence(
  c: Context<Env>,
  server: ServerOptions,
  realm: string | undefined,
): SenderEvidence {
  const url = new URL(c.req.url);
  // Headers joins repeated DPoP headers with ", "; a compact JWS never contains a comma.
  const dpop = c.req.header("dpop");
  return {
    method: c.req.method,
    url: publicUrl(url, server, realm),
    dpopProofs: dpop ? dpop.split(",").map((proof) => proof.trim()) : [],
    clientCertificate: clientCertificateOf(c.req.raw.headers, c.env ?? {}, server),
  };
}

/** `POST /token`: distribution's OAuth2 form, the Authority token in `password` or `refresh_token`. */
async function formRequest(
  c: Context<Env>,
  server: ServerOptions,
  realm: string | undefined,
): Promise<TokenRequestInput> {
  const contentType = c.req.header("content-type") ?? "";
  if (!/^application\/x-www-form-urlencoded\s*(?:;|$)/i.test(contentType)) {
    throw new Denial(
      "request_invalid",
      "POST /token takes an application/x-www-form-urlencoded form",
    );
  }
  const params = new URLSearchParams(await readBody(c.req.raw, MAX_FORM_BYTES));
  const grantType = singleParameter(params, "grant_type");
  if (grantType !== "password" && grantType !== "refresh_token") {
    throw new Denial(
      "grant_type_unsupported",
      "grant_type must be password or refresh_token, carrying the Authority token in that field",
    );
  }
  return {
    service: singleParameter(params, "service"),
    scopes: params.getAll("scope"),
    credential: { formField: grantType, value: singleParameter(params, grantType) },
    sender: senderEvidence(c, server, realm),
  };
}

function methodNotAllowed(allow: string): Response {
  return registryError(405, "UNSUPPORTED", "method not allowed", undefined, { allow });
}

/** Reads a request body of at most `limit` bytes; a larger or broken one is a `Denial`. */
async function readBody(request: Request, limit: number): Promise<string> {
  const tooLarge = () => new Denial("request_invalid", `the form is larger than ${limit} bytes`);
  if (Number(request.headers.get("content-length") ?? 0) > limit) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of request.body ?? []) {
      size += chunk.length;
      if (size > limit) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (error) {
    throw error instanceof Denial
      ? error
      : new Denial("request_invalid", "the form could not be read completely");
  }
  const decoder = new TextDecoder();
  return chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode();
}

function singleParameter(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) {
    throw new Denial("request_invalid", `the ${name} parameter must be given once`);
  }
  return values[0];
}

/**
 * The address failed authentications are counted against: the peer, or, when the peer is a
 * trusted proxy, the address it forwarded (the last `X-Forwarded-For` entry, which it wrote).
 */
function clientAddress(c: Context<Env>, server: ServerOptions): string {
  const peer = c.env?.remoteAddress ?? "unknown";
  const forwarded = c.req.header("x-forwarded-for");
  const address = forwarded && server.trustedProxies.has(peer)
    ? normaliseAddress(forwarded.split(",").at(-1)!.trim())
    : peer;
  return limitedNetwork(address);
}

/** IPv6 clients are counted per /64: one host usually owns the whole prefix. */
function limitedNetwork(address: string): string {
  if (!address.includes(":")) return address;
  const [head, tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = [
    ...left,
    ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"),
    ...right,
  ];
  return `${groups.slice(0, 4).map((group) => group || "0").join(":")}::/64`;
}

function realmOf(c: Context, deps: AppDeps): string {
  return deps.options.realm ?? `${new URL(c.req.url).origin}/token`;
}
