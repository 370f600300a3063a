/**
 * A real `redis-server` (Debian package `redis-server`) for the shared-state tests: run in the
 * foreground on a free loopback port, without persistence. It can be stopped and started again
 * on the same port, to test outages. Failing to start is a loud test failure, never a skip.
 *
 * @module
 */

import { freePort, requirePeer } from "./peers.ts";

/** A running (or stopped, restartable) redis-server. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly address: string;
  /** Stops it (SIGKILL: an outage, not a shutdown); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: a backend that is connected but answers nothing (slow). */
  pause(): void;
  resume(): void;
}

/** A TLS listener's certificate, key and the CA clients verify it with (PEM file paths). */
export interface RedisTls {
  readonly certificatePath: string;
  readonly keyPath: string;
  readonly caPath: string;
}

/**
 * Starts redis-server on `port` (a free one) on loopback; `password` sets `requirepass`; with
 * `tls` the port speaks TLS only (client certificates not required) and `address` is rediss://.
 * With `dataDir`, a `SAVE` writes its RDB file there, and a restart loads it (nothing is saved
 * by itself).
 */
export async function startRedis(
  password?: string,
  port = freePort(),
  tls?: RedisTls,
  dataDir?: string,
): Promise<RedisServer> {
  await requirePeer("redis-server");
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    const listener = tls
      ? [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--tls-cert-file",
        tls.certificatePath,
        "--tls-key-file",
        tls.keyPath,
        "--tls-ca-cert-file",
        tls.caPath,
        "--tls-auth-clients",
        "no",
      ]
      : ["--port", String(port)];
    const args = [
      ...listener,
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      ...(dataDir === undefined ? [] : ["--dir", dataDir]),
      ...(password === undefined ? [] : ["--requirepass", password]),
    ];
    const process = new Deno.Command("redis-server", { args, stdout: "piped", stderr: "piped" })
      .spawn();
    child = process;
    const output: string[] = [];
    const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
    process.stderr.pipeTo(new WritableStream({ write: (chunk) => void output.push(String(chunk)) }))
      .catch(() => {});
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      output.push(value);
      if (output.join("").includes("Ready to accept connections")) {
        // Keep draining, so redis-server never blocks on a full pipe.
        (async () => {
          while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
        })();
        return;
      }
    }
    try {
      process.kill("SIGKILL");
    } catch { /* gone */ }
    throw new Error(`redis-server did not start on 127.0.0.1:${port}: ${output.join("")}`);
  };
  await start();
  return {
    port,
    address: `${tls ? "rediss" : "redis"}://127.0.0.1:${port}`,
    start,
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
    async stop() {
      if (!child) return;
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      child = undefined;
    },
  };
}
