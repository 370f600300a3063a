/** What --check and every start warn about. */

import assert from "node:assert/strict";
import { configurationWarnings } from "../../src/config/warnings.ts";
import { build, doc } from "../support/config.ts";

Deno.test("an Authority that checks neither Audiences nor RequiredScopes is warned about", () => {
  const document = doc({
    Registry: { Realm: "https://tokens.test/token" },
    Authorities: [
      { Name: "stellaops", Issuer: "https://authority.test" },
      { Name: "ci", Issuer: "https://ci.test", RequiredScopes: [] },
      { Name: "k8s", Issuer: "https://k8s.test", RequiredScopes: [], Audiences: ["registry"] },
    ],
  });
  delete (document.RegistryTokenService as Record<string, unknown>).Authority;
  const warnings = configurationWarnings(build(document));
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0],
    /^RegistryTokenService:Authorities:1 \(Authority "ci"\) checks neither Audiences nor RequiredScopes/,
  );
});

Deno.test("the default Authority settings draw no warning of their own", () => {
  const options = build(doc({ Registry: { Realm: "https://tokens.test/token" } }));
  assert.deepEqual(configurationWarnings(options), []);
});
