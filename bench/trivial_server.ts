/**
 * Reference ceiling: the cheapest possible `Deno.serve` handler, on the port given.
 *
 * Usage: deno run --allow-net bench/trivial_server.ts <port>
 *
 * @module
 */

const body = JSON.stringify({ token: "x".repeat(40) });
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0]),
  onListen: () => console.log("ready"),
}, () => new Response(body, { headers: { "content-type": "application/json" } }));
