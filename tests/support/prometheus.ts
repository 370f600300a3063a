/**
 * A real Prometheus server (Debian package `prometheus`) for the observability tests: run in
 * the foreground on a free loopback port with its own config and TSDB under a temp dir,
 * scraping the given targets every second. Failing to start is a loud test failure, never a
 * skip.
 *
 * @module
 */

import { freePort, requirePeer } from "./peers.ts";

/** A running Prometheus. */
export interface PrometheusServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Runs an instant query; resolves with its result vector. */
  query(expression: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Every metric name Prometheus holds. */
  metricNames(): Promise<string[]>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/** How long Prometheus may take to become ready (it replays an empty TSDB in well under 1 s). */
const READY_TIMEOUT_MS = 15_000;

/** Starts Prometheus scraping `targets` (`host:port`) as job `job` every second. */
export async function startPrometheus(job: string, targets: string[]): Promise<PrometheusServer> {
  await requirePeer("prometheus");
  const dir = await Deno.makeTempDir({ prefix: "registry-token-prometheus-" });
  const config = {
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    scrape_configs: [{ job_name: job, static_configs: [{ targets }] }],
  };
  // JSON is YAML.
  await Deno.writeTextFile(`${dir}/prometheus.yml`, JSON.stringify(config));
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await stderr;
    await Deno.remove(dir, { recursive: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(async (response) => {
      await response.body?.cancel();
      return response.ok;
    }, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready: ${await stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const api = async (path: string) => {
    const body = await (await fetch(`${url}/api/v1/${path}`)).json();
    if (body.status !== "success") throw new Error(`prometheus ${path}: ${JSON.stringify(body)}`);
    return body.data;
  };
  return {
    url,
    query: async (expression) =>
      (await api(`query?query=${encodeURIComponent(expression)}`)).result,
    metricNames: () => api("label/__name__/values"),
    stop,
  };
}
