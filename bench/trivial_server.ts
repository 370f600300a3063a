/**
 * Reference ceiling: the cheapest possible handler on the service's own transport (`listen` from
 * `src/http/serve.ts`: node:http, the Hono adapter, default deadlines and the accept watchdog),
 * on the port given. What the service adds on top of it is the pipeline.
 *
 * Usage: deno run --allow-net bench/trivial_server.ts <port>
 *
 * @module
 */

import { mergeDocument } from "../src/config/document.ts";
import { buildOptions } from "../src/config/options.ts";
import { listen } from "../src/http/serve.ts";

const { server } = buildOptions(mergeDocument({
  RegistryTokenService: {
    Server: { Host: "127.0.0.1", Port: Number(Deno.args[0]) },
    Authority: { Issuer: "https://authority.bench", JwksPath: "/unused/jwks.json" },
    Signing: { Issuer: "bench", KeyPath: "/unused/key.pem" },
  },
}, () => undefined));
const body = JSON.stringify({ token: "x".repeat(40) });
await listen(
  server,
  undefined,
  () => new Response(body, { headers: { "content-type": "application/json" } }),
);
console.log("ready");
