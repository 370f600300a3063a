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

Deno.test("with Server:Workers two listeners share one port, and neither watchdog gives up", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const server = buildOptions(mergeDocument({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: port, Workers: 2 },
      Authority: { Issuer: "https://authority.test", JwksPath: "/unused/jwks.json" },
      Signing: { Issuer: "registry-token-test", KeyPath: "/unused/key.pem" },
    },
  }, () => undefined)).server;
  const servers = await Promise.all(
    ["one", "two"].map((name) =>
      listen(server, undefined, () => new Response(name), QUICK_WATCHDOG)
    ),
  );
  try {
    assert.ok(servers.every((running) => running.port === port));
    // Each check's probes are spread over both sockets; a listener still finds one of its own.
    const verdict = await Promise.race([
      ...servers.map((running) => running.failed),
      new Promise((resolve) => setTimeout(() => resolve("healthy"), 2000)),
    ]);
    assert.equal(verdict, "healthy");
  } finally {
    await Promise.all(servers.map((running) => running.shutdown()));
  }
});
