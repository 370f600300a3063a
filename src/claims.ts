/**
 * Claim names as configuration writes them, shared by the claim mapping (`SubjectClaim`,
 * `PlanClaim`, `PlanMappings`…) and the rule templates (`${claim:NAME}`).
 *
 * A name is a top-level claim as written (`groups`, `stellaops:plan`,
 * `https://example.com/roles`) or, when it starts with `/`, a JSON Pointer (RFC 6901) into
 * nested claims (`/realm_access/roles`).
 *
 * @module
 */

/** A validated claim name; obtain one from {@link parseClaimName}. */
export interface ClaimName {
  /** The name as written in configuration. */
  readonly source: string;
  /** The reference tokens to follow from the top of the claims set. */
  readonly path: readonly string[];
}

/** Longest claim name accepted: longer ones are configuration mistakes, not claims. */
export const MAX_CLAIM_NAME_LENGTH = 256;

/** Parses a claim name; throws an `Error` saying what is wrong (config builds a ConfigError). */
export function parseClaimName(source: string): ClaimName {
  if (source === "") throw new Error("a claim name must not be empty");
  if (source.length > MAX_CLAIM_NAME_LENGTH) {
    throw new Error(`a claim name is at most ${MAX_CLAIM_NAME_LENGTH} characters`);
  }
  if (!source.startsWith("/")) return { source, path: [source] };
  const path = source.slice(1).split("/").map((token) => {
    // RFC 6901: "~1" is "/", "~0" is "~", and no other "~" escape exists.
    if (/~(?![01])/.test(token)) {
      throw new Error(`"${source}" is not a JSON Pointer (bad ~ escape)`);
    }
    return token.replaceAll("~1", "/").replaceAll("~0", "~");
  });
  return { source, path };
}

/** The value `name` points at in `claims`, or `undefined` when any step is missing. */
export function readClaim(claims: Readonly<Record<string, unknown>>, name: ClaimName): unknown {
  let value: unknown = claims;
  for (const token of name.path) {
    if (typeof value !== "object" || value === null) return undefined;
    if (Array.isArray(value)) {
      // RFC 6901 array indexes: digits without a leading zero.
      if (!/^(?:0|[1-9]\d*)$/.test(token)) return undefined;
      value = value[Number(token)];
    } else {
      if (!Object.hasOwn(value, token)) return undefined;
      value = (value as Record<string, unknown>)[token];
    }
  }
  return value;
}
