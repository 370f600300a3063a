/**
 * `Server`: where the service listens, TLS, trusted proxies, deadlines and the failure budget.
 *
 * @module
 */

import { canonicalAddress } from "../address.ts";
import type { ConnectionLimits, ServerOptions } from "../http/server_options.ts";
import { ConfigError } from "./error.ts";
import { duration, flag, integer, list, section, type Settled, text } from "./schema.ts";
import { optionalUrl } from "./values.ts";

/** The `Server` section. */
export const SERVER_SECTION = section({
  doc: "the listener",
  fields: {
    Host: text({ default: "0.0.0.0", doc: "listen address" }),
    Port: integer({
      default: 5001,
      min: 0,
      max: 65535,
      unit: "port",
      doc: "listen port (`0` picks a free one, logged at startup)",
    }),
    PublicBaseUrl: text({
      defaultText: "`Registry:Realm`",
      doc: "public URL callers use (behind a proxy), for DPoP `htu`; with neither it nor " +
        "`Realm`, DPoP-bound tokens are refused",
    }),
    Tls: section({
      optional: true,
      defaultText: "— (plain HTTP)",
      doc: "terminate TLS in the service and request client certificates (mTLS)",
      fields: {
        CertificatePath: text({ required: true, doc: "PEM certificate chain of the listener" }),
        KeyPath: text({ required: true, doc: "PEM private key of the listener" }),
        KeyPassword: text({ doc: "password of an encrypted key (prefer the env variable)" }),
        ClientCaPath: text({
          defaultText: "— (any presented certificate counts)",
          doc: "client certificates must chain to this CA bundle",
        }),
      },
    }),
    TrustedProxies: list({
      item: text({ doc: "an IP address" }),
      doc: "peers that may forward a client certificate or name the client in " +
        "`X-Forwarded-For` ([Limits](operations.md#limits-and-availability))",
    }),
    ClientCertificateHeader: text({
      doc: "header a trusted proxy forwards the client certificate in",
    }),
    DrainTimeout: duration({
      default: 10,
      min: 0,
      max: 300,
      doc: "how long SIGTERM waits for in-flight requests",
    }),
    HeadersTimeout: duration({
      default: 10,
      min: 1,
      max: 60,
      doc: "the whole header block must arrive within this, however slowly it trickles",
    }),
    BodyTimeout: duration({
      default: 10,
      min: 1,
      max: 60,
      doc: "a `POST /token` form must arrive within this",
    }),
    IdleTimeout: duration({
      default: 5,
      min: 1,
      max: 300,
      doc: "an idle keep-alive connection is closed after this",
    }),
    RequestTimeout: duration({
      default: 30,
      min: 1,
      max: 300,
      doc: "every request is answered within this (`503 request_timeout` otherwise); at least " +
        "`HeadersTimeout`",
    }),
    Workers: integer({
      default: 1,
      min: 1,
      max: 256,
      unit: "processes",
      words: ["auto"],
      doc: "service processes on this host sharing the listen port (`SO_REUSEPORT`), each with " +
        "its own caches and failure budget; `auto`: one per core " +
        "([Scale out on one host](operations.md#scale-out-on-one-host))",
    }),
    MaxConnections: integer({
      default: 1024,
      min: 1,
      max: 100_000,
      unit: "connections",
      doc: "open connections at once; one more is closed as soon as it is accepted",
    }),
    ReloadOnChange: flag({
      default: false,
      doc: "also reload when the config, key or JWKS files change (debounced), not only on SIGHUP",
    }),
    FailedAuthLimit: section({
      doc: "the signature-check budget per client",
      fields: {
        Burst: integer({
          default: 50,
          min: 0,
          max: 100_000,
          unit: "checks",
          doc: "failed signature checks per client before its checks run one at a time; `0`: off",
        }),
        PerMinute: integer({
          default: 60,
          min: 1,
          max: 1_000_000,
          unit: "checks",
          doc: "how fast the burst refills",
        }),
      },
    }),
  },
});

/** `Server` after defaults. */
export type ServerSection = Settled<typeof SERVER_SECTION>;

const HEADER_NAME = /^[A-Za-z0-9-]+$/;
const HOST_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+)$/;

/** Builds the listener's options; `path` is the section's key. */
export function serverOptions(server: ServerSection, path: string): ServerOptions {
  server.TrustedProxies.forEach((address, index) => {
    if (canonicalAddress(address) === undefined) {
      throw new ConfigError(`${path}:TrustedProxies:${index}`, `"${address}" is not an IP address`);
    }
  });
  const header = server.ClientCertificateHeader;
  if (header !== undefined && !HEADER_NAME.test(header)) {
    throw new ConfigError(`${path}:ClientCertificateHeader`, `"${header}" is not a header name`);
  }
  if (header !== undefined && server.TrustedProxies.length === 0) {
    throw new ConfigError(
      `${path}:ClientCertificateHeader`,
      "needs Server:TrustedProxies: only those addresses may forward a client certificate",
    );
  }
  const publicBaseUrl = optionalUrl(server.PublicBaseUrl, `${path}:PublicBaseUrl`);
  if (publicBaseUrl && /[?#]/.test(publicBaseUrl)) {
    throw new ConfigError(`${path}:PublicBaseUrl`, "must not have a query or fragment");
  }
  if (!HOST_NAME.test(server.Host)) {
    throw new ConfigError(`${path}:Host`, `"${server.Host}" is not a host name or IP address`);
  }
  const workers = server.Workers === "auto" ? availableCores() : server.Workers;
  if (workers > 1 && server.Port === 0) {
    throw new ConfigError(
      `${path}:Port`,
      "must be a fixed port with Server:Workers above 1: with 0 each worker would pick its own",
    );
  }
  const tls = server.Tls;
  return {
    host: server.Host,
    port: server.Port,
    publicBaseUrl: publicBaseUrl?.replace(/\/+$/, ""),
    tls: tls && {
      certificatePath: tls.CertificatePath,
      keyPath: tls.KeyPath,
      keyPassword: tls.KeyPassword,
      clientCaPath: tls.ClientCaPath,
    },
    trustedProxies: new Set(server.TrustedProxies.map((address) => canonicalAddress(address)!)),
    clientCertificateHeader: header?.toLowerCase(),
    workers,
    drainTimeoutSeconds: server.DrainTimeout,
    reloadOnChange: server.ReloadOnChange,
    limits: connectionLimits(server, path),
    failedAuthLimit: {
      burst: server.FailedAuthLimit.Burst,
      perMinute: server.FailedAuthLimit.PerMinute,
    },
  };
}

function connectionLimits(server: ServerSection, path: string): ConnectionLimits {
  if (server.RequestTimeout < server.HeadersTimeout) {
    throw new ConfigError(
      `${path}:RequestTimeout`,
      `must be at least Server:HeadersTimeout (${server.HeadersTimeout}s)`,
    );
  }
  return {
    headersTimeoutSeconds: server.HeadersTimeout,
    bodyTimeoutSeconds: server.BodyTimeout,
    idleTimeoutSeconds: server.IdleTimeout,
    requestTimeoutSeconds: server.RequestTimeout,
    maxConnections: server.MaxConnections,
  };
}

/** The cores this process may use, for `Server:Workers: auto` (at least one). */
function availableCores(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}
