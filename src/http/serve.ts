/**
 * Transports: `Deno.serve` for plain HTTP, and `node:https` when the service terminates TLS
 * itself, because only `node:https` can request client certificates (mTLS, RFC 8705).
 * Both hand the service a Web `Request` plus what they know about the connection.
 *
 * @module
 */

import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { getRequestListener } from "@hono/node-server";
import type { ServerOptions } from "../config/options.ts";
import { normaliseAddress } from "../config/options.ts";
import type { TlsMaterial } from "../service.ts";
import type { ConnectionInfo } from "./connection.ts";

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
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
}

/** Listens on `server.host:server.port`, over TLS when `tls` is given. */
export function listen(
  server: ServerOptions,
  tls: TlsMaterial | undefined,
  handler: ConnectionHandler,
): Promise<RunningServer> {
  return tls ? listenTls(server, tls, handler) : listenPlain(server, handler);
}

function listenPlain(server: ServerOptions, handler: ConnectionHandler): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    try {
      const http = Deno.serve(
        {
          hostname: server.host,
          port: server.port,
          onListen: () => {},
        },
        (request, info) =>
          handler(request, { remoteAddress: normaliseAddress(info.remoteAddr.hostname) }),
      );
      const { hostname, port } = http.addr;
      resolve({ hostname, port, shutdown: () => http.shutdown(), finished: http.finished });
    } catch (error) {
      reject(error);
    }
  });
}

function listenTls(
  server: ServerOptions,
  tls: TlsMaterial,
  handler: ConnectionHandler,
): Promise<RunningServer> {
  const listener = getRequestListener(
    (request, env) => handler(request, tlsConnection(env.incoming.socket as TLSSocket, tls)),
    { overrideGlobalObjects: false },
  );
  const https: Server = createServer({
    cert: tls.certificate,
    key: tls.key,
    passphrase: tls.passphrase,
    ca: tls.clientCa,
    // Ask for a certificate but let callers without one in: bearer callers need none, and a
    // bound token without its certificate is refused with a clear error instead of a TLS alert.
    requestCert: true,
    rejectUnauthorized: false,
  }, listener);
  const finished = new Promise<void>((resolve) => https.once("close", () => resolve()));
  return new Promise((resolve, reject) => {
    https.once("error", reject);
    https.listen(server.port, server.host, () => {
      https.off("error", reject);
      const address = https.address();
      const port = typeof address === "object" && address ? address.port : server.port;
      resolve({
        hostname: server.host,
        port,
        shutdown: () => {
          https.close();
          https.closeIdleConnections();
          return finished;
        },
        finished,
      });
    });
  });
}

/** The client certificate of a TLS connection; with a client CA only one that chains to it. */
function tlsConnection(socket: TLSSocket, tls: TlsMaterial): ConnectionInfo {
  const remoteAddress = socket.remoteAddress && normaliseAddress(socket.remoteAddress);
  const certificate = socket.getPeerX509Certificate?.();
  if (!certificate || (tls.clientCa && !socket.authorized)) return { remoteAddress };
  return { remoteAddress, clientCertificate: new Uint8Array(certificate.raw) };
}
