/** The State section. */

import assert from "node:assert/strict";
import { describeOptions } from "../../src/config/describe.ts";
import { configuredFiles } from "../../src/config/files.ts";
import { assertConfigError, build, doc } from "../support/config.ts";

Deno.test("State defaults to the memory backend, prefix registry-token:, 250ms per operation", () => {
  assert.deepEqual(build(doc()).state, {
    backend: "memory",
    keyPrefix: "registry-token:",
    timeoutSeconds: 0.25,
  });
});

Deno.test("State:Backend redis takes an address, a password file and a CA, and names the host:port", () => {
  const options = build(doc({
    State: {
      Backend: "Redis",
      Address: "rediss://state.internal/3",
      PasswordPath: "/etc/rts/state/password",
      CaPath: "/etc/rts/ca/state-ca.pem",
      KeyPrefix: "site-a:",
      Timeout: "100ms",
    },
  }));
  assert.deepEqual(options.state, {
    backend: "redis",
    address: "rediss://state.internal/3",
    hostPort: "state.internal:6379",
    passwordPath: "/etc/rts/state/password",
    caPath: "/etc/rts/ca/state-ca.pem",
    keyPrefix: "site-a:",
    timeoutSeconds: 0.1,
  });
  assert.deepEqual(configuredFiles(options).state, [
    "/etc/rts/state/password",
    "/etc/rts/ca/state-ca.pem",
  ]);
  // --check shows where the password is, never a password.
  assert.equal(
    (describeOptions(options) as { state: { passwordPath: string } }).state.passwordPath,
    "/etc/rts/state/password",
  );
});

Deno.test("State refuses a backend it does not know, a missing or bad address and an inline password", () => {
  const key = "RegistryTokenService:State";
  assertConfigError(
    () => build(doc({ State: { Backend: "etcd" } })),
    `${key}:Backend`,
    /memory or redis/,
  );
  assertConfigError(
    () => build(doc({ State: { Backend: "redis" } })),
    `${key}:Address`,
    /required/,
  );
  assertConfigError(
    () => build(doc({ State: { Backend: "redis", Address: "http://state:6379" } })),
    `${key}:Address`,
    /redis:\/\/host:port/,
  );
  assertConfigError(
    () => build(doc({ State: { Backend: "redis", Address: "redis://:hunter2@state:6379" } })),
    `${key}:Address`,
    /State:PasswordPath/,
  );
  // Not even an address that cannot be parsed echoes its password.
  assertConfigError(
    () => build(doc({ State: { Backend: "redis", Address: "redis://:hunter2@state:99999" } })),
    `${key}:Address`,
    /^(?![^]*hunter2)[^]*redis:\/\/host:port/,
  );
  assertConfigError(
    () => build(doc({ State: { Backend: "redis", Address: "redis://state/x" } })),
    `${key}:Address`,
    /database number/,
  );
  assertConfigError(
    () => build(doc({ State: { Backend: "redis", Address: "redis://state", CaPath: "/ca.pem" } })),
    `${key}:CaPath`,
    /rediss:\/\//,
  );
  assertConfigError(
    () => build(doc({ State: { Address: "redis://state:6379" } })),
    `${key}:Address`,
    /needs State:Backend redis/,
  );
  assertConfigError(
    () => build(doc({ State: { Timeout: "0s" } })),
    `${key}:Timeout`,
    /between/,
  );
});
