/**
 * The service's metrics through the OpenTelemetry metrics API, rendered for `/metrics` by
 * OpenTelemetry's own Prometheus exporter and, when `Telemetry:OtlpEndpoint` is set, pushed
 * from the same instruments by the OTLP reader (`otlp.ts`).
 *
 * Label values come only from fixed sets — configured plan and Authority names (else
 * `unknown`), the closed list of denial reasons, the HTTP methods and status codes this service
 * answers — so a caller cannot create new time series.
 *
 * @module
 */

import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { OtlpPush } from "./otlp.ts";
import { DENIAL_REASONS, type DenialReason } from "../denial.ts";

/** Label for a plan or an Authority that is not a configured one. */
const UNKNOWN = "unknown";

/** The caches whose lookups are counted. */
export type CacheName = "verified_token" | "minted_token";

/** The service's instruments. */
export interface TokenMetrics {
  /** Counts an issued token under its plan. */
  issued(plan: string): void;
  /** Counts a refused request under its reason. */
  rejected(reason: DenialReason): void;
  /** Records how long a `/token` request took, with its method, status and URL scheme. */
  requestDuration(seconds: number, method: string, status: number, tls: boolean): void;
  /** Records a signature check of a caller token; `valid` says whether it verified. */
  callerVerification(seconds: number, valid: boolean): void;
  /** Records the signing of a registry token; `ok` false counts a signing failure. */
  signing(seconds: number, ok: boolean): void;
  /** Counts a lookup in one of the token caches. */
  cacheLookup(cache: CacheName, hit: boolean): void;
  /** Counts a fetch of an Authority's keys; a success restarts the key set's age. */
  authorityKeyRefresh(authority: string, ok: boolean): void;
  /** Counts log lines dropped because stdout was slow or closed. */
  logLinesDropped(count: number): void;
  /** Counts a budget operation that fell back to this process because the shared state was out. */
  stateFallback(): void;
  /** Counts a time this process found the shared state's DPoP replay records lost. */
  stateDataLost(): void;
  /** Replaces the plan and Authority names accepted as labels (after a config reload). */
  setLabels(labels: { plans: Iterable<string>; authorities: Iterable<string> }): void;
  /** The current values in Prometheus text exposition format. */
  render(): Promise<string>;
  /** The OTLP push reader, idle until `Telemetry:OtlpEndpoint` starts it (`otlp.ts`). */
  readonly push: OtlpPush;
  /** The meter the instruments live on, for process metrics (`process_metrics.ts`). */
  readonly meter: ReturnType<MeterProvider["getMeter"]>;
  /** Pushes what further readers hold and stops them (before exit). */
  shutdown(): Promise<void>;
}

/** Histogram bounds in seconds: a token request is milliseconds, a slow Authority seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Methods the `/token` route answers (others are `_OTHER`, as the HTTP conventions say). */
const METHODS = new Set(["GET", "POST", "HEAD"]);

/** What the metrics depend on: a clock for the key sets' age, and this process's identity. */
export interface MetricsOptions {
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  /** `service.instance.id` of pushed metrics, so that workers and replicas stay apart. */
  readonly instanceId?: string;
}

/** Creates the instruments on a private meter provider (nothing is registered globally). */
export function createTokenMetrics(options: MetricsOptions = {}): TokenMetrics {
  const now = options.now ?? Date.now;
  // The exporter serves nothing itself: `/metrics` is the service's own route.
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  // Without target_info and otel_scope_name labels, so series keep their names and labels.
  const serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  const push = new OtlpPush();
  const provider = new MeterProvider({
    readers: [prometheus, push],
    resource: resourceFromAttributes({
      "service.name": "registry-token-service",
      "service.instance.id": options.instanceId ?? crypto.randomUUID(),
    }),
  });
  const meter = provider.getMeter("registry-token-service");
  const counter = (name: string, description: string) => meter.createCounter(name, { description });
  const histogram = (name: string, description: string) =>
    meter.createHistogram(name, {
      description,
      unit: "s",
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    });

  const issued = counter("registry_token_issued_total", "Registry tokens issued, by plan.");
  const rejected = counter("registry_token_rejected_total", "Token requests refused, by reason.");
  const requests = histogram(
    "http.server.request.duration",
    "Duration of /token requests (OpenTelemetry HTTP semantic conventions).",
  );
  const verification = histogram(
    "registry_token_caller_verification_seconds",
    "Signature checks of caller tokens not found in the verified-token cache, by result.",
  );
  const signingTime = histogram(
    "registry_token_signing_seconds",
    "Signing of registry tokens (reused tokens are not signed again).",
  );
  const signingFailures = counter(
    "registry_token_signing_failures_total",
    "Registry tokens that could not be signed.",
  );
  const cacheLookups = counter(
    "registry_token_cache_lookups_total",
    "Lookups in the verified-token and minted-token caches, by cache and result.",
  );
  const keyRefreshes = counter(
    "registry_token_authority_key_refreshes_total",
    "Fetches of remote Authority keys (discovery, JWKS URL), by Authority and result.",
  );
  const dropped = counter(
    "registry_token_log_lines_dropped_total",
    "Log lines dropped because stdout was not read fast enough or was closed.",
  );
  const fallbacks = counter(
    "registry_token_state_fallbacks_total",
    "Failure-budget operations counted in this process because the shared state was unavailable.",
  );
  const dataLost = counter(
    "registry_token_state_data_lost_total",
    "Times this process found that the shared state had lost its DPoP replay records.",
  );
  // Failures the alerts watch exist from the start, so their rules see 0 rather than nothing.
  for (const failures of [signingFailures, dropped, fallbacks, dataLost]) failures.add(0);

  let plans = new Set<string>();
  let authorities = new Set<string>();
  const keysLoadedAt = new Map<string, number>();
  meter.createObservableGauge("registry_token_authority_keys_age_seconds", {
    description: "Seconds since each remote Authority's keys were last fetched successfully.",
    unit: "s",
  }).addCallback((result) => {
    for (const [authority, at] of keysLoadedAt) {
      if (authorities.has(authority)) result.observe((now() - at) / 1000, { authority });
    }
  });
  const authorityLabel = (name: string) => authorities.has(name) ? name : UNKNOWN;

  return {
    issued: (plan) => issued.add(1, { plan: plans.has(plan) ? plan : UNKNOWN }),
    rejected: (reason) => {
      if (reason in DENIAL_REASONS) rejected.add(1, { reason });
    },
    requestDuration: (seconds, method, status, tls) =>
      requests.record(seconds, {
        "http.request.method": METHODS.has(method) ? method : "_OTHER",
        "http.route": "/token",
        "http.response.status_code": status,
        "url.scheme": tls ? "https" : "http",
      }),
    callerVerification: (seconds, valid) =>
      verification.record(seconds, { result: valid ? "valid" : "refused" }),
    signing: (seconds, ok) => ok ? signingTime.record(seconds) : signingFailures.add(1),
    cacheLookup: (cache, hit) => cacheLookups.add(1, { cache, result: hit ? "hit" : "miss" }),
    authorityKeyRefresh: (authority, ok) => {
      const label = authorityLabel(authority);
      keyRefreshes.add(1, { authority: label, result: ok ? "success" : "failure" });
      if (ok) keysLoadedAt.set(authority, now());
    },
    logLinesDropped: (count) => dropped.add(count),
    stateFallback: () => fallbacks.add(1),
    stateDataLost: () => dataLost.add(1),
    setLabels: (labels) => {
      plans = new Set(labels.plans);
      authorities = new Set(labels.authorities);
    },
    render: async () => {
      const { resourceMetrics, errors } = await prometheus.collect();
      if (errors.length) throw new AggregateError(errors, "metrics collection failed");
      return serializer.serialize(resourceMetrics);
    },
    push,
    meter,
    shutdown: () => provider.shutdown(),
  };
}
