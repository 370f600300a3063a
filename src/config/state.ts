/**
 * `State`: the backend of the state several service processes share (DPoP replay records and
 * nonces, the failed-authentication budget).
 *
 * @module
 */

import type { StateOptions } from "../state/options.ts";
import { ConfigError } from "./error.ts";
import { choice, duration, section, type Settled, text } from "./schema.ts";

/** The `State` section. */
export const STATE_SECTION = section({
  doc: "state shared by every process of a site ([Shared state](operations.md#shared-state))",
  fields: {
    Backend: choice({
      values: ["memory", "redis"],
      default: "memory",
      doc: "`memory`: this process only; `redis`: shared through Redis or Valkey",
    }),
    Address: text({
      defaultText: "— (required with `redis`)",
      doc: "`redis://host:port[/db]`, or `rediss://…` for TLS",
    }),
    PasswordPath: text({
      defaultText: "— (no password)",
      doc: "file holding the backend's password (trailing newline ignored)",
    }),
    CaPath: text({
      defaultText: "— (the system's CAs)",
      doc: "PEM CA bundle a `rediss://` server's certificate must chain to",
    }),
    KeyPrefix: text({ default: "registry-token:", doc: "prefix of every key written" }),
    Timeout: duration({
      default: 0.25,
      min: 0.01,
      max: 10,
      doc: "one operation past this counts as the backend unavailable",
    }),
  },
});

/** `State` after defaults. */
export type StateSection = Settled<typeof STATE_SECTION>;

/** Builds the state options; `path` is the section's key. */
export function stateOptions(state: StateSection, path: string): StateOptions {
  const common = { keyPrefix: state.KeyPrefix, timeoutSeconds: state.Timeout };
  if (state.Backend === "memory") {
    for (const key of ["Address", "PasswordPath", "CaPath"] as const) {
      if (state[key] !== undefined) {
        throw new ConfigError(`${path}:${key}`, "needs State:Backend redis");
      }
    }
    return { backend: "memory", ...common };
  }
  if (state.Address === undefined || state.Address.trim() === "") {
    throw new ConfigError(`${path}:Address`, "is required with State:Backend redis");
  }
  const address = state.Address;
  if (!URL.canParse(address) || !/^rediss?:$/.test(new URL(address).protocol)) {
    throw new ConfigError(
      `${path}:Address`,
      // Never echo credentials an operator put in by mistake, even in an unparseable address.
      `must be redis://host:port[/db] or rediss://host:port[/db], got "${
        address.replace(/\/\/[^/]*@/, "//<credentials>@")
      }"`,
    );
  }
  const url = new URL(address);
  if (url.username || url.password) {
    throw new ConfigError(`${path}:Address`, "must not hold a password: use State:PasswordPath");
  }
  if (url.search || url.hash || !/^\/?(?:\d+)?$/.test(url.pathname)) {
    throw new ConfigError(`${path}:Address`, `must name a host, a port and a database number only`);
  }
  if (url.hostname === "") throw new ConfigError(`${path}:Address`, "must name a host");
  if (state.CaPath !== undefined && url.protocol !== "rediss:") {
    throw new ConfigError(`${path}:CaPath`, "needs a rediss:// State:Address");
  }
  const port = url.port || "6379";
  return {
    backend: "redis",
    address,
    hostPort: `${url.hostname}:${port}`,
    passwordPath: state.PasswordPath,
    caPath: state.CaPath,
    ...common,
  };
}
