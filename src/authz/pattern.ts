/**
 * Patterns naming the resources a plan rule covers.
 *
 * `*` matches any run of characters, `/` included; `${subject}` and `${claim:NAME}` stand for the
 * caller's values (see `template.ts`); every other character is literal. A pattern is compiled
 * once, at configuration load, into literal text, wildcards and template slots. For a request it
 * is expanded into at most `MAX_TEMPLATE_ALTERNATIVES` alternatives, each a list of literal
 * pieces between wildcards: substituted values land inside the pieces, so a `*` or `${` in a
 * claim can never become a wildcard or a template. Matching never builds a RegExp, so a pattern
 * cannot smuggle in regex syntax, and it costs at most O(pattern × name) per alternative.
 *
 * @module
 */

import {
  MAX_TEMPLATE_ALTERNATIVES,
  parseTemplate,
  type Template,
  type TemplateSource,
  templateValues,
} from "./template.ts";

/** Longest pattern accepted: no longer than the longest resource name it could match. */
export const MAX_PATTERN_LENGTH = 255;

/** One part of a compiled pattern: literal text, a `*`, or a template (by index). */
export type PatternPart =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "wildcard" }
  | { readonly kind: "slot"; readonly template: number };

/** A plan pattern that passed validation; obtain one from {@link compilePattern}. */
export interface RepositoryPattern {
  /** The pattern as written in the plan catalogue. */
  readonly source: string;
  /** Literal text, wildcards and template slots, in order. */
  readonly parts: readonly PatternPart[];
  /** The distinct templates the slots name: one written twice takes the same value. */
  readonly templates: readonly Template[];
}

/** A pattern's alternatives for one caller, each the literal pieces between its wildcards. */
export interface Expansion {
  /** At most `MAX_TEMPLATE_ALTERNATIVES`; none when a template has no usable value. */
  readonly alternatives: readonly (readonly string[])[];
  /** The templates' values gave more alternatives than the cap; only the first were kept. */
  readonly truncated: boolean;
}

const WILDCARD = "*";
const OPEN = "${";
const CLOSE = "}";

/**
 * Validates and compiles a plan pattern when the configuration is loaded.
 *
 * @throws {Error} when the pattern is empty, too long, contains whitespace, or has an
 *   unterminated `${`, an unknown template or a bad claim name.
 */
export function compilePattern(pattern: string): RepositoryPattern {
  if (pattern === "") throw new Error("pattern must not be empty");
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new Error(`pattern must be at most ${MAX_PATTERN_LENGTH} characters long`);
  }
  if (/\s/.test(pattern)) {
    throw new Error(`pattern ${JSON.stringify(pattern)} must not contain whitespace`);
  }
  const parts: PatternPart[] = [];
  const templates: Template[] = [];
  let text = "";
  const flush = () => {
    if (text !== "") parts.push({ kind: "text", text });
    text = "";
  };
  for (let i = 0; i < pattern.length;) {
    if (pattern.startsWith(OPEN, i)) {
      const close = pattern.indexOf(CLOSE, i + OPEN.length);
      if (close === -1) {
        throw new Error(`pattern ${JSON.stringify(pattern)} has an unterminated "\${"`);
      }
      const template = parseTemplate(pattern.slice(i + OPEN.length, close));
      let index = templates.findIndex((known) => known.source === template.source);
      if (index === -1) index = templates.push(template) - 1;
      flush();
      parts.push({ kind: "slot", template: index });
      i = close + CLOSE.length;
    } else if (pattern[i] === WILDCARD) {
      flush();
      parts.push({ kind: "wildcard" });
      i++;
    } else {
      text += pattern[i++];
    }
  }
  flush();
  // The compiled form is not enumerable: `--check` shows a pattern as written, not its parts.
  return Object.freeze(Object.defineProperties({ source: pattern }, {
    parts: { value: Object.freeze(parts) },
    templates: { value: Object.freeze(templates) },
  })) as RepositoryPattern;
}

/**
 * The alternatives of `pattern` for `caller`: one per combination of its templates' values (the
 * first template written varies slowest, each in claim order), at most the cap.
 */
export function expandPattern(pattern: RepositoryPattern, caller: TemplateSource): Expansion {
  const values = pattern.templates.map((template) => templateValues(template, caller));
  // Counted only up to one past the cap: that is all the decision needs to know.
  let combinations = 1;
  for (const each of values) {
    combinations = Math.min(combinations * each.length, MAX_TEMPLATE_ALTERNATIVES + 1);
  }
  const kept = Math.min(combinations, MAX_TEMPLATE_ALTERNATIVES);
  const alternatives: string[][] = [];
  for (let n = 0; n < kept; n++) {
    // Mixed-radix digits of n, the last template being the fastest digit.
    const chosen = new Array<string>(values.length);
    let rest = n;
    for (let t = values.length - 1; t >= 0; t--) {
      chosen[t] = values[t][rest % values[t].length];
      rest = Math.floor(rest / values[t].length);
    }
    alternatives.push(pieces(pattern.parts, chosen));
  }
  return { alternatives, truncated: combinations > MAX_TEMPLATE_ALTERNATIVES };
}

/** Whether the whole of `name` matches one of the alternatives (anchored at both ends). */
export function matchesExpansion(expansion: Expansion, name: string): boolean {
  return expansion.alternatives.some((alternative) => matchesPieces(alternative, name));
}

/**
 * Whether the whole of `name` matches `pattern` for `caller` (anchored at both ends); a pattern
 * with templates never matches without a caller whose values fill them.
 */
export function matchesPattern(
  pattern: RepositoryPattern,
  name: string,
  caller: TemplateSource = {},
): boolean {
  return matchesExpansion(expandPattern(pattern, caller), name);
}

// Literal text and substituted values join into pieces; only a wildcard part separates them.
function pieces(parts: readonly PatternPart[], chosen: readonly string[]): string[] {
  const result = [""];
  for (const part of parts) {
    if (part.kind === "wildcard") result.push("");
    else result[result.length - 1] += part.kind === "text" ? part.text : chosen[part.template];
  }
  return result;
}

// `pieces` is p0 * p1 * … * pk. The first piece must be a prefix and the last a suffix; each
// middle piece is placed at its leftmost occurrence after the previous one. Leftmost is always
// safe: a later wildcard can absorb anything an earlier placement leaves, so no placement is
// ever revisited (the same argument as a single backtrack point in a two-pointer matcher).
function matchesPieces(pieces: readonly string[], name: string): boolean {
  const last = pieces.length - 1;
  if (last === 0) return name === pieces[0];
  const head = pieces[0];
  const tail = pieces[last];
  if (head.length + tail.length > name.length) return false;
  if (!name.startsWith(head) || !name.endsWith(tail)) return false;
  const end = name.length - tail.length;
  let at = head.length;
  for (let i = 1; i < last; i++) {
    const piece = pieces[i];
    const found = name.indexOf(piece, at);
    if (found === -1 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}
