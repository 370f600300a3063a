/**
 * The process's own metrics: resident memory, and how late the event loop runs a timer (a
 * blocked loop delays every request). Sampled by an unreferenced timer, so it never keeps the
 * process alive.
 *
 * @module
 */

import type { Meter } from "@opentelemetry/api";

/** Where the samples come from, injected so tests control them. */
export interface ProcessIo {
  /** Resident set size in bytes. */
  readonly rss: () => number;
  /** Monotonic clock, milliseconds. */
  readonly clock: () => number;
  /** How often the event loop is sampled, milliseconds. */
  readonly sampleMs: number;
}

const DEFAULT_IO: ProcessIo = {
  rss: () => Deno.memoryUsage().rss,
  clock: () => performance.now(),
  sampleMs: 100,
};

/** Observes RSS and event-loop delay on `meter` until the returned function is called. */
export function observeProcess(meter: Meter, io: ProcessIo = DEFAULT_IO): () => void {
  let expected = io.clock() + io.sampleMs;
  let worst = 0;
  const timer = setInterval(() => {
    const now = io.clock();
    worst = Math.max(worst, now - expected);
    expected = now + io.sampleMs;
  }, io.sampleMs);
  Deno.unrefTimer(timer);
  meter.createObservableGauge("process_resident_memory_bytes", {
    description: "Resident memory of this process.",
    unit: "By",
  }).addCallback((result) => result.observe(io.rss()));
  meter.createObservableGauge("registry_token_event_loop_delay_seconds", {
    description: "The longest an event-loop timer ran late since the previous collection.",
    unit: "s",
  }).addCallback((result) => {
    result.observe(worst / 1000);
    worst = 0;
  });
  return () => clearInterval(timer);
}
