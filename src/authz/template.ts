/**
 * Rule templates: `${subject}` and `${claim:NAME}` inside a plan pattern, and the values they
 * take for one caller.
 *
 * A template stands for repository path components and nothing else: a value is used only when
 * every `/`-separated part of it is a path component of distribution's grammar. So a claim can
 * never bring a wildcard, another template, `..`, `.`, an empty component or upper case into a
 * pattern, and a value that could not be part of a valid name is simply never matched.
 *
 * @module
 */

import { type ClaimName, parseClaimName, readClaim } from "../claims.ts";
import { isRepositoryPath, MAX_NAME_LENGTH } from "./scope.ts";

/**
 * Most alternatives one rule tries for one request: the product, over the rule's distinct
 * templates, of the values each takes. It keeps a decision linear in the number of rules and
 * scopes whatever size the caller's claims are.
 */
export const MAX_TEMPLATE_ALTERNATIVES = 64;

/** What templates read from the caller: its subject and the verified token's claims. */
export interface TemplateSource {
  /** The caller's subject, for `${subject}`. */
  readonly subject?: string;
  /** The verified caller token's payload, for `${claim:NAME}`. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** A parsed template; `source` is the text between `${` and `}` as written. */
export type Template =
  | { readonly kind: "subject"; readonly source: string }
  | { readonly kind: "claim"; readonly source: string; readonly claim: ClaimName };

const SUBJECT = "subject";
const CLAIM_PREFIX = "claim:";

/**
 * Parses the text between `${` and `}` of a pattern.
 *
 * @throws {Error} for an unknown template name or a bad claim name, saying which.
 */
export function parseTemplate(body: string): Template {
  if (body === SUBJECT) return { kind: "subject", source: body };
  if (body.startsWith(CLAIM_PREFIX)) {
    try {
      return {
        kind: "claim",
        source: body,
        claim: parseClaimName(body.slice(CLAIM_PREFIX.length)),
      };
    } catch (error) {
      throw new Error(`template \${${body}}: ${(error as Error).message}`);
    }
  }
  throw new Error(`unknown template \${${body}}: expected \${subject} or \${claim:NAME}`);
}

/**
 * The distinct usable values of `template` for `caller`, in claim order: a string gives one, an
 * array gives its string elements; anything else, and any value that is not a repository path,
 * gives none. At most `MAX_TEMPLATE_ALTERNATIVES + 1` are returned — enough to tell that the cap
 * is exceeded without holding on to a huge claim.
 */
export function templateValues(template: Template, caller: TemplateSource): string[] {
  const raw = template.kind === "subject"
    ? caller.subject
    : caller.claims === undefined
    ? undefined
    : readClaim(caller.claims, template.claim);
  const candidates: readonly unknown[] = typeof raw === "string"
    ? [raw]
    : Array.isArray(raw)
    ? raw
    : [];
  const values = new Set<string>();
  for (const candidate of candidates) {
    if (values.size > MAX_TEMPLATE_ALTERNATIVES) break;
    if (isUsable(candidate)) values.add(candidate);
  }
  return [...values];
}

// The length test first: it bounds the grammar scan, and a longer value can match no name.
function isUsable(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_NAME_LENGTH &&
    isRepositoryPath(value);
}
