/**
 * The vocabulary configuration sections are declared in: one entry per key, carrying its type,
 * default, range, unit and meaning. Two types are derived from a declaration, never written by
 * hand — the merged document (every key optional, as the file and environment gave it) and the
 * settled document (defaults applied, ranges and required keys checked) — so a key exists
 * exactly when it is declared, and the configuration reference is generated from the same entry.
 *
 * @module
 */

import { ConfigError } from "./error.ts";

interface Described {
  /** What the key means, one phrase for the configuration reference. */
  readonly doc: string;
  /** The reference's default column when the default is not a plain value (e.g. derived). */
  readonly defaultText?: string;
}

/** A text value. */
export interface TextEntry extends Described {
  readonly kind: "text";
  readonly default?: string;
  /** Blank is a config error ("is required"), and so is absent when there is no default. */
  readonly required?: boolean;
}

/**
 * One of a closed set of words, matched without regard to letter case; without a `default`,
 * absent stays absent (whoever reads the key decides, e.g. by what a file holds).
 */
export interface ChoiceEntry<Value extends string = string> extends Described {
  readonly kind: "choice";
  readonly values: readonly Value[];
  readonly default?: Value;
}

/** A whole number within `min..max`, or (with `words`) one of a few words such as `auto`. */
export interface IntegerEntry<Word extends string = string> extends Described {
  readonly kind: "integer";
  readonly default?: number | Word;
  readonly min: number;
  readonly max: number;
  /** What is counted, for the reference (e.g. "connections"). */
  readonly unit: string;
  /**
   * Words accepted instead of a number, matched without regard to letter case and kept as
   * written here (e.g. `["auto"]`); whoever reads the key resolves them to a number.
   */
  readonly words?: readonly Word[];
}

/** A duration in seconds within `min..max` (written `5m`, `00:05:00` or `300`). */
export interface DurationEntry extends Described {
  readonly kind: "duration";
  readonly default?: number;
  readonly min: number;
  readonly max: number;
  /** Fractions of a second are refused (values that end up in whole-second claims). */
  readonly wholeSeconds?: boolean;
}

/** `true` or `false`. */
export interface FlagEntry extends Described {
  readonly kind: "flag";
  readonly default: boolean;
}

/** A list; absent means `default` (else empty), an explicit `[]` stays empty. */
export interface ListEntry<Item extends Entry = Entry> extends Described {
  readonly kind: "list";
  readonly item: Item;
  readonly default?: readonly string[];
}

/** A mapping of keys; absent means all its defaults, unless `optional` (absent stays absent). */
export interface SectionEntry<Fields extends EntryMap = EntryMap> extends Described {
  readonly kind: "section";
  readonly fields: Fields;
  /** The section's presence means something (e.g. `Server:Tls` switches TLS on). */
  readonly optional?: boolean;
}

/** Any declared key. */
export type Entry =
  | TextEntry
  | ChoiceEntry
  | IntegerEntry
  | DurationEntry
  | FlagEntry
  | ListEntry
  | SectionEntry;

/** The keys of a section. */
export type EntryMap = Readonly<Record<string, Entry>>;

/** Declares a text key. */
export const text = <const E extends Omit<TextEntry, "kind">>(entry: E) =>
  ({ kind: "text", ...entry }) as const;
/** Declares a key that takes one of `values`. */
export const choice = <const V extends string, const E extends Omit<ChoiceEntry<V>, "kind">>(
  entry: E & { values: readonly V[]; default?: V },
) => ({ kind: "choice", ...entry }) as const;
/** Declares a whole-number key (that may also take one of `words`). */
export const integer = <const W extends string, const E extends Omit<IntegerEntry<W>, "kind">>(
  entry: E & { words?: readonly W[]; default?: number | W },
) => ({ kind: "integer", ...entry }) as const;
/** Declares a duration key (seconds). */
export const duration = <const E extends Omit<DurationEntry, "kind">>(entry: E) =>
  ({ kind: "duration", ...entry }) as const;
/** Declares a `true`/`false` key. */
export const flag = <const E extends Omit<FlagEntry, "kind">>(entry: E) =>
  ({ kind: "flag", ...entry }) as const;
/** Declares a list key. */
export const list = <const I extends Entry, const E extends Omit<ListEntry<I>, "kind">>(
  entry: E & { item: I },
) => ({ kind: "list", ...entry }) as const;
/** Declares a section of keys. */
export const section = <const F extends EntryMap, const E extends Omit<SectionEntry<F>, "kind">>(
  entry: E & { fields: F },
) => ({ kind: "section", ...entry }) as const;

type Scalar<E> = E extends { kind: "text" } ? string
  : E extends { kind: "choice"; values: readonly (infer V)[] } ? V
  : E extends { kind: "integer"; words: readonly (infer W)[] } ? number | W
  : E extends { kind: "integer" | "duration" } ? number
  : E extends { kind: "flag" } ? boolean
  : never;

/** A key's value as merged from the file and the environment: nothing filled in yet. */
export type Merged<E> = E extends { kind: "list"; item: infer I } ? Merged<I>[]
  : E extends { kind: "section"; fields: infer F } ? { [K in keyof F]?: Merged<F[K]> }
  : E extends { kind: "choice" } ? string
  : E extends { kind: "integer"; words: readonly unknown[] } ? number | string
  : Scalar<E>;

/** Whether a settled key always has a value. */
type Settles<E> = E extends { required: true } ? true
  : E extends { default: unknown } ? true
  : E extends { kind: "list" } ? true
  : E extends { kind: "section"; optional: true } ? false
  : E extends { kind: "section" } ? true
  : false;

type SettledFields<F> =
  & { readonly [K in keyof F as Settles<F[K]> extends true ? K : never]: Settled<F[K]> }
  & { readonly [K in keyof F as Settles<F[K]> extends true ? never : K]?: Settled<F[K]> };

/** A key's value after `settle`: defaults applied, ranges, choices and required keys checked. */
export type Settled<E> = E extends { kind: "list"; item: infer I } ? readonly Settled<I>[]
  : E extends { kind: "section"; fields: infer F } ? SettledFields<F>
  : Scalar<E>;

/**
 * Applies defaults and checks ranges, choices and required keys; `path` is the entry's full
 * key (`RegistryTokenService:Server`), which every `ConfigError` names.
 */
export function settle<E extends Entry>(entry: E, value: Merged<E> | undefined, path: string) {
  // Sound: settleEntry walks exactly the declaration the two types are derived from.
  return settleEntry(entry, value, path) as Settled<E>;
}

function settleEntry(entry: Entry, value: unknown, path: string): unknown {
  switch (entry.kind) {
    case "section": {
      if (value === undefined && entry.optional) return undefined;
      const given = (value ?? {}) as Record<string, unknown>;
      const result: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(entry.fields)) {
        const settled = settleEntry(field, given[key], `${path}:${key}`);
        if (settled !== undefined) result[key] = settled;
      }
      return result;
    }
    case "list":
      return ((value ?? entry.default ?? []) as unknown[]).map((item, index) =>
        settleEntry(entry.item, item, `${path}:${index}`)
      );
    case "text": {
      const text = (value as string | undefined) ?? entry.default;
      if (entry.required && (text === undefined || text.trim() === "")) {
        throw new ConfigError(path, "is required");
      }
      return text;
    }
    case "choice":
      return value === undefined ? entry.default : chosen(entry, value as string, path);
    case "flag":
      return value ?? entry.default;
    case "integer":
      if (value === undefined) return entry.default;
      return typeof value === "string"
        ? word(entry, value, path)
        : inRange(entry, value as number, path);
    case "duration":
      return value === undefined ? entry.default : inRange(entry, value as number, path);
  }
}

function chosen(entry: ChoiceEntry, value: string, path: string): string {
  const match = entry.values.find((word) => word === value.toLowerCase());
  if (match !== undefined) return match;
  const words = entry.values.length === 2
    ? `${entry.values[0]} or ${entry.values[1]}`
    : `one of ${entry.values.join(", ")}`;
  throw new ConfigError(path, `must be ${words}, got "${value}"`);
}

/** The declared word `value` spells (any letter case). */
function word(entry: IntegerEntry, value: string, path: string): string {
  const match = entry.words?.find((word) => word === value.trim().toLowerCase());
  if (match !== undefined) return match;
  const words = (entry.words ?? []).map((word) => ` or ${word}`).join("");
  throw new ConfigError(path, `must be ${entry.min}..${entry.max}${words}, got "${value}"`);
}

function inRange(entry: IntegerEntry | DurationEntry, value: number, path: string): number {
  if (entry.kind === "integer") {
    if (value < entry.min || value > entry.max) {
      throw new ConfigError(path, `must be ${entry.min}..${entry.max}, got ${value}`);
    }
    return value;
  }
  if (entry.wholeSeconds && !Number.isInteger(value)) {
    throw new ConfigError(path, `must be whole seconds, got ${value}s`);
  }
  if (value < entry.min || value > entry.max) {
    const bounds = entry.min === 0
      ? `at most ${boundText(entry.max)}`
      : `between ${boundText(entry.min)} and ${boundText(entry.max)}`;
    throw new ConfigError(path, `must be ${bounds}, got ${value}s`);
  }
  return value;
}

/** A bound as an operator reads it: whole hours as `1h`, anything else in seconds. */
function boundText(seconds: number): string {
  return seconds > 0 && seconds % 3600 === 0 ? `${seconds / 3600}h` : `${seconds}s`;
}
