/**
 * Wildcard patterns naming the resources a plan rule covers.
 *
 * `*` matches any run of characters, `/` included, and every other character is literal.
 * Matching never builds a RegExp, so a pattern cannot smuggle in regex syntax, and it costs at
 * most O(pattern × name) whatever the input.
 *
 * @module
 */

/** Longest pattern accepted: no longer than the longest resource name it could match. */
export const MAX_PATTERN_LENGTH = 255;

/** A plan pattern that passed validation; obtain one from {@link compilePattern}. */
export interface RepositoryPattern {
  /** The pattern as written in the plan catalogue. */
  readonly source: string;
}

const WILDCARD = "*";

/**
 * Validates a plan pattern when the configuration is loaded.
 *
 * @throws {Error} when the pattern is empty, too long or contains whitespace.
 */
export function compilePattern(pattern: string): RepositoryPattern {
  if (pattern === "") throw new Error("pattern must not be empty");
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new Error(`pattern must be at most ${MAX_PATTERN_LENGTH} characters long`);
  }
  if (/\s/.test(pattern)) {
    throw new Error(`pattern ${JSON.stringify(pattern)} must not contain whitespace`);
  }
  return Object.freeze({ source: pattern });
}

/** Whether the whole of `name` matches `pattern` (anchored at both ends). */
export function matchesPattern(pattern: RepositoryPattern, name: string): boolean {
  const source = pattern.source;
  let p = 0;
  let n = 0;
  // Greedy matching with a single backtrack point: a later `*` can absorb anything an earlier
  // one could, so on a mismatch only the most recent `*` ever needs to take one more character.
  let star = -1;
  let starName = 0;
  while (n < name.length) {
    if (source[p] === WILDCARD) {
      star = p++;
      starName = n;
    } else if (p < source.length && source[p] === name[n]) {
      p++;
      n++;
    } else if (star !== -1) {
      p = star + 1;
      n = ++starName;
    } else {
      return false;
    }
  }
  while (source[p] === WILDCARD) p++;
  return p === source.length;
}
