/**
 * The observability kit against real peers: the alert rules under `promtool`, and one service
 * process under its production permissions, trusting a real OpenID provider, scraped by a real
 * Prometheus and pushing OTLP to a stand-in Collector. The peers and the process are shared by
 * the steps.
 */

import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { startOidcProvider } from "../support/oidc_provider.ts";
import { MAIN, productionFlags, spawnDeno, writeConfig } from "../support/process.ts";
import { freePort, requirePeer } from "../support/peers.ts";
import { startPrometheus } from "../support/prometheus.ts";
import { decodeMetricsExport, startOtlpReceiver } from "../support/otlp.ts";
import { SIGNING_KEY_PATH } from "../support/service.ts";
import { assertAuditEvent } from "../support/audit_schema.ts";

const KIT = new URL("../../etc/observability/", import.meta.url);
const REGISTRY = "registry.observability-test";
const JOB = "registry-token";

/** Runs `promtool args…` in the kit's directory; throws with its output unless it succeeds. */
async function promtool(...args: string[]): Promise<string> {
  await requirePeer("promtool");
  const { success, stdout, stderr } = await new Deno.Command("promtool", {
    args,
    cwd: KIT.pathname,
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.ok(success, `promtool ${args.join(" ")}:\n${output}`);
  return output;
}

/** The metric names in PromQL `expressions` (this service's, and `up`). */
function metricNames(expressions: string[]): Set<string> {
  const names = new Set<string>();
  for (const expression of expressions) {
    const pattern = /\b(registry_token_\w+|http_server_\w+|process_\w+|up)\b\s*(?=[{[)]|$)/g;
    for (const [, name] of expression.matchAll(pattern)) names.add(name);
  }
  return names;
}

/** Every PromQL expression of the alert rules and the dashboard. */
async function kitExpressions(): Promise<string[]> {
  const rules = parseYaml(await Deno.readTextFile(new URL("alerts.yml", KIT))) as {
    groups: { rules: { expr: string }[] }[];
  };
  const dashboard = JSON.parse(await Deno.readTextFile(new URL("dashboard.json", KIT))) as {
    panels: { targets: { expr: string }[] }[];
    templating: { list: { query?: unknown }[] };
  };
  return [
    ...rules.groups.flatMap((group) => group.rules.map((rule) => rule.expr)),
    ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr)),
    ...dashboard.templating.list.flatMap(({ query }) =>
      typeof query === "string" ? [query.replace(/^label_values\(([^,]+),.*$/, "$1")] : []
    ),
  ];
}

Deno.test("the alert rules pass promtool check rules and their promtool unit tests", async () => {
  assert.match(await promtool("check", "rules", "alerts.yml"), /SUCCESS: 7 rules found/);
  assert.match(await promtool("test", "rules", "alerts_test.yml"), /SUCCESS/);
});

Deno.test("a running service is scraped by a real Prometheus and pushes OTLP to a Collector", async (t) => {
  // A port known in advance, so that Prometheus (which first scrapes about 5 s after it
  // starts: its discovery manager's update interval) starts before everything else.
  const port = freePort();
  const starting = startPrometheus(JOB, [`127.0.0.1:${port}`]);
  const [provider, receiver, dir] = await Promise.all([
    startOidcProvider(),
    startOtlpReceiver(),
    Deno.makeTempDir({ prefix: "registry-token-observability-" }),
  ]);
  const headersPath = `${dir}/otlp-headers`;
  await Deno.writeTextFile(
    headersPath,
    "# the Collector's API key\nAuthorization: Bearer otlp-key\n",
  );
  const configPath = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: port },
      Authority: {
        Issuer: provider.issuer,
        MetadataAddress: provider.metadataAddress,
        Audiences: [provider.resource],
      },
      Signing: { Issuer: "registry-token-observability-test", KeyPath: SIGNING_KEY_PATH },
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] }],
      DefaultPlan: "ci",
      Telemetry: { OtlpEndpoint: receiver.endpoint, Interval: 1, OtlpHeadersPath: headersPath },
    },
  }, dir);
  const flags = await productionFlags(configPath);
  const service = spawnDeno(flags, MAIN, ["--config", configPath]);
  let prometheus: Awaited<typeof starting> | undefined;
  try {
    await service.waitForLog("listening");
    const base = `http://127.0.0.1:${port}`;
    const ask = async (authorization?: string) => {
      const response = await fetch(
        `${base}/token?service=${REGISTRY}&scope=repository:team/app:pull`,
        {
          headers: authorization
            ? { authorization, "user-agent": "docker/27.0 (observability)" }
            : {},
        },
      );
      await response.body?.cancel();
      return response.status;
    };
    const token = await provider.bearerToken();
    // Issued, issued again from both caches, refused for a bad signature, refused for none.
    assert.deepEqual(
      [
        await ask(`Bearer ${token}`),
        await ask(`Bearer ${token}`),
        await ask(`Bearer ${token}x`),
        await ask(),
      ],
      [200, 200, 401, 401],
    );
    prometheus = await starting;

    await t.step(
      "the permission set reaches the Collector's host:port and no other new host",
      () => {
        const net = flags.find((flag) => flag.startsWith("--allow-net="))!;
        assert.ok(net.split(",").includes(new URL(receiver.endpoint).host), net);
      },
    );

    await t.step(
      "Prometheus scrapes the service: up is 1 and the counters carry their labels",
      async () => {
        const deadline = Date.now() + 15_000;
        let up: string | undefined;
        while (Date.now() < deadline && up !== "1") {
          up = (await prometheus!.query(`up{job="${JOB}"}`))[0]?.value[1];
          if (up !== "1") await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.equal(up, "1", "scraped");
        const issued = await prometheus!.query(`registry_token_issued_total{job="${JOB}"}`);
        assert.deepEqual(issued.map(({ metric, value }) => [metric.plan, value[1]]), [["ci", "2"]]);
        const rejected = await prometheus!.query(
          `registry_token_rejected_total{job="${JOB}",reason="token_signature_invalid"}`,
        );
        assert.equal(rejected[0]?.value[1], "1");
      },
    );

    await t.step(
      "every metric the alert rules and the dashboard name exists in Prometheus",
      async () => {
        const held = new Set(await prometheus!.metricNames());
        const used = metricNames(await kitExpressions());
        assert.ok(used.size >= 15, `found ${[...used]}`);
        const missing = [...used].filter((name) => !held.has(name));
        assert.deepEqual(missing, [], "names the rules or the dashboard use but the service lacks");
      },
    );

    await t.step(
      "the OTLP push arrives with its headers, decoded by OpenTelemetry's protobuf code",
      async () => {
        await receiver.waitFor(1);
        const [received] = receiver.exports;
        assert.equal(received.path, "/v1/metrics");
        assert.equal(received.headers.get("authorization"), "Bearer otlp-key");
        assert.equal(received.headers.get("content-type"), "application/x-protobuf");
        const decoded = await decodeMetricsExport(received.body);
        const [resource] = decoded.resourceMetrics;
        const attribute = (key: string) =>
          resource.resource.attributes.find((entry) => entry.key === key)?.value.stringValue;
        assert.equal(attribute("service.name"), "registry-token-service");
        assert.ok(attribute("service.instance.id"));
        const metrics = new Map(
          resource.scopeMetrics.flatMap(({ metrics }) => metrics).map((
            metric,
          ) => [metric.name, metric]),
        );
        const issued = metrics.get("registry_token_issued_total");
        assert.equal(
          Number(issued?.sum?.dataPoints[0].asDouble ?? issued?.sum?.dataPoints[0].asInt),
          2,
        );
        const duration = metrics.get("http.server.request.duration");
        const count = duration?.histogram?.dataPoints.reduce(
          (sum, { count }) => sum + Number(count),
          0,
        );
        assert.equal(count, 4);
        for (
          const name of [
            "registry_token_caller_verification_seconds",
            "process_resident_memory_bytes",
          ]
        ) {
          assert.ok(metrics.has(name), `${name} is pushed`);
        }
      },
    );

    await t.step("the process's audit events are valid and hold no token", () => {
      const events = service.stdout.map((line) => JSON.parse(line)).filter((record) =>
        record.msg === "audit"
      );
      assert.deepEqual(events.map(({ event }) => event), [
        "token.issued",
        "token.issued",
        "auth.failed",
        "token.denied",
      ]);
      for (const event of events) {
        assertAuditEvent(event);
        assert.ok(!JSON.stringify(event).includes(token.slice(-40)), "no caller token");
      }
      assert.equal(events[0].user_agent, "docker/27.0 (observability)");
      assert.equal(events[1].reused, true);
    });
  } finally {
    await (prometheus ?? await starting.catch(() => undefined))?.stop();
    assert.equal((await service.stop()).code, 0);
    await Promise.all([provider.close(), receiver.close()]);
    await Deno.remove(dir, { recursive: true });
  }
});
