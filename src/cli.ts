/**
 * Command-line flags, shared by the service entry point and the launcher that derives its
 * permissions.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** What the operator asked for on the command line. */
export interface CommandLine {
  readonly config?: string;
  readonly check: boolean;
  readonly version: boolean;
  readonly dev: boolean;
  readonly help: boolean;
  /** Directory to write the registry's trust files into, then exit. */
  readonly exportTrust?: string;
}

/** Usage text for `--help` and for bad flags. */
export const USAGE =
  `usage: registry-token-service [--config PATH] [--check | --export-trust DIR] [--dev] [--version]
  --config PATH  configuration file (default: etc/registry-token.yaml, or $REGISTRY_TOKEN_CONFIG)
  --check        validate configuration and keys, then exit
  --export-trust DIR
                 write jwks.json and rootcertbundle.pem for the registry into DIR, print its
                 auth.token settings, then exit
  --dev          development profile: generated keys and a sample caller token (never for production)
  --version      print the version and exit`;

/** Parses flags; throws an `Error` with a one-line message for unknown or malformed flags. */
export function parseCommandLine(args: readonly string[]): CommandLine {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: "string" },
      "export-trust": { type: "string" },
      check: { type: "boolean", default: false },
      version: { type: "boolean", default: false },
      dev: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.dev && values.config) throw new Error("--dev and --config cannot be combined");
  if (values.dev && values["export-trust"]) {
    throw new Error("--export-trust needs the production keys, not --dev");
  }
  return {
    config: values.config,
    check: values.check ?? false,
    version: values.version ?? false,
    dev: values.dev ?? false,
    help: values.help ?? false,
    exportTrust: values["export-trust"],
  };
}
