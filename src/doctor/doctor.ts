/**
 * `--doctor REGISTRY_URL [--repository NAME]`: why does this registry refuse our tokens? It
 * walks the handshake as a client does — the registry's challenge, the realm, a pull token for
 * the caller in `REGISTRY_TOKEN_DOCTOR_TOKEN`, that token at the registry — and, when the
 * registry refuses it, presents tokens minted here that differ in one property at a time
 * (`variants.ts`) and names the likely cause and setting (`diagnosis.ts`). Exit 0: the registry
 * accepts the tokens; 1: a problem, printed. It prints no token.
 *
 * @module
 */

import type { Options } from "../config/options.ts";
import { errorMessage } from "../error_message.ts";
import type { SigningKey } from "../token/keys.ts";
import { effectiveKeyIdFormat } from "../token/key_id.ts";
import { type BearerChallenge, clockSkewSeconds, parseBearerChallenge } from "./challenge.ts";
import { diagnoseRefusal } from "./diagnosis.ts";
import { mintVariants, signed, type Variant } from "./variants.ts";

/** Each request the doctor makes gives up after this long. */
const REQUEST_TIMEOUT_MS = 10_000;

/** The environment variable holding the caller token (never a flag: `ps` and history show those). */
export const DOCTOR_TOKEN_ENV = "REGISTRY_TOKEN_DOCTOR_TOKEN";

/** The exit code when the doctor found a problem. */
export const EXIT_PROBLEM = 1;

/** What the doctor examines. */
export interface DoctorRequest {
  /** The registry's base URL, e.g. `https://registry.example.internal`. */
  readonly registry: string;
  readonly repository?: string;
  /** A caller token to ask the realm with, as a client would; without it only local tokens. */
  readonly callerToken?: string;
}

/** What the doctor knows of this service: its options and keys (a `Service` fits). */
export interface DoctorService {
  readonly options: Options;
  readonly signingKey: SigningKey;
  /** Published keys still within their `Until`. */
  readonly publishedKeys: readonly SigningKey[];
}

/** The doctor's I/O. */
export interface DoctorIo {
  readonly fetch: typeof fetch;
  readonly now: () => Date;
  readonly randomId: () => string;
  readonly print: (line: string) => void;
}

/** Runs the checks and prints what it finds; resolves with the exit code. */
export async function runDoctor(
  service: DoctorService,
  request: DoctorRequest,
  io: DoctorIo,
): Promise<number> {
  const { options } = service;
  const registry = request.registry.replace(/\/+$/, "");
  const problem = (cause: string, fix?: string) => {
    io.print(`problem: ${cause}`);
    if (fix) io.print(`fix: ${fix}`);
    return EXIT_PROBLEM;
  };
  const get = (url: string, authorization?: string) =>
    io.fetch(url, {
      headers: authorization ? { authorization } : {},
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });

  // 1. The registry's challenge.
  let base: Response;
  try {
    base = await get(`${registry}/v2/`);
    await base.body?.cancel();
  } catch (error) {
    return problem(`cannot reach ${registry}/v2/: ${errorMessage(error)}`);
  }
  const challenge = parseBearerChallenge(base.headers.get("www-authenticate"));
  if (base.status !== 401 || !challenge) {
    return problem(
      `${registry}/v2/ answered ${base.status} without a Bearer challenge: the registry does ` +
        "not use token authentication",
      "configure the registry's auth.token (realm, service, issuer, rootcertbundle)",
    );
  }
  io.print(
    `ok: the registry asks for a token: realm "${challenge.realm}", service ` +
      `"${challenge.service ?? ""}"`,
  );
  const skew = clockSkewSeconds(base.headers.get("date"), io.now());
  if (skew !== undefined) {
    io.print(`ok: the registry's clock is ${signed(skew)} s from this host's`);
  }

  // 2. The realm and the service, against this configuration.
  if (options.realm !== undefined && options.realm !== challenge.realm) {
    io.print(`note: Registry:Realm is "${options.realm}", the registry sends clients elsewhere`);
  }
  const realmProblem = await checkRealm(challenge, service.signingKey, get, io.print);
  if (realmProblem) return problem(realmProblem.cause, realmProblem.fix);
  const registryService = challenge.service;
  if (!registryService) {
    return problem(
      "the registry's challenge names no service",
      "set the registry's auth.token.service",
    );
  }
  const allowed = options.policy.allowedServices;
  if (allowed.size && !allowed.has(registryService)) {
    return problem(
      `the registry's service "${registryService}" is not in Registry:AllowedServices ` +
        `(${[...allowed].join(", ")}), so no token is issued for it`,
      `add "${registryService}" to Registry:AllowedServices, or set the registry's ` +
        "auth.token.service to one of them",
    );
  }
  io.print(`ok: the service "${registryService}" is allowed`);

  // 3. A token from the realm, as a client gets one, at the registry.
  if (request.callerToken === undefined) {
    io.print("note: REGISTRY_TOKEN_DOCTOR_TOKEN is not set: only tokens minted here are tried");
  } else {
    const outcome = await tokenFromRealm(challenge, registryService, request, get);
    if ("refused" in outcome) return problem(outcome.refused, outcome.fix);
    io.print(`ok: the realm issued a token for ${outcome.scope}`);
    const target = request.repository === undefined
      ? `${registry}/v2/`
      : `${registry}/v2/${request.repository}/tags/list`;
    const answer = await get(target, `Bearer ${outcome.token}`);
    await answer.body?.cancel();
    const refusal = parseBearerChallenge(answer.headers.get("www-authenticate"));
    if (answer.ok || answer.status === 404) {
      io.print(`ok: the registry accepts it (${answer.status} for ${new URL(target).pathname})`);
      return 0;
    }
    if (answer.status === 403 || refusal?.error === "insufficient_scope") {
      return problem(
        `the registry accepts the token, but it grants no pull on ${request.repository}`,
        "the caller's plan decides that: see --explain with the caller's claims",
      );
    }
    io.print(`problem: the registry refused it: ${answer.status} ${refusal?.error ?? ""}`.trim());
  }

  // 4. Tokens minted here, each differing in one property.
  const variants = await mintVariants({
    signingKey: service.signingKey,
    publishedKeys: service.publishedKeys,
    issuer: options.signing.issuer,
    audience: options.signing.audience,
    service: registryService,
    lifetimeSeconds: options.signing.lifetimeSeconds,
    now: io.now(),
    skewSeconds: skew,
    randomId: io.randomId,
  });
  io.print("trying tokens minted here, each differing in one property, at /v2/:");
  const accepted: Variant[] = [];
  for (const variant of variants) {
    const answer = await get(`${registry}/v2/`, `Bearer ${variant.token}`);
    await answer.body?.cancel();
    if (answer.ok) accepted.push(variant);
    io.print(`  ${answer.ok ? "accepted" : `refused (${answer.status})`}: ${variant.description}`);
  }
  if (request.callerToken === undefined && accepted[0]?.change.kind === "none") {
    io.print("ok: the registry accepts tokens minted with this configuration");
    return 0;
  }
  const finding = diagnoseRefusal(
    accepted.map(({ change }) => change),
    {
      issuer: options.signing.issuer,
      kid: service.signingKey.kid,
      explicitKeyId: options.signing.keyId !== undefined,
      keyIdFormat: effectiveKeyIdFormat(service.signingKey.alg, options.signing.keyIdFormat),
      carriesChain: service.signingKey.certificateChain.length > 0,
      lifetimeSeconds: options.signing.lifetimeSeconds,
    },
    challenge.realm,
    skew,
  );
  io.print(`cause: ${finding.cause}`);
  io.print(`fix: ${finding.fix}`);
  return EXIT_PROBLEM;
}

type Get = (url: string, authorization?: string) => Promise<Response>;

/**
 * Whether the realm is this service: its `/jwks` (beside the realm's path) publishes the signing
 * key. The doctor may reach only this service's own hosts, so a realm elsewhere is a problem.
 */
async function checkRealm(
  challenge: BearerChallenge,
  signingKey: SigningKey,
  get: Get,
  print: (line: string) => void,
): Promise<{ cause: string; fix: string } | undefined> {
  const jwks = new URL("jwks", challenge.realm).href;
  let kids: unknown[];
  try {
    const answer = await get(jwks);
    const body = answer.ok ? await answer.json() : (await answer.body?.cancel(), undefined);
    kids = Array.isArray(body?.keys) ? body.keys.map((key: { kid?: unknown }) => key?.kid) : [];
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return {
        cause: `the registry's realm ${challenge.realm} is not on one of this service's hosts ` +
          "(Registry:Realm, Server:PublicBaseUrl, or its listen address)",
        fix: "set the registry's auth.token.realm to this service's /token URL (or " +
          "Registry:Realm to the realm's, if a proxy serves this service there)",
      };
    }
    return {
      cause: `the realm ${challenge.realm} cannot be reached from here: ${errorMessage(error)}`,
      fix: "check that the service runs and that this host can reach it as clients do",
    };
  }
  if (kids.includes(signingKey.kid)) {
    print(`ok: the realm is this service (its /jwks publishes signing kid ${signingKey.kid})`);
  } else {
    print(
      `note: ${jwks} does not publish this configuration's signing kid ${signingKey.kid}: ` +
        "the service there may run another configuration",
    );
  }
  return undefined;
}

/** A pull token (or a scope-less one) from the realm, or why the realm refused. */
async function tokenFromRealm(
  challenge: BearerChallenge,
  service: string,
  request: DoctorRequest,
  get: Get,
): Promise<{ token: string; scope: string } | { refused: string; fix?: string }> {
  const url = new URL(challenge.realm);
  url.searchParams.set("service", service);
  const scope = request.repository === undefined
    ? "no scope"
    : `repository:${request.repository}:pull`;
  if (request.repository !== undefined) url.searchParams.set("scope", scope);
  const basic = btoa(`registry-token-doctor:${request.callerToken}`);
  let answer: Response;
  try {
    answer = await get(url.href, `Basic ${basic}`);
  } catch (error) {
    return { refused: `the realm cannot be reached: ${errorMessage(error)}` };
  }
  const body = await answer.json().catch(() => undefined);
  if (!answer.ok) {
    const error = body?.errors?.[0];
    const reason = error?.detail?.reason ? ` ${error.detail.reason}` : "";
    return {
      refused: `the realm refused the caller token: ${answer.status}${reason}: ` +
        `${error?.message ?? "no message"}`,
      fix: "REGISTRY_TOKEN_DOCTOR_TOKEN must hold a current token from a configured Authority",
    };
  }
  const token = body?.token ?? body?.access_token;
  if (typeof token !== "string") return { refused: "the realm's answer holds no token" };
  return { token, scope };
}
