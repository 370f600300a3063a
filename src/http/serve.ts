/**
 * The transport: `node:http` for plain HTTP and `node:https` when the service terminates TLS
 * itself (only `node:https` can request client certificates, RFC 8705). Both hand the service a
 * Web `Request` plus what they know about the connection.
 *
 * Why not `Deno.serve`: in Deno 2.9.6 it has no header, body or keep-alive deadline, and it
 * answers cleartext HTTP/2 with prior knowledge (200 streams a connection, 1 MiB windows), so
 * unauthenticated clients could hold memory without bound. `node:http` enforces header and
 * request deadlines, caps the header block, and speaks HTTP/1.1 only: h2c is off by design.
 *
 * Both node servers stop accepting for good once `accept` fails with `EMFILE`, even after
 * descriptors are free again. The accept watchdog below notices (its own loopback connection is
 * never accepted) and reports the server failed; `supervise()` then returns `EXIT_RESTART` and
 * whatever runs the process (the launcher, systemd, Kubernetes) starts a fresh one.
 *
 * @module
 */

import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { getRequestListener } from "@hono/node-server";
import type { ConnectionLimits, ServerOptions, TlsMaterial } from "./server_options.ts";
import { canonicalAddress, normaliseAddress } from "../address.ts";
import type { ConnectionInfo } from "./connection.ts";
import { MAX_PARSED_HEADER_BYTES } from "./limits.ts";
import { routeErrorResponse } from "./respond.ts";

/** The service's request handler. */
export type ConnectionHandler = (
  request: Request,
  connection: ConnectionInfo,
) => Response | Promise<Response>;

/** A listening server. */
export interface RunningServer {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting connections and resolves once in-flight requests have finished. */
  shutdown(): Promise<void>;
  /** Resolves with the reason when the server can no longer accept connections. */
  readonly failed: Promise<string>;
}

/** How often the accept watchdog checks, how long it waits, and how many misses it tolerates. */
export interface AcceptWatchdog {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly misses: number;
}

/** Checks every 2 s; three missed checks in a row (6 s or more) mean the listener is dead. */
const ACCEPT_WATCHDOG: AcceptWatchdog = { intervalMs: 2000, timeoutMs: 2000, misses: 3 };

/** Listens on `server.host:server.port`, over TLS when `tls` is given. */
export function listen(
  server: ServerOptions,
  tls: TlsMaterial | undefined,
  handler: ConnectionHandler,
  watchdog: AcceptWatchdog = ACCEPT_WATCHDOG,
): Promise<RunningServer> {
  const listener = getRequestListener(
    (request, env) => handler(request, connectionOf(env.incoming as IncomingMessage, tls)),
    {
      overrideGlobalObjects: false,
      // Reached only when the adapter cannot build a Request (a malformed Host or target).
      errorHandler: () => routeErrorResponse("request_target_malformed"),
    },
  );
  const nodeOptions = serverOptions(server.limits);
  const node: Server = tls
    ? createHttpsServer({
      ...nodeOptions,
      cert: tls.certificate,
      key: tls.key,
      passphrase: tls.passphrase,
      ca: tls.clientCa,
      // Ask for a certificate but let callers without one in: bearer callers need none, and a
      // bound token without its certificate is refused with a clear error instead of a TLS alert.
      requestCert: true,
      rejectUnauthorized: false,
    }, listener)
    : createHttpServer(nodeOptions, listener);
  // Past the deadline nothing more is read; the socket stays open only until the answer is out.
  node.setTimeout(server.limits.requestTimeoutSeconds * 1000, (socket) => socket.destroy());
  node.on("clientError", answerClientError);
  const probe = probeHost(server.host);
  const probes = server.workers > 1 ? Math.min(8 * server.workers, 64) : 1;
  const accepted = capConnections(node, server.limits.maxConnections, canonicalAddress(probe));
  const closed = new Promise<void>((resolve) => node.once("close", () => resolve()));
  return new Promise((resolve, reject) => {
    node.once("error", reject);
    // Several workers bind the same port; the kernel spreads connections over them.
    node.listen({ port: server.port, host: server.host, reusePort: server.workers > 1 }, () => {
      node.off("error", reject);
      const address = node.address();
      const port = typeof address === "object" && address ? address.port : server.port;
      const stopWatching = new AbortController();
      const failed = watchAccepting(probe, port, probes, accepted, watchdog, stopWatching);
      resolve({
        hostname: server.host,
        port,
        shutdown: () => {
          stopWatching.abort();
          node.close();
          node.closeIdleConnections();
          return closed;
        },
        failed,
      });
    });
  });
}

/** node:http's own deadlines; the 1 s check interval closes a late connection within ~1 s. */
function serverOptions(limits: ConnectionLimits) {
  return {
    headersTimeout: limits.headersTimeoutSeconds * 1000,
    requestTimeout: limits.requestTimeoutSeconds * 1000,
    keepAliveTimeout: limits.idleTimeoutSeconds * 1000,
    connectionsCheckingInterval: 1000,
    maxHeaderSize: MAX_PARSED_HEADER_BYTES,
  };
}

/** Answers what the HTTP parser refused (bad syntax, h2c, oversized headers, a deadline). */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (socket.writable && !socket.destroyed) {
    const [status, message] = PARSER_REFUSALS[error.code ?? ""] ??
      ["400 Bad Request", "malformed HTTP/1.1 request (this service speaks HTTP/1.1 only)"];
    const body = JSON.stringify({ errors: [{ code: "INVALID_REQUEST", message }] });
    socket.end(
      `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

const PARSER_REFUSALS: Record<string, [string, string]> = {
  HPE_HEADER_OVERFLOW: ["431 Request Header Fields Too Large", "the request headers are too large"],
  ERR_HTTP_REQUEST_TIMEOUT: ["408 Request Timeout", "the request did not arrive in time"],
};

/** The source ports of connections the server accepted, for the watchdog to find its probe. */
interface AcceptedPorts {
  /** Calls `accepted` once a connection from `port` is (or recently was) accepted. */
  await(port: number, accepted: () => void): void;
  /** Forgets `port` and what was seen before a new check. */
  reset(port?: number): void;
}

/** Most source ports remembered between two checks; more than that and the memory restarts. */
const MAX_REMEMBERED_PORTS = 256;

/**
 * Closes connections past `max` as soon as they are accepted, and notes the source port of each
 * one from the probe's address: the server may see the watchdog's probe before the probe
 * learns its own port, or after.
 */
function capConnections(
  node: Server,
  max: number,
  probeAddress: string | undefined,
): AcceptedPorts {
  const waiting = new Map<number, () => void>();
  const seen = new Set<number>();
  let open = 0;
  node.prependListener("connection", (socket: Socket) => {
    const port = socket.remotePort;
    // A host name resolves to we-know-not-which address: then the port alone identifies it.
    const fromProbeAddress = probeAddress === undefined ||
      (socket.remoteAddress !== undefined &&
        normaliseAddress(socket.remoteAddress) === probeAddress);
    const probe = port === undefined || !fromProbeAddress ? undefined : waiting.get(port);
    if (probe) {
      probe();
      socket.destroy();
      return;
    }
    if (port !== undefined && fromProbeAddress) {
      // Oldest out first: a burst of other loopback connections cannot wipe the probe's port.
      if (seen.size >= MAX_REMEMBERED_PORTS) seen.delete(seen.values().next().value!);
      seen.add(port);
    }
    if (open >= max) {
      socket.destroy();
      return;
    }
    open++;
    socket.once("close", () => open--);
  });
  return {
    await(port, accepted) {
      if (seen.has(port)) accepted();
      else waiting.set(port, accepted);
    },
    reset(port) {
      if (port === undefined) seen.clear();
      else waiting.delete(port);
    },
  };
}

/**
 * Connects to the server's own address every `intervalMs` and waits for that connection to be
 * accepted; `misses` failed checks in a row resolve the result with why.
 *
 * With `Server:Workers` the port is shared and the kernel hands each connection to one of the
 * workers' sockets by a hash of its source port: a probe may well be accepted by another
 * worker, which proves nothing about this one's listener. So a check opens `probes`
 * connections at once (8 per worker) and passes when this server accepts any of them; a live
 * listener misses all of them with probability (1 - 1/N)^(8N) < e^-8 per check, three checks
 * in a row never in practice, while a dead one (its queue fills, nothing is accepted) misses
 * every one. The other workers just see short connections that close without a request.
 */
function watchAccepting(
  host: string,
  port: number,
  probes: number,
  accepted: AcceptedPorts,
  watchdog: AcceptWatchdog,
  stop: AbortController,
): Promise<string> {
  return new Promise((resolve) => {
    let missed = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const check = () => {
      accepted.reset();
      const sockets = Array.from({ length: probes }, () => connect({ host, port }));
      const localPorts: number[] = [];
      let errors = 0;
      let done = false;
      const started = performance.now();
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        localPorts.forEach((localPort) => accepted.reset(localPort));
        sockets.forEach((socket) => socket.destroy());
        if (stop.signal.aborted) return;
        // A deadline that fired late means the event loop was stalled (heavy load, a long
        // GC): then the probe may well be accepted but not yet seen, which proves nothing.
        const stalled = !ok && performance.now() - started > watchdog.timeoutMs * 1.5;
        if (!stalled) missed = ok ? 0 : missed + 1;
        if (missed >= watchdog.misses) {
          resolve(`the listener accepted none of ${missed} loopback checks in a row`);
        } else timer = setTimeout(check, watchdog.intervalMs);
      };
      const deadline = setTimeout(() => finish(false), watchdog.timeoutMs);
      for (const socket of sockets) {
        socket.once("connect", () => {
          const localPort = socket.localPort;
          if (localPort === undefined || done) return;
          localPorts.push(localPort);
          accepted.await(localPort, () => finish(true));
        });
        // Out of descriptors, or refused: a miss once every probe failed.
        socket.once("error", () => {
          if (++errors === probes) finish(false);
        });
      }
    };
    timer = setTimeout(check, watchdog.intervalMs);
    stop.signal.addEventListener("abort", () => clearTimeout(timer));
  });
}

/** The address the watchdog connects to: loopback for a wildcard listen address. */
export function probeHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host.replace(/^\[(.*)\]$/, "$1");
}

/** The peer address and, on a TLS connection, the client certificate (one that chains, with a CA). */
function connectionOf(incoming: IncomingMessage, tls: TlsMaterial | undefined): ConnectionInfo {
  const socket = incoming.socket;
  const remoteAddress = socket.remoteAddress && normaliseAddress(socket.remoteAddress);
  if (!tls) return { remoteAddress };
  const tlsSocket = socket as TLSSocket;
  const certificate = tlsSocket.getPeerX509Certificate?.();
  if (!certificate || (tls.clientCa && !tlsSocket.authorized)) return { remoteAddress };
  return { remoteAddress, clientCertificate: new Uint8Array(certificate.raw) };
}
