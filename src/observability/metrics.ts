/**
 * Token counters through the OpenTelemetry metrics API, rendered as Prometheus text.
 *
 * Label values come only from fixed sets — configured plan names (else `unknown`) and the
 * closed list of denial reasons — so a caller cannot create new time series.
 *
 * @module
 */

import type { Attributes, Counter } from "@opentelemetry/api";
import { DataPointType, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { DENIAL_REASONS, type DenialReason } from "../denial.ts";

/** Plan label for callers whose plan is not a configured one. */
const UNKNOWN_PLAN = "unknown";

/** The service's counters. */
export interface TokenMetrics {
  /** Counts an issued token under its plan. */
  issued(plan: string): void;
  /** Counts a refused request under its reason. */
  rejected(reason: DenialReason): void;
  /** Counts log lines dropped because stdout was slow or closed. */
  logLinesDropped(count: number): void;
  /** Counts a budget operation that fell back to this process because the shared state was out. */
  stateFallback(): void;
  /** Counts a time this process found the shared state's DPoP replay records lost. */
  stateDataLost(): void;
  /** Replaces the set of plan names accepted as labels (after a config reload). */
  setPlans(planNames: Iterable<string>): void;
  /** The current values in Prometheus text exposition format. */
  render(): Promise<string>;
}

/** A reader that only exports when asked: `/metrics` pulls. */
class PullReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const COUNTERS = {
  issued: { name: "registry_token_issued_total", help: "Registry tokens issued, by plan." },
  rejected: {
    name: "registry_token_rejected_total",
    help: "Token requests refused, by reason.",
  },
  logLinesDropped: {
    name: "registry_token_log_lines_dropped_total",
    help: "Log lines dropped because stdout was not read fast enough or was closed.",
  },
  stateFallbacks: {
    name: "registry_token_state_fallbacks_total",
    help:
      "Failure-budget operations counted in this process because the shared state was unavailable.",
  },
  stateDataLost: {
    name: "registry_token_state_data_lost_total",
    help: "Times this process found that the shared state had lost its DPoP replay records.",
  },
} as const;

/** Creates the counters on a private meter provider (nothing is registered globally). */
export function createTokenMetrics(planNames: Iterable<string>): TokenMetrics {
  const reader = new PullReader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter("registry-token-service");
  const issuedCounter: Counter<Attributes> = meter.createCounter(COUNTERS.issued.name, {
    description: COUNTERS.issued.help,
  });
  const rejectedCounter = meter.createCounter(COUNTERS.rejected.name, {
    description: COUNTERS.rejected.help,
  });
  const droppedCounter = meter.createCounter(COUNTERS.logLinesDropped.name, {
    description: COUNTERS.logLinesDropped.help,
  });
  const fallbackCounter = meter.createCounter(COUNTERS.stateFallbacks.name, {
    description: COUNTERS.stateFallbacks.help,
  });
  const dataLostCounter = meter.createCounter(COUNTERS.stateDataLost.name, {
    description: COUNTERS.stateDataLost.help,
  });
  let plans = new Set(planNames);

  return {
    issued: (plan) => issuedCounter.add(1, { plan: plans.has(plan) ? plan : UNKNOWN_PLAN }),
    rejected: (reason) => {
      if (reason in DENIAL_REASONS) rejectedCounter.add(1, { reason });
    },
    logLinesDropped: (count) => droppedCounter.add(count),
    stateFallback: () => fallbackCounter.add(1),
    stateDataLost: () => dataLostCounter.add(1),
    setPlans: (names) => plans = new Set(names),
    render: async () => {
      const { resourceMetrics } = await reader.collect();
      const lines: string[] = [];
      for (const { metrics } of resourceMetrics.scopeMetrics) {
        for (const metric of metrics) {
          if (metric.dataPointType !== DataPointType.SUM) continue;
          const { name, description } = metric.descriptor;
          lines.push(`# HELP ${name} ${description}`, `# TYPE ${name} counter`);
          for (const point of metric.dataPoints) {
            lines.push(`${name}${labels(point.attributes)} ${point.value}`);
          }
        }
      }
      return lines.length ? `${lines.join("\n")}\n` : "";
    },
  };
}

function labels(attributes: Attributes): string {
  const pairs = Object.entries(attributes).map(([key, value]) =>
    `${key}="${String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
  );
  return pairs.length ? `{${pairs.join(",")}}` : "";
}
