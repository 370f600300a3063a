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
/** The most of a JSON answer (a JWKS, a token) the doctor reads: the other side may be hostile. */
const MAX_BODY_BYTES = 1024 * 1024;
/** The most of a text from the registry or the realm (a message, a reason) the doctor prints. */
const MAX_QUOTED_CHARS = 300;

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
  // Lines quote what the registry and the realm sent: no control character reaches the terminal.
  const print = (line: string) => io.print(printable(line));
  const problem = (cause: string, fix?: string) => {
    print(`problem: ${cause}`);
    if (fix) print(`fix: ${fix}`);
    return EXIT_PROBLEM;
  };
  let problemFound = false;
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
  if (base.status >= 300 && base.status < 400) {
    return problem(
      `${registry}/v2/ redirects (${base.status}) to ${quoted(base.headers.get("location"))}`,
      "give --doctor the registry's own URL, the one clients pull from",
    );
  }
  if (base.status !== 401 || !challenge) {
    return problem(
      `${registry}/v2/ answered ${base.status} without a Bearer challenge: the registry does ` +
        "not use token authentication",
      "configure the registry's auth.token (realm, service, issuer, rootcertbundle)",
    );
  }
  print(
    `ok: the registry asks for a token: realm "${challenge.realm}", service ` +
      `"${challenge.service ?? ""}"`,
  );
  const skew = clockSkewSeconds(base.headers.get("date"), io.now());
  if (skew !== undefined) print(`ok: the registry's clock is ${signed(skew)} s from this host's`);

  // 2. The realm and the service, against this configuration.
  if (options.realm !== undefined && options.realm !== challenge.realm) {
    print(`note: Registry:Realm is "${options.realm}", the registry sends clients elsewhere`);
  }
  const realm = await checkRealm(challenge, service, get, print);
  if ("cause" in realm) return problem(realm.cause, realm.fix);
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
  print(`ok: the service "${registryService}" is allowed`);

  // 3. A token from the realm, as a client gets one, at the registry. The caller token goes only
  // to a realm shown to be this service, over https or loopback: the registry names the realm,
  // and a registry that is not what it should be must not collect a caller credential.
  if (request.callerToken === undefined) {
    print("note: REGISTRY_TOKEN_DOCTOR_TOKEN is not set: only tokens minted here are tried");
  } else if (realm.untrusted) {
    problemFound = true;
    print(`problem: the caller token is not sent to ${challenge.realm}: ${realm.untrusted}`);
    print("fix: point the registry's auth.token.realm at this service's /token URL");
  } else {
    const outcome = await tokenFromRealm(challenge, registryService, request, get);
    if ("refused" in outcome) return problem(outcome.refused, outcome.fix);
    print(`ok: the realm issued a token for ${outcome.scope}`);
    const target = request.repository === undefined
      ? `${registry}/v2/`
      : `${registry}/v2/${request.repository}/tags/list`;
    const answer = await get(target, `Bearer ${outcome.token}`);
    await answer.body?.cancel();
    const refusal = parseBearerChallenge(answer.headers.get("www-authenticate"));
    // A 404 for a repository not pushed yet still means the registry took the token.
    if (answer.ok || (answer.status === 404 && request.repository !== undefined)) {
      print(`ok: the registry accepts it (${answer.status} for ${new URL(target).pathname})`);
      return 0;
    }
    if (answer.status === 403 || refusal?.error === "insufficient_scope") {
      return problem(
        `the registry accepts the token, but it grants no pull on ${request.repository ?? "/v2/"}`,
        "the caller's plan decides that: see --explain with the caller's claims",
      );
    }
    print(`problem: the registry refused it: ${answer.status} ${refusal?.error ?? ""}`.trim());
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
  print("trying tokens minted here, each differing in one property, at /v2/:");
  const accepted: Variant[] = [];
  for (const variant of variants) {
    const answer = await get(`${registry}/v2/`, `Bearer ${variant.token}`);
    await answer.body?.cancel();
    if (answer.ok) accepted.push(variant);
    print(`  ${answer.ok ? "accepted" : `refused (${answer.status})`}: ${variant.description}`);
  }
  if (
    (request.callerToken === undefined || problemFound) && accepted[0]?.change.kind === "none"
  ) {
    print("ok: the registry accepts tokens minted with this configuration");
    return problemFound ? EXIT_PROBLEM : 0;
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
  print(`cause: ${finding.cause}`);
  print(`fix: ${finding.fix}`);
  return EXIT_PROBLEM;
}

type Get = (url: string, authorization?: string) => Promise<Response>;

/** What `checkRealm` found: whether the caller token may go there, and if not, why not. */
type RealmCheck = { readonly untrusted?: string } | {
  readonly cause: string;
  readonly fix: string;
};

/**
 * Whether the realm is this service: it is `Registry:Realm` or `Server:PublicBaseUrl`'s
 * `/token`, or its `/jwks` (beside the realm's path) publishes the signing key. The doctor may
 * reach only this service's own hosts and the registry's, so a realm elsewhere is a problem;
 * one on the registry's host that does not prove itself is `untrusted`, as is one over plain
 * http to another host.
 */
async function checkRealm(
  challenge: BearerChallenge,
  service: DoctorService,
  get: Get,
  print: (line: string) => void,
): Promise<RealmCheck> {
  const { options, signingKey } = service;
  const url = URL.parse(challenge.realm);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return {
      cause: `the registry's realm ${quoted(challenge.realm)} is not an http(s) URL`,
      fix: "set the registry's auth.token.realm to this service's /token URL",
    };
  }
  const configured = [
    options.realm,
    options.server.publicBaseUrl && `${options.server.publicBaseUrl}/token`,
  ];
  const jwks = new URL("jwks", url).href;
  let kids: unknown[];
  try {
    const answer = await get(jwks);
    const body = answer.ok ? await readJson(answer) : (await answer.body?.cancel(), undefined);
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
  const publishes = kids.includes(signingKey.kid);
  if (publishes) {
    print(`ok: the realm is this service (its /jwks publishes signing kid ${signingKey.kid})`);
  } else {
    print(
      `note: ${jwks} does not publish this configuration's signing kid ${signingKey.kid}: ` +
        "the service there may run another configuration",
    );
  }
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    return { untrusted: "it is plain http to another host, where the token could be read" };
  }
  if (!publishes && !configured.includes(challenge.realm)) {
    return {
      untrusted: "nothing shows it is this service (not its Registry:Realm, not its " +
        "Server:PublicBaseUrl, and its /jwks does not publish the signing key)",
    };
  }
  return {};
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
  const body = await readJson(answer).catch(() => undefined);
  if (!answer.ok) {
    const error = body?.errors?.[0];
    const reason = error?.detail?.reason ? ` ${quoted(error.detail.reason)}` : "";
    return {
      refused: `the realm refused the caller token: ${answer.status}${reason}: ` +
        `${error?.message === undefined ? "no message" : quoted(error.message)}`,
      fix: "REGISTRY_TOKEN_DOCTOR_TOKEN must hold a current token from a configured Authority",
    };
  }
  const token = body?.token ?? body?.access_token;
  if (typeof token !== "string") return { refused: "the realm's answer holds no token" };
  return { token, scope };
}

/** An answer's JSON body, read up to `MAX_BODY_BYTES`; throws past that or when it is not JSON. */
// deno-lint-ignore no-explicit-any -- the callers probe the shape they expect, member by member
async function readJson(answer: Response): Promise<any> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of answer.body ?? []) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      await answer.body?.cancel().catch(() => {});
      throw new Error(`an answer over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) bytes.set(chunk, (offset += chunk.length) - chunk.length);
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** A text the other side chose, cut to `MAX_QUOTED_CHARS`. */
function quoted(text: unknown): string {
  const value = String(text ?? "");
  return value.length > MAX_QUOTED_CHARS ? `${value.slice(0, MAX_QUOTED_CHARS)}…` : value;
}

/** Control characters (C0, DEL, C1): what a hostile text could move the terminal with. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `line` with every control character shown as an escape, so none acts on the terminal. */
function printable(line: string): string {
  return line.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Whether `hostname` is this host's loopback (where plain http is not on any network). */
function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(hostname);
}
