import assert from "node:assert/strict";
import { parsePolicyCases } from "../src/policy_cases.ts";
import { assertConfigError } from "./support/config.ts";

const CASES = `
- Name: ci pulls its own project
  Claims: { iss: "https://gitlab.test", sub: "project_path:team/app", groups: [dev], exp: 1700000000 }
  Service: registry.test
  Scope: repository:team/app:pull,push
  Expect: [pull]
- name: anyone else is refused
  authority: stellaops
  claims: { sub: guest }
  service: registry.test
  scope: repository:team/app:pull
  expect: []
`;

Deno.test("parsePolicyCases reads every case with case-insensitive keys and typed claims", () => {
  assert.deepEqual(parsePolicyCases(CASES, "cases.yaml"), [
    {
      name: "ci pulls its own project",
      authority: undefined,
      claims: {
        iss: "https://gitlab.test",
        sub: "project_path:team/app",
        groups: ["dev"],
        exp: 1700000000,
      },
      service: "registry.test",
      scope: "repository:team/app:pull,push",
      expect: ["pull"],
    },
    {
      name: "anyone else is refused",
      authority: "stellaops",
      claims: { sub: "guest" },
      service: "registry.test",
      scope: "repository:team/app:pull",
      expect: [],
    },
  ]);
});

Deno.test("parsePolicyCases names the case and key of a mistake", () => {
  assertConfigError(
    () =>
      parsePolicyCases(
        "- Name: x\n  Claims: {}\n  Service: s\n  Scope: repository:a:pull\n",
        "c.yaml",
      ),
    "c.yaml:0:Expect",
    /is required/,
  );
  assertConfigError(
    () =>
      parsePolicyCases(
        "- Name: x\n  Claims: []\n  Service: s\n  Scope: repository:a:pull\n  Expect: []\n",
        "c.yaml",
      ),
    "c.yaml:0:Claims",
    /mapping of claims/,
  );
  assertConfigError(
    () => parsePolicyCases("- Name: x\n  Claim: {}\n", "c.yaml"),
    "c.yaml:0:Claim",
    /unknown key/,
  );
  assertConfigError(() => parsePolicyCases("{}", "c.yaml"), "c.yaml", /non-empty list/);
  assertConfigError(() => parsePolicyCases("- [", "c.yaml"), "c.yaml", /not valid YAML/);
});
