/**
 * Parsing of the `scope` parameter of a registry token request.
 *
 * The grammar is distribution's "Token Scope Documentation" (docs/spec/auth/scope.md); resource
 * names follow the repository-name grammar of its `reference` package (reference/regexp.go),
 * bracketed IPv6 hosts included. Structured productions are scanned by hand and the only
 * regexes are single anchored character classes, so hostile input costs linear time.
 *
 * @module
 */

import { Denial } from "../denial.ts";

/** Most scopes one token request may carry, counted before merging. */
export const MAX_SCOPES = 32;

/** Longest single scope accepted; bounds the work per scope and the size of the token. */
const MAX_SCOPE_LENGTH = 512;

/** Longest resource name, as distribution's `reference.NameTotalLengthMax`. */
export const MAX_NAME_LENGTH = 255;

/** One requested resource: a type, a name and the actions wanted on it. */
export interface ResourceScope {
  /** Resource type without its class, e.g. `repository` for `repository(plugin)`. */
  readonly type: string;
  /** Resource name, e.g. `localhost:5000/foo/bar`. */
  readonly name: string;
  /** Requested actions, de-duplicated, in order of first appearance. */
  readonly actions: readonly string[];
}

// How much of an offending scope a message quotes, so hostile input cannot bloat responses.
const QUOTED_SCOPE_LENGTH = 80;

const TYPE_VALUE = /^[a-z0-9]+$/;
const ACTION = /^(?:[a-z]+|\*)$/;

/** Whether `text` is a resource type as scopes spell it (`[a-z0-9]+`), for plan rules too. */
export function isResourceType(text: string): boolean {
  return TYPE_VALUE.test(text);
}

/** Whether `text` is an action as scopes spell it (`[a-z]+` or `*`), for plan rules too. */
export function isAction(text: string): boolean {
  return ACTION.test(text);
}
const PORT = /^[0-9]+$/;
const IPV6_BODY = /^[a-fA-F0-9:]+$/;
const DOMAIN_COMPONENT_CHARS = /^[a-zA-Z0-9-]+$/;

/**
 * Parses the raw `scope` values of a token request into merged resource scopes.
 *
 * Each value may hold several scopes separated by spaces; blank values contribute nothing.
 * Scopes naming the same resource are merged, keeping the order of first appearance.
 *
 * @throws {Denial} `scope_invalid` when a scope is malformed or there are too many.
 */
export function parseScopes(values: readonly string[]): ResourceScope[] {
  const merged = new Map<string, { type: string; name: string; actions: string[] }>();
  let count = 0;
  for (const value of values) {
    for (const text of fields(value)) {
      if (++count > MAX_SCOPES) {
        throw new Denial("scope_invalid", `too many scopes: at most ${MAX_SCOPES} per request`);
      }
      const scope = parseScope(text);
      // The type cannot contain ":", so this key is unambiguous.
      const key = `${scope.type}:${scope.name}`;
      const seen = merged.get(key);
      if (seen === undefined) merged.set(key, scope);
      else seen.actions = [...new Set([...seen.actions, ...scope.actions])];
    }
  }
  return [...merged.values()];
}

/** Formats a scope or access entry as `type:name:action,action` for logs and denial details. */
export function formatScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(",")}`;
}

// The spec separates scopes with one space; runs of ASCII blanks are tolerated so that
// "whitespace-only" values are empty, while Unicode spaces stay part of (and invalidate) a scope.
function* fields(value: string): Generator<string> {
  let start = -1;
  for (let i = 0; i <= value.length; i++) {
    const c = value[i];
    const blank = c === undefined || c === " " || c === "\t" || c === "\n" || c === "\r";
    if (!blank && start === -1) start = i;
    else if (blank && start !== -1) {
      yield value.slice(start, i);
      start = -1;
    }
  }
}

function parseScope(text: string): { type: string; name: string; actions: string[] } {
  if (text.length > MAX_SCOPE_LENGTH) {
    throw invalid(text, `longer than ${MAX_SCOPE_LENGTH} characters`);
  }
  // The name may hold ":" (host port, IPv6), but neither the type nor the actions can.
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first === -1 || first === last) {
    throw invalid(text, "expected resourcetype:resourcename:actions");
  }
  const type = parseType(text.slice(0, first));
  if (type === undefined) {
    throw invalid(text, "resource type must be [a-z0-9]+, optionally followed by a (class)");
  }
  const name = text.slice(first + 1, last);
  const problem = nameProblem(name);
  if (problem !== undefined) throw invalid(text, problem);
  const actions = text.slice(last + 1).split(",");
  if (!actions.every((action) => ACTION.test(action))) {
    throw invalid(text, "actions must be a comma-separated list of [a-z]+ or *");
  }
  return { type, name, actions: [...new Set(actions)] };
}

function invalid(text: string, problem: string): Denial {
  const quoted = text.length > QUOTED_SCOPE_LENGTH
    ? `${text.slice(0, QUOTED_SCOPE_LENGTH)}…`
    : text;
  // JSON quoting escapes control characters, keeping the message to one printable line.
  return new Denial("scope_invalid", `invalid scope ${JSON.stringify(quoted)}: ${problem}`);
}

// The class only refines the type (spec: "specific to the resource type"); plans decide on the
// type alone, so `repository(plugin)` is authorized exactly like `repository`.
function parseType(text: string): string | undefined {
  const open = text.indexOf("(");
  if (open === -1) return TYPE_VALUE.test(text) ? text : undefined;
  const type = text.slice(0, open);
  const resourceClass = text.slice(open + 1, -1);
  return text.endsWith(")") && TYPE_VALUE.test(type) && TYPE_VALUE.test(resourceClass)
    ? type
    : undefined;
}

// The spec gives one `resourcename` grammar for every resource type, so it is applied to all.
function nameProblem(name: string): string | undefined {
  if (name === "") return "resource name is empty";
  if (name.length > MAX_NAME_LENGTH) {
    return `resource name is longer than ${MAX_NAME_LENGTH} characters`;
  }
  if (isName(name)) return undefined;
  const asciiLowered = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return asciiLowered !== name && isName(asciiLowered)
    ? "resource name must be lowercase"
    : "resource name is not a valid repository name";
}

// name := [domain "/"] path. A domain never contains "/", so if present it is exactly the
// first segment; trying the name without and then with a domain is therefore exhaustive.
function isName(name: string): boolean {
  if (isPath(name)) return true;
  const slash = name.indexOf("/");
  return slash > 0 && isDomain(name.slice(0, slash)) && isPath(name.slice(slash + 1));
}

function isPath(path: string): boolean {
  return path.split("/").every(isPathComponent);
}

/**
 * Whether every `/`-separated part of `text` is a repository path component (no domain): what
 * a rule template's value must be to stand in a pattern.
 */
export function isRepositoryPath(text: string): boolean {
  return isPath(text);
}

// component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := "." | "_" | "__" | "-"+.
// Scanned by hand: the equivalent backtracking regex is exponential on inputs like "aaaa…!".
function isPathComponent(component: string): boolean {
  let i = 0;
  for (;;) {
    const start = i;
    while (i < component.length && isLowerAlphanumeric(component.charCodeAt(i))) i++;
    if (i === start) return false;
    if (i === component.length) return true;
    const c = component[i];
    if (c === ".") i++;
    else if (c === "_") i += component[i + 1] === "_" ? 2 : 1;
    else if (c === "-") { while (component[i] === "-") i++; }
    else return false;
  }
}

function isLowerAlphanumeric(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39);
}

// domain := (hostname | "[" ipv6 "]") [":" port]; distribution accepts IPv6 in compressed or
// full form only, which its grammar approximates as [a-fA-F0-9:]+.
function isDomain(domain: string): boolean {
  let hostEnd: number;
  if (domain.startsWith("[")) {
    hostEnd = domain.indexOf("]") + 1;
    if (hostEnd === 0 || !IPV6_BODY.test(domain.slice(1, hostEnd - 1))) return false;
  } else {
    const colon = domain.indexOf(":");
    hostEnd = colon === -1 ? domain.length : colon;
    if (!domain.slice(0, hostEnd).split(".").every(isDomainComponent)) return false;
  }
  const port = domain.slice(hostEnd);
  return port === "" || (port[0] === ":" && PORT.test(port.slice(1)));
}

// hostcomponent := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
function isDomainComponent(component: string): boolean {
  return DOMAIN_COMPONENT_CHARS.test(component) && !component.startsWith("-") &&
    !component.endsWith("-");
}
