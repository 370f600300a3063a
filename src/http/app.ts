/**
 * The HTTP application: composes the middlewares (request log, size limits), routes the token
 * endpoint to the pipeline, and renders its outcomes.
 *
 * Built by a function so tests call `app.request()` without a socket.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { JWK } from "jose";
import { Denial } from "../denial.ts";
import {
  type IssueDeps,
  type IssuedToken,
  issueToken,
  type PipelineOptions,
  type TokenRequestInput,
  type VerificationGuard,
} from "../issue.ts";
import type { NonceSource } from "../authn/dpop.ts";
import type { StateReport } from "../state/shared.ts";
import type { Logger } from "../observability/logger.ts";
import type { TokenMetrics } from "../observability/metrics.ts";
import {
  denialResponse,
  oauthTokenResponse,
  routeErrorResponse,
  tokenResponse,
} from "./respond.ts";
import type { VerificationBudget } from "./failure_limit.ts";
import type { ServerOptions } from "./server_options.ts";
import { budgetKey, clientAddress } from "./client_address.ts";
import type { AppEnv } from "./env.ts";
import { withinDeadline } from "./deadline.ts";
import { requestLog } from "./request_log.ts";
import { requestMetrics } from "./request_metrics.ts";
import { auditEvents } from "./audit_events.ts";
import { timed } from "../observability/timing.ts";
import { sizeLimits } from "./size_limits.ts";
import { formRequest, queryRequest } from "./token_request.ts";

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
  /** The server nonces every Authority shares; present when some Authority requires them. */
  readonly nonces?: NonceSource;
  /** The shared state backend and whether it answers, for `/readyz` (absent: memory). */
  readonly stateReport?: () => Promise<StateReport>;
  /** Public keys of the registry tokens as now published at `/jwks` (rotation adds some). */
  readonly jwks: () => { readonly keys: readonly JWK[] };
  readonly metrics: TokenMetrics;
  readonly logger: Logger;
}

/** Creates the service's Hono application. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { authorities } = deps.options;
  // A challenge is rendered before the caller's Authority is known, so it speaks for them all:
  // DPoP is preferred when every Authority demands it, and offers every proof algorithm.
  const preferDpop = authorities.every(({ senderConstraint }) => senderConstraint === "dpop");
  const dpopAlgorithms = [...new Set(authorities.flatMap(({ dpop }) => dpop.algorithms))];
  const allowed = {
    "/token": "GET, POST",
    "/healthz": "GET, HEAD",
    "/readyz": "GET, HEAD",
    "/jwks": "GET, HEAD",
    "/metrics": "GET, HEAD",
  };

  // Around the request log, so that the request's own line goes out first, then its audit event.
  app.use("/token", auditEvents({ logger: deps.logger }));
  app.use(requestLog({ logger: deps.logger, randomId: deps.randomId }));
  app.use("/token", requestMetrics({ metrics: deps.metrics, clock: () => performance.now() }));

  /** Runs the pipeline on the request `read` extracts and renders the outcome. */
  async function answer(
    c: Context<AppEnv>,
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
    const guard: VerificationGuard = (verify) =>
      deps.failures.check(client, now, () => timed(verify, deps.metrics.callerVerification));
    const audit = c.get("audit");
    try {
      const issued = await withinDeadline(
        (async () => issueToken(await read(), deps, audit, guard))(),
        server.limits.requestTimeoutSeconds,
      );
      deps.metrics.issued(issued.plan);
      return await withNonce(render(issued));
    } catch (error) {
      if (!(error instanceof Denial)) throw error;
      return await withNonce(refuse(c, error));
    } finally {
      if (audit.cached !== undefined) deps.metrics.cacheLookup("verified_token", audit.cached);
      if (audit.reused !== undefined) deps.metrics.cacheLookup("minted_token", audit.reused);
    }
  }

  /** Renders a denial, counting and logging it under its reason. */
  function refuse(c: Context<AppEnv>, denial: Denial): Response {
    c.set("reason", denial.reason);
    deps.metrics.rejected(denial.reason);
    return denialResponse(denial, {
      realm: realmOf(c, deps),
      service: c.get("audit").service,
      preferDpop,
      dpopAlgorithms,
    });
  }

  // Oversized requests are refused before any work is done on them.
  app.use(sizeLimits({ refuse }));

  /**
   * Offers the current server nonce on every token answer when nonces are required; when the
   * shared state cannot give one, the answer goes without (a request that needs no DPoP is
   * still served, and a DPoP one is refused by the state check itself).
   */
  async function withNonce(response: Response): Promise<Response> {
    const nonces = deps.nonces;
    if (!nonces) return response;
    try {
      response.headers.set("dpop-nonce", await nonces.current(deps.now().getTime() / 1000));
    } catch (error) {
      if (!(error instanceof Denial)) throw error;
    }
    return response;
  }

  // Hono answers HEAD with the GET route, which would mint (and count) a token only to drop it.
  app.use(
    "/token",
    (c, next) =>
      c.req.method === "HEAD"
        ? Promise.resolve(routeErrorResponse("method_not_allowed", allowed["/token"]))
        : next(),
  );
  const { server, realm } = deps.options;
  app.get("/token", (c) => answer(c, () => queryRequest(c, server, realm), tokenResponse));
  app.post("/token", (c) => answer(c, () => formRequest(c, server, realm), oauthTokenResponse));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // Ready when every Authority's keys are loaded, i.e. when all callers can be authenticated.
  // The shared state is reported, but does not decide: without it only DPoP requests fail.
  app.get("/readyz", async (c) => {
    const state = deps.stateReport ? { state: await deps.stateReport() } : {};
    const waiting = [...deps.authorities].filter(([, { keys }]) => !keys.ready());
    if (!waiting.length) return c.json({ status: "ready", ...state });
    const names = waiting.map(([name]) => `"${name}"`).join(", ");
    return c.json(
      {
        status: "not ready",
        reason: deps.authorities.size === 1
          ? "the Authority's signing keys are not loaded"
          : `the signing keys of ${waiting.length === 1 ? "Authority" : "Authorities"} ${names} ` +
            "are not loaded",
        ...state,
      },
      503,
    );
  });
  app.get("/jwks", (c) => c.json(deps.jwks(), 200, { "cache-control": "public, max-age=300" }));
  app.get("/metrics", async (c) =>
    c.body(await deps.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));
  for (const [path, allow] of Object.entries(allowed)) {
    app.all(path, () => routeErrorResponse("method_not_allowed", allow));
  }

  app.notFound(() => routeErrorResponse("not_found"));
  app.onError((error, c) => {
    c.set("reason", "internal_error");
    deps.logger.log("error", "unhandled error", {
      request_id: c.get("requestId"),
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    return routeErrorResponse("internal_error");
  });
  return app;
}

/** The challenges' `realm`: `Registry:Realm`, else this service's own `/token` URL. */
function realmOf(c: Context, deps: AppDeps): string {
  return deps.options.realm ?? `${new URL(c.req.url).origin}/token`;
}
