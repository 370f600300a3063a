/**
 * Token-request parsing: `GET /token` (query and `Authorization`) and `POST /token`
 * (distribution's OAuth2 form), each turned into the pipeline's `TokenRequestInput`, with the
 * sender evidence (DPoP proofs, client certificate) the request carries.
 *
 * @module
 */

import type { Context } from "hono";
import type { SenderEvidence } from "../authn/sender.ts";
import { Denial } from "../denial.ts";
import type { TokenRequestInput } from "../issue.ts";
import { clientCertificateOf } from "./connection.ts";
import type { AppEnv } from "./env.ts";
import { MAX_FORM_BYTES } from "./limits.ts";
import type { ServerOptions } from "./server_options.ts";

/** `GET /token`: query parameters and the `Authorization` header. */
export function queryRequest(
  c: Context<AppEnv>,
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
  c: Context<AppEnv>,
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
export async function formRequest(
  c: Context<AppEnv>,
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

/** The one value of `name`; given twice, it is refused rather than guessed. */
function singleParameter(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) {
    throw new Denial("request_invalid", `the ${name} parameter must be given once`);
  }
  return values[0];
}
