import assert from "node:assert/strict";
import { fixture } from "../support/service.ts";
import { productionFlags, writeConfig } from "../support/process.ts";

/** A build-time config whose Authority keys come from discovery (so net includes its host). */
async function buildConfig() {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-build-" });
  const path = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "0.0.0.0", Port: 5001 },
      Authority: { Issuer: "https://authority.example.internal" },
      Signing: { Issuer: "registry-token", KeyPath: fixture("keys/rsa.pkcs8.pem") },
    },
  }, dir);
  return { dir, path };
}

async function compileTask(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile", ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** The `"permissions":{…}` object `deno compile` embeds in the binary's metadata. */
function bakedPermissions(binary: Uint8Array): Record<string, unknown> {
  const text = new TextDecoder("latin1").decode(binary);
  const start = text.indexOf("{", text.indexOf('"permissions":{'));
  let depth = 0;
  for (let end = start; end < text.length; end++) {
    if (text[end] === "{") depth++;
    if (text[end] === "}" && --depth === 0) return JSON.parse(text.slice(start, end + 1));
  }
  throw new Error("no permissions in the binary's metadata");
}

Deno.test("deno task compile bakes exactly the permission set the service runs with", async () => {
  const { dir, path } = await buildConfig();
  const printed = await compileTask(["--config", path, "--print"]);
  assert.equal(printed.code, 0, printed.stderr);
  const command = printed.stdout.trim().split(" ");
  const flags = command.slice(command.indexOf("--output") + 2, -1);
  assert.deepEqual(flags, await productionFlags(path));
  assert.deepEqual(command.slice(0, 4), ["deno", "compile", "--frozen", "--exclude-unused-npm"]);
  assert.ok(command.at(-1)!.endsWith("src/main.ts"));

  // With any ELF standing in for denort, deno compile runs offline and writes the metadata a
  // real binary would get; the stand-in itself cannot run the service.
  const standIn = `${dir}/denort`;
  await Deno.copyFile("/usr/bin/true", standIn);
  const output = `${dir}/registry-token-service`;
  const built = await compileTask(["--config", path, "--output", output], { DENORT_BIN: standIn });
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stderr, /using the denort base binary at /);
  const baked = bakedPermissions(await Deno.readFile(output));
  assert.deepEqual(
    {
      allow_read: baked.allow_read,
      allow_env: baked.allow_env,
      ignore_env: baked.ignore_env,
      allow_net: baked.allow_net,
      deny_import: baked.deny_import,
      allow_write: baked.allow_write,
      allow_run: baked.allow_run,
      allow_ffi: baked.allow_ffi,
      allow_sys: baked.allow_sys,
      prompt: baked.prompt,
    },
    {
      allow_read: [dir, fixture("keys")],
      allow_env: ["REGISTRY_TOKEN_*"],
      ignore_env: [
        "LOG_TOKENS",
        "LOG_STREAM",
        "REDIS_DEBUG_MAINTENANCE",
        "REDIS_EMIT_DIAGNOSTICS",
        "OTEL_*",
      ],
      // The listen address, the loopback address the accept watchdog checks, the Authority.
      allow_net: ["0.0.0.0:5001", "127.0.0.1:5001", "authority.example.internal:443"],
      deny_import: [
        "jsr.io:443",
        "deno.land:443",
        "esm.sh:443",
        "raw.esm.sh:443",
        "cdn.jsdelivr.net:443",
        "raw.githubusercontent.com:443",
        "gist.githubusercontent.com:443",
      ],
      allow_write: null,
      allow_run: null,
      allow_ffi: null,
      allow_sys: null,
      prompt: false,
    },
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task compile stops with one line when DENORT_BIN names a missing file", async () => {
  const { dir, path } = await buildConfig();
  const result = await compileTask(["--config", path], { DENORT_BIN: `${dir}/no-such-denort` });
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /build error: DENORT_BIN points to .*no-such-denort, which does not exist/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task compile reports an invalid build-time config in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-build-" });
  const path = await writeConfig({ RegistryTokenService: { Signing: { Lifetime: "2h" } } }, dir);
  const result = await compileTask(["--config", path, "--print"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /config error: RegistryTokenService:/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("with Server:Workers above 1 the binary may run exactly itself, at its install path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-token-build-" });
  const path = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "0.0.0.0", Port: 5001, Workers: 2 },
      Authority: { Issuer: "https://authority.example.internal" },
      Signing: { Issuer: "registry-token", KeyPath: fixture("keys/rsa.pkcs8.pem") },
    },
  }, dir);
  const printed = await compileTask(["--config", path, "--print"]);
  assert.equal(printed.code, 0, printed.stderr);
  const command = printed.stdout.trim().split(" ");
  const flags = command.slice(command.indexOf("--output") + 2, -1);
  assert.deepEqual(flags, [
    ...await productionFlags(path),
    "--allow-run=/usr/local/bin/registry-token-service",
  ]);
  const standIn = `${dir}/denort`;
  await Deno.copyFile("/usr/bin/true", standIn);
  const output = `${dir}/registry-token-service`;
  const built = await compileTask(
    ["--config", path, "--output", output, "--install-path", "/opt/rts/registry-token-service"],
    { DENORT_BIN: standIn },
  );
  assert.equal(built.code, 0, built.stderr);
  const baked = bakedPermissions(await Deno.readFile(output));
  assert.deepEqual(baked.allow_run, ["/opt/rts/registry-token-service"]);
  assert.equal(baked.allow_write, null);
  await Deno.remove(dir, { recursive: true });
});
