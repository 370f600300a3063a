/** The Server section. */

import { assertConfigError, build, doc } from "../support/config.ts";

Deno.test("buildOptions rejects a port outside 0..65535", () => {
  assertConfigError(
    () => build(doc({ Server: { Port: 70000 } })),
    "RegistryTokenService:Server:Port",
    /0\.\.65535/,
  );
  assertConfigError(
    () => build(doc({ Server: { Port: -1 } })),
    "RegistryTokenService:Server:Port",
    /0\.\.65535/,
  );
});
