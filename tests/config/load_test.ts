/** Finding and reading the config file: locations, fallbacks, YAML, errors with the file path. */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CONFIG_PATH_ENV,
  type ConfigIo,
  DEFAULT_CONFIG_PATH,
  loadConfig,
  loadOptions,
  locateConfig,
  SYSTEM_CONFIG_PATH,
} from "../../src/config/load.ts";
import { assertConfigErrorAsync, ENV, fakeEnv } from "../support/config.ts";

/** Injected I/O: files from a map (a missing one throws NotFound) and a fake environment. */
function fakeIo(files: Record<string, string>, variables: Record<string, string> = {}) {
  const reads: string[] = [];
  const io: ConfigIo = {
    readTextFile: (path) => {
      reads.push(path);
      return path in files
        ? Promise.resolve(files[path])
        : Promise.reject(new Deno.errors.NotFound(`No such file or directory: ${path}`));
    },
    getEnv: fakeEnv(variables),
  };
  return { io, reads };
}

const VALID_YAML = `
RegistryTokenService:
  Authority:
    Issuer: https://authority.test
  Signing:
    Issuer: registry-token
    KeyPath: /keys/signing.pem
`;

Deno.test("locateConfig prefers --config over REGISTRY_TOKEN_CONFIG over the default", () => {
  const env = fakeEnv({ [CONFIG_PATH_ENV]: "/from/env.yaml" });
  assert.equal(CONFIG_PATH_ENV, "REGISTRY_TOKEN_CONFIG");
  assert.deepEqual(locateConfig("/from/flag.yaml", env), {
    path: "/from/flag.yaml",
    explicit: true,
  });
  assert.deepEqual(locateConfig(undefined, env), { path: "/from/env.yaml", explicit: true });
  assert.deepEqual(locateConfig(undefined, fakeEnv()), {
    path: "etc/registry-token.yaml",
    explicit: false,
    fallback: "/etc/registry-token/registry-token.yaml",
  });
  assert.equal(DEFAULT_CONFIG_PATH, "etc/registry-token.yaml");
});

Deno.test("loadConfig falls back to /etc/registry-token when the working directory has no config", async () => {
  const { io, reads } = fakeIo({ [SYSTEM_CONFIG_PATH]: VALID_YAML });
  const { options, path } = await loadConfig(locateConfig(undefined, io.getEnv), io);
  assert.equal(path, SYSTEM_CONFIG_PATH);
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
  assert.deepEqual(reads, [DEFAULT_CONFIG_PATH, SYSTEM_CONFIG_PATH]);
});

Deno.test("loadConfig skips a default location it may not read, but not a named one", async () => {
  const io: ConfigIo = {
    readTextFile: (path) =>
      path === SYSTEM_CONFIG_PATH
        ? Promise.resolve(VALID_YAML)
        : Promise.reject(new Deno.errors.NotCapable(`Requires read access to "${path}"`)),
    getEnv: fakeEnv(),
  };
  assert.equal((await loadConfig(locateConfig(undefined, io.getEnv), io)).path, SYSTEM_CONFIG_PATH);
  await assertConfigErrorAsync(
    loadConfig(locateConfig("/elsewhere.yaml", io.getEnv), io),
    "/elsewhere.yaml",
    /cannot read config file \(Requires read access/,
  );
});

Deno.test("loadOptions reads the located YAML file and applies environment overrides", async () => {
  const { io, reads } = fakeIo({ "/etc/rts.yaml": VALID_YAML }, {
    [`${ENV}SERVER__PORT`]: "9000",
  });
  const options = await loadOptions(locateConfig("/etc/rts.yaml", io.getEnv), io);
  assert.deepEqual(reads, ["/etc/rts.yaml"]);
  assert.equal(options.authorities[0].issuer, "https://authority.test");
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
  assert.equal(options.server.port, 9000);
});

Deno.test("loadOptions reads the file named by REGISTRY_TOKEN_CONFIG", async () => {
  const { io, reads } = fakeIo({ "/env/rts.yaml": VALID_YAML }, {
    [CONFIG_PATH_ENV]: "/env/rts.yaml",
  });
  const options = await loadOptions(locateConfig(undefined, io.getEnv), io);
  assert.deepEqual(reads, ["/env/rts.yaml"]);
  assert.equal(options.signing.issuer, "registry-token");
});

Deno.test("loadOptions accepts case-insensitive keys and all duration forms in YAML", async () => {
  const yaml = `
registrytokenservice:
  authority:
    ISSUER: https://authority.test
    clockSkew: 90s
  SIGNING:
    issuer: registry-token
    keyPath: /keys/signing.pem
    lifetime: 00:10:00
  revokedLicenses: [lic-a, lic-b]
`;
  const { io } = fakeIo({ [DEFAULT_CONFIG_PATH]: yaml }, {
    [`${ENV}REVOKEDLICENSES__0`]: "lic-env",
  });
  const options = await loadOptions(locateConfig(undefined, io.getEnv), io);
  assert.equal(options.authorities[0].clockSkewSeconds, 90);
  assert.equal(options.signing.lifetimeSeconds, 600);
  assert.deepEqual([...options.policy.revokedLicenses], ["lic-env", "lic-b"]);
});

Deno.test("loadOptions treats a missing default config file as an empty document", async () => {
  const { io, reads } = fakeIo({});
  await assertConfigErrorAsync(
    loadOptions(locateConfig(undefined, io.getEnv), io),
    "RegistryTokenService:Authority:Issuer",
    /is required/,
  );
  assert.deepEqual(reads, [DEFAULT_CONFIG_PATH, SYSTEM_CONFIG_PATH]);
});

Deno.test("loadOptions works from environment variables alone when the default file is missing", async () => {
  const { io } = fakeIo({}, {
    [`${ENV}AUTHORITY__ISSUER`]: "https://authority.test",
    [`${ENV}SIGNING__ISSUER`]: "registry-token",
    [`${ENV}SIGNING__KEYPATH`]: "/keys/signing.pem",
  });
  const options = await loadOptions(locateConfig(undefined, io.getEnv), io);
  assert.equal(options.signing.keyPath, "/keys/signing.pem");
});

Deno.test("loadOptions treats an empty config file as an empty document", async () => {
  const { io } = fakeIo({ [DEFAULT_CONFIG_PATH]: "" });
  await assertConfigErrorAsync(
    loadOptions(locateConfig(undefined, io.getEnv), io),
    "RegistryTokenService:Authority:Issuer",
    /is required/,
  );
});

Deno.test("loadOptions fails when an explicitly named config file is missing", async () => {
  const { io } = fakeIo({});
  await assertConfigErrorAsync(
    loadOptions(locateConfig("/nowhere/rts.yaml", io.getEnv), io),
    "/nowhere/rts.yaml",
    /cannot read config file/,
  );
  const fromEnv = fakeIo({}, { [CONFIG_PATH_ENV]: "/env/missing.yaml" }).io;
  await assertConfigErrorAsync(
    loadOptions(locateConfig(undefined, fromEnv.getEnv), fromEnv),
    "/env/missing.yaml",
    /cannot read config file/,
  );
});

Deno.test("loadOptions fails when the default config file exists but cannot be read", async () => {
  const io: ConfigIo = {
    readTextFile: () => Promise.reject(new Deno.errors.PermissionDenied("read access denied")),
    getEnv: fakeEnv(),
  };
  await assertConfigErrorAsync(
    loadOptions(locateConfig(undefined, io.getEnv), io),
    DEFAULT_CONFIG_PATH,
    /cannot read config file \(read access denied\)/,
  );
});

Deno.test("loadOptions reports invalid YAML with the file path", async () => {
  const { io } = fakeIo({ "/etc/bad.yaml": "RegistryTokenService:\n  Signing: [unclosed\n" });
  await assertConfigErrorAsync(
    loadOptions(locateConfig("/etc/bad.yaml", io.getEnv), io),
    "/etc/bad.yaml",
    /is not valid YAML: /,
  );
  const duplicate = fakeIo({ "/etc/dup.yaml": `${VALID_YAML}RegistryTokenService: {}\n` }).io;
  await assertConfigErrorAsync(
    loadOptions(locateConfig("/etc/dup.yaml", duplicate.getEnv), duplicate),
    "/etc/dup.yaml",
    /is not valid YAML/,
  );
});

Deno.test("loadOptions reports the first invalid key of a YAML file", async () => {
  const { io } = fakeIo({
    "/etc/rts.yaml":
      `${VALID_YAML}  Plans:\n    - Name: ci\n      Repositories:\n        - Pattern: "*"\n          Actions: [Pull]\n`,
  });
  await assertConfigErrorAsync(
    loadOptions(locateConfig("/etc/rts.yaml", io.getEnv), io),
    "RegistryTokenService:Plans:0:Repositories:0:Actions:0",
    /"Pull" is not an action/,
  );
});

Deno.test("loadOptions reads real files with Deno.readTextFile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-config-" });
  try {
    const path = join(dir, "registry-token.yaml");
    await Deno.writeTextFile(path, VALID_YAML);
    const io: ConfigIo = { readTextFile: Deno.readTextFile, getEnv: fakeEnv() };
    const options = await loadOptions({ path, explicit: true }, io);
    assert.equal(options.authorities[0].issuer, "https://authority.test");

    const missing = join(dir, "missing.yaml");
    await assertConfigErrorAsync(
      loadOptions({ path: missing, explicit: false }, io),
      "RegistryTokenService:Authority:Issuer",
      /is required/,
    );
    await assertConfigErrorAsync(
      loadOptions({ path: missing, explicit: true }, io),
      missing,
      /cannot read config file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadOptions keeps YAML scalars as written, so number-like licences stay revoked", async () => {
  const { io } = fakeIo({
    "/etc/rt.yaml": `${VALID_YAML}
  RevokedLicenses: [lic-0001, 000123, 4711e2, 0x1F, 1.50]
  Plans:
    - Name: 2024
      Repositories: [{ Pattern: "1.10", Actions: [pull] }]
  DefaultPlan: 2024
  Server: { Port: 8443 }
  PartialGrants: true
  Registry: { AllowedServices: ~, Realm: }
`,
  });
  const options = await loadOptions({ path: "/etc/rt.yaml", explicit: true }, io);
  assert.deepEqual([...options.policy.revokedLicenses], [
    "lic-0001",
    "000123",
    "4711e2",
    "0x1F",
    "1.50",
  ]);
  assert.deepEqual([...options.policy.plans.keys()], ["2024"]);
  assert.equal(options.policy.plans.get("2024")!.rules[0].pattern.source, "1.10");
  assert.equal(options.server.port, 8443);
  assert.equal(options.policy.partialGrants, true);
  assert.equal(options.realm, undefined, "an empty value means not set");
  assert.equal(options.policy.allowedServices.size, 0, "~ means not set");
});
