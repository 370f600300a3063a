/**
 * Finds, reads and validates the configuration: YAML file plus `REGISTRY_TOKEN_*` overrides.
 *
 * @module
 */

import { parseDocument, visit } from "yaml";
import { ENV_PREFIX, type EnvReader, mergeDocument } from "./document.ts";
import { ConfigError } from "./error.ts";
import { buildOptions, type Options } from "./options.ts";
import { errorMessage } from "../error_message.ts";

/** Config file used when neither `--config` nor `REGISTRY_TOKEN_CONFIG` names one. */
export const DEFAULT_CONFIG_PATH = "etc/registry-token.yaml";
/** Where a packaged install keeps its config; read when the working directory has none. */
export const SYSTEM_CONFIG_PATH = "/etc/registry-token/registry-token.yaml";
/** Environment variable naming the config file. */
export const CONFIG_PATH_ENV = `${ENV_PREFIX}CONFIG`;

/** Which config file to read, and whether its absence is an error. */
export interface ConfigLocation {
  readonly path: string;
  /** Named by the operator: a missing file is then an error, not "no file". */
  readonly explicit: boolean;
  /** Read instead when `path` does not exist (only for the default location). */
  readonly fallback?: string;
}

/**
 * Picks the config file: `--config PATH`, else `REGISTRY_TOKEN_CONFIG`, else
 * `etc/registry-token.yaml` in the working directory, else `/etc/registry-token/registry-token.yaml`.
 */
export function locateConfig(flag: string | undefined, getEnv: EnvReader): ConfigLocation {
  const named = flag ?? getEnv(CONFIG_PATH_ENV);
  return named
    ? { path: named, explicit: true }
    : { path: DEFAULT_CONFIG_PATH, explicit: false, fallback: SYSTEM_CONFIG_PATH };
}

/** The I/O that loading needs, injected so tests control files and environment. */
export interface ConfigIo {
  readonly readTextFile: (path: string) => Promise<string>;
  readonly getEnv: EnvReader;
}

/** Validated options, and the config file they came from (none: defaults and environment). */
export interface LoadedConfig {
  readonly options: Options;
  readonly path?: string;
}

/** Reads and validates the configuration; throws `ConfigError` with one readable line. */
export async function loadConfig(location: ConfigLocation, io: ConfigIo): Promise<LoadedConfig> {
  const found = await readDocument(location, io.readTextFile);
  return { options: buildOptions(mergeDocument(found?.document, io.getEnv)), path: found?.path };
}

/** `loadConfig` for callers that need only the options. */
export async function loadOptions(location: ConfigLocation, io: ConfigIo): Promise<Options> {
  return (await loadConfig(location, io)).options;
}

async function readDocument(
  location: ConfigLocation,
  readTextFile: ConfigIo["readTextFile"],
): Promise<{ document: unknown; path: string } | undefined> {
  const file = await readConfigFile(location.path, location.explicit, readTextFile) ??
    (location.fallback === undefined
      ? undefined
      : await readConfigFile(location.fallback, false, readTextFile));
  return file && { document: parseConfigText(file.content, file.path), path: file.path };
}

async function readConfigFile(
  path: string,
  explicit: boolean,
  readTextFile: ConfigIo["readTextFile"],
): Promise<{ content: string; path: string } | undefined> {
  try {
    return { content: await readTextFile(path), path };
  } catch (error) {
    // A searched location the process may not read is not its config (e.g. a binary whose
    // permissions cover only /etc/registry-token skips the working directory's etc/).
    const absent = error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable;
    if (absent && !explicit) return undefined;
    throw new ConfigError(path, `cannot read config file (${errorMessage(error)})`);
  }
}

function parseConfigText(text: string, path: string): unknown {
  try {
    return parseYamlText(text);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      // The yaml package probes LOG_TOKENS/LOG_STREAM; a permission set without --ignore-env fails here.
      throw new ConfigError(
        path,
        `cannot be parsed: ${errorMessage(error)} (add --ignore-env=LOG_TOKENS,LOG_STREAM)`,
      );
    }
    const firstLine = errorMessage(error).split("\n")[0];
    throw new ConfigError(path, `is not valid YAML: ${firstLine}`);
  }
}

/**
 * Parses YAML keeping every scalar's text exactly as written, as .NET configuration does:
 * the core schema would turn a licence `000123` into the number 123 and a pattern `1.10` into
 * `1.1`. Plain empty, `~` and `null` values still mean "not set".
 */
function parseYamlText(text: string): unknown {
  const document = parseDocument(text, { schema: "failsafe", prettyErrors: true });
  if (document.errors.length) throw document.errors[0];
  visit(document, {
    Scalar(_key, node) {
      if (node.type === "PLAIN" && /^(?:|~|null|Null|NULL)$/.test(String(node.value))) {
        node.value = null;
      }
    },
  });
  return document.toJS();
}
