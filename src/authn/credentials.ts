/**
 * Extracts the caller's Authority token from the `Authorization` header or the OAuth2 form.
 *
 * docker, podman, skopeo and containerd only ever send Basic credentials to a token realm, so
 * the token is accepted as the Basic password as well as a Bearer token. The Basic username
 * (conventionally `oauth2accesstoken`) never decides identity. DPoP-bound tokens come with the
 * `DPoP` scheme (RFC 9449); how the token was presented is kept, because a bound token sent
 * any other way must be refused.
 *
 * @module
 */

import { Denial } from "../denial.ts";
import { decodeBase64 } from "../encoding.ts";

/** Longest `Authorization` header accepted; real Authority tokens are a few KiB at most. */
export const MAX_AUTHORIZATION_LENGTH = 16 * 1024;

const SCHEME = /^([A-Za-z]+) +(\S+)\s*$/;

/** Where a caller put its Authority token. */
export type CallerCredential =
  /** `GET /token`: the `Authorization` header (Bearer, or Basic with the token as password). */
  | { readonly authorization: string | null | undefined }
  /** `POST /token`: the OAuth2 form field its `grant_type` names. */
  | { readonly formField: "password" | "refresh_token"; readonly value: string | undefined };

/** How the token was presented: the `Authorization` scheme, or the POST form. */
export type PresentationScheme = "bearer" | "basic" | "dpop" | "form";

/** An Authority token as the caller presented it. */
export interface PresentedToken {
  readonly token: string;
  readonly scheme: PresentationScheme;
}

/** Returns the Authority token of a credential, or throws a `Denial`. */
export function authorityTokenOf(credential: CallerCredential): PresentedToken {
  if ("authorization" in credential) return extractAuthorityToken(credential.authorization);
  const { formField, value } = credential;
  if (!value) {
    throw new Denial(
      "credentials_missing",
      `the ${formField} form field must carry the Authority token`,
    );
  }
  if (value.length > MAX_AUTHORIZATION_LENGTH) {
    throw new Denial("credentials_malformed", `the ${formField} form field is too large`);
  }
  return { token: value, scheme: "form" };
}

/** Returns the Authority token carried by an `Authorization` header, or throws a `Denial`. */
export function extractAuthorityToken(authorization: string | null | undefined): PresentedToken {
  if (!authorization) {
    throw new Denial(
      "credentials_missing",
      "authentication required: send the Authority token as a Bearer token or as the password of Basic credentials",
    );
  }
  if (authorization.length > MAX_AUTHORIZATION_LENGTH) {
    throw new Denial("credentials_malformed", "the Authorization header is too large");
  }
  const match = SCHEME.exec(authorization);
  const scheme = match?.[1].toLowerCase();
  if (!match || (scheme !== "bearer" && scheme !== "basic" && scheme !== "dpop")) {
    throw new Denial(
      "credentials_malformed",
      "unsupported Authorization header: use Bearer <token>, DPoP <token> or Basic credentials with the token as password",
    );
  }
  const token = scheme === "basic" ? basicPassword(match[2]) : match[2];
  if (!token) {
    throw new Denial(
      "credentials_missing",
      "the Basic credentials carry no password (the Authority token)",
    );
  }
  return { token, scheme: scheme as PresentationScheme };
}

function basicPassword(encoded: string): string {
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      decodeBase64(encoded),
    );
  } catch {
    throw new Denial("credentials_malformed", "the Basic credentials are not valid base64 UTF-8");
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) {
    throw new Denial(
      "credentials_malformed",
      "the Basic credentials have no ':' between user and password",
    );
  }
  return decoded.slice(colon + 1);
}
