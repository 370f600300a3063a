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
  type PipelineOptions,
  type TokenRequestInput,
  type VerificationGuard,
} from "../issue.ts";
import type { Logger } from "../observability/logger.ts";
import type { TokenMetrics } from "../observability/metrics.ts";
import { denialResponse, oauthTokenResponse, registryError, tokenResponse } from "./respond.ts";
import { clientCertificateOf, type ConnectionInfo } from "./connection.ts";
import type { VerificationBudget } from "./failure_limit.ts";
import type { ServerOptions } from "./server_options.ts";
import { budgetKey, clientAddress } from "./client_address.ts";
import { MAX_FORM_BYTES, MAX_HEADER_BYTES, MAX_URL_LENGTH } from "./limits.ts";
import type { SenderEvidence } from "../authn/sender.ts";

/** The options the application reads besides the pipeline's. */
export interface AppOptions extends PipelineOptions {
  readonly server: ServerOptions;
  /** `realm` of `WWW-Authenticate` challenges; defaults to this service's own `/token` URL. */
  readonly realm?: string;
}

/** Everything the application needs; all I/O comes in through here. */
export interface AppDeps extends IssueDeps {
  readonly options: AppOptions;
  /** Signature checks of uncached caller tokens, within each client's budget. */
  readonly failures: VerificationBudget;
  /** Public keys of the registry tokens as now published at `/jwks` (rotation adds some). */
  readonly jwks: () => { readonly keys: readonly JWK[] };
  readonly metrics: TokenMetrics;
  readonly logger: Logger;
}

type Env = {
  Bindings: ConnectionInfo;
  Variables: {
    requestId: string;
    audit: Audit;
    reason?: DenialReason | "internal_error";
    /** The client's address as resolved through trusted proxies. */
    client?: string;
  };
};

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

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
      client: c.get("client"),
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
    const { server } = deps.options;
    const address = clientAddress(
      c.env?.remoteAddress,
      c.req.header("x-forwarded-for"),
      server.trustedProxies,
    );
    c.set("client", address);
    const client = budgetKey(address);
    const now = deps.now().getTime() / 1000;
    const guard: VerificationGuard = (verify) => deps.failures.check(client, now, verify);
    try {
      const issued = await withinDeadline(
        (async () => issueToken(await read(), deps, c.get("audit"), guard))(),
        server.limits.requestTimeoutSeconds,
      );
      deps.metrics.issued(issued.plan);
      return withNonce(render(issued));
    } catch (error) {
      if (!(error instanceof Denial)) throw error;
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
 * The URL DPoP proofs must name for this request: under `Server:PublicBaseUrl`, else
 * `Registry:Realm` for the token endpoint; never one built from the request, whose host the
 * caller chose. `undefined` when neither is configured: then no proof is accepted.
 */
function publicUrl(path: string, server: ServerOptions, realm: string | undefined) {
  return server.publicBaseUrl ? `${server.publicBaseUrl}${path}` : realm;
}

/** Proof-of-possession material of the request: DPoP header(s) and client certificate. */
function senderEvidence(
  c: Context<Env>,
  server: ServerOptions,
  realm: string | undefined,
): SenderEvidence {
  // Headers joins repeated DPoP headers with ", "; a compact JWS never contains a comma.
  const dpop = c.req.header("dpop");
  return {
    method: c.req.method,
    url: publicUrl(c.req.path, server, realm),
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
  const params = new URLSearchParams(
    await readBody(c.req.raw, MAX_FORM_BYTES, server.limits.bodyTimeoutSeconds),
  );
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

/**
 * Reads a request body of at most `limit` bytes within `timeoutSeconds` into one buffer: a
 * form trickled in one byte at a time costs the same as one sent at once. A larger, late,
 * broken or truncated one (fewer bytes than its `Content-Length`, or a reset) is a `Denial`: a
 * form cut short is never processed.
 */
async function readBody(request: Request, limit: number, timeoutSeconds: number) {
  const tooLarge = () => new Denial("request_invalid", `the form is larger than ${limit} bytes`);
  const declared = request.headers.get("content-length");
  if (Number(declared ?? 0) > limit) throw tooLarge();
  const reader = request.body?.getReader();
  const body = new Uint8Array(limit);
  let size = 0;
  let late = false;
  // One timer for the whole body; cancelling ends the read that is waiting.
  const timer = setTimeout(() => {
    late = true;
    reader?.cancel().catch(() => {});
  }, timeoutSeconds * 1000);
  try {
    while (reader) {
      const { done, value } = await reader.read();
      if (late) {
        throw new Denial("body_timeout", `the form did not arrive within ${timeoutSeconds}s`);
      }
      if (done) break;
      if (size + value.length > limit) throw tooLarge();
      body.set(value, size);
      size += value.length;
    }
  } catch (error) {
    if (error instanceof Denial) throw error;
    throw late
      ? new Denial("body_timeout", `the form did not arrive within ${timeoutSeconds}s`)
      : new Denial("request_invalid", "the form could not be read completely");
  } finally {
    clearTimeout(timer);
  }
  if (declared !== null && Number(declared) !== size) {
    throw new Denial("request_invalid", "the form is shorter than its Content-Length");
  }
  return new TextDecoder().decode(body.subarray(0, size));
}

/**
 * Settles like `work`, or refuses with `request_timeout` after `seconds`: a request is answered
 * within `Server:RequestTimeout` however slow an Authority or the CPU is.
 */
async function withinDeadline<T>(work: Promise<T>, seconds: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Denial("request_timeout", `the request could not be answered within ${seconds}s`, {
            retry_after: 1,
          }),
        ),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function singleParameter(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) {
    throw new Denial("request_invalid", `the ${name} parameter must be given once`);
  }
  return values[0];
}

function realmOf(c: Context, deps: AppDeps): string {
  return deps.options.realm ?? `${new URL(c.req.url).origin}/token`;
}
