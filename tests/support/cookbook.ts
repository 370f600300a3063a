/**
 * The policy cookbook's configuration (`etc/policy-cookbook.yaml`) and a caller it serves, for
 * the tests of `--explain` and `--test-policy`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The cookbook configuration file. */
export const COOKBOOK_PATH = fileURLToPath(
  new URL("../../etc/policy-cookbook.yaml", import.meta.url),
);

/** The claims of alice, a developer at the cookbook's IdP. */
export const ALICE = {
  iss: "https://idp.example.internal/realms/main",
  aud: "registry-token-service",
  scope: "registry.token.issue",
  preferred_username: "alice",
  realm_access: { roles: ["developer"] },
};
