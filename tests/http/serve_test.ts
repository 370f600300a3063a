import assert from "node:assert/strict";
import { mergeDocument } from "../../src/config/document.ts";
import { buildOptions } from "../../src/config/options.ts";
import { listen } from "../../src/http/serve.ts";

/** Server options for `host`, on a free port. */
function serverOn(host: string) {
  return buildOptions(mergeDocument({
    RegistryTokenService: {
      Server: { Host: host, Port: 0 },
      Authority: { Issuer: "https://authority.test", JwksPath: "/unused/jwks.json" },
      Signing: { Issuer: "registry-token-test", KeyPath: "/unused/key.pem" },
    },
  }, () => undefined)).server;
}

const QUICK_WATCHDOG = { intervalMs: 100, timeoutMs: 300, misses: 3 };

// That it does give up on a listener that stopped accepting is shown against the real process
// under RLIMIT_NOFILE (tests/e2e/availability_test.ts).
Deno.test("the accept watchdog never gives up on a listener that accepts, whatever the listen host", async () => {
  for (const host of ["127.0.0.1", "0.0.0.0", "localhost"]) {
    const running = await listen(
      serverOn(host),
      undefined,
      () => new Response("ok"),
      QUICK_WATCHDOG,
    );
    try {
      // Other loopback clients come and go meanwhile; none of them may be taken for the probe.
      const traffic = Array.from({ length: 50 }, async () => {
        const response = await fetch(`http://127.0.0.1:${running.port}/`);
        await response.body?.cancel();
      });
      const verdict = await Promise.race([
        running.failed,
        new Promise((resolve) => setTimeout(() => resolve("healthy"), 1500)),
      ]);
      await Promise.all(traffic);
      assert.equal(verdict, "healthy", `listening on ${host}`);
    } finally {
      await running.shutdown();
    }
  }
});
