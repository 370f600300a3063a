import assert from "node:assert/strict";
import { createTokenMetrics } from "../../src/observability/metrics.ts";
import { observeProcess } from "../../src/observability/process_metrics.ts";

Deno.test("process metrics report resident memory and how long the event loop was blocked", async () => {
  const metrics = createTokenMetrics();
  const stop = observeProcess(metrics.meter, {
    rss: () => 123_456,
    clock: () => performance.now(),
    sampleMs: 10,
  });
  try {
    const blockedUntil = performance.now() + 120;
    while (performance.now() < blockedUntil) { /* the loop is blocked */ }
    await new Promise((resolve) => setTimeout(resolve, 30));
    const text = await metrics.render();
    assert.match(text, /^process_resident_memory_bytes 123456$/m);
    const delay = Number(text.match(/^registry_token_event_loop_delay_seconds (\S+)$/m)?.[1]);
    assert.ok(delay >= 0.1, `a 120 ms block shows as ${delay} s`);
    const after = await metrics.render();
    const next = Number(after.match(/^registry_token_event_loop_delay_seconds (\S+)$/m)?.[1]);
    assert.ok(next < 0.1, "each collection reports the worst delay since the previous one");
  } finally {
    stop();
    await metrics.shutdown();
  }
});
