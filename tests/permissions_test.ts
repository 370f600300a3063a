import assert from "node:assert/strict";
import { doctorFlags, policyCheckFlags, runtimeFlags } from "../src/permissions.ts";
import { createTestAuthority } from "./support/authority.ts";
import { testOptions } from "./support/service.ts";

const authority = await createTestAuthority();

function readFlag(flags: string[]): string {
  return flags.find((flag) => flag.startsWith("--allow-read="))!;
}

Deno.test("read permission covers the absolute directories of the configured files", () => {
  const options = testOptions(authority, {
    Authority: { Issuer: authority.issuer, JwksPath: "/etc/registry-token/authority-jwks.json" },
    Signing: { Issuer: "x", KeyPath: "relative/keys/signing.pem" },
  });
  const flags = runtimeFlags(options, "/etc/registry-token/registry-token.yaml");
  assert.equal(
    readFlag(flags),
    `--allow-read=/etc/registry-token,${Deno.cwd()}/relative/keys`,
  );
});

Deno.test("a file in the root directory is refused rather than opening the whole file system", () => {
  const options = testOptions(authority, { Signing: { Issuer: "x", KeyPath: "/signing.pem" } });
  assert.throws(() => runtimeFlags(options, undefined), /root directory/);
});

Deno.test("a host name with a comma cannot widen the network permission", () => {
  const options = testOptions(authority, {
    Authority: { Issuer: "https://auth,evil.example" },
  });
  assert.throws(() => runtimeFlags(options, undefined), /contains a comma/);
});

Deno.test("net permission names the host of every remote Authority, and reads every JWKS file", () => {
  const options = testOptions(authority, {
    Authority: undefined,
    Authorities: [
      { Name: "stellaops", Issuer: "https://authority.example" },
      { Name: "ci", Issuer: "https://ci.example", JwksUri: "https://keys.ci.example:8443/jwks" },
      {
        Name: "k8s",
        Issuer: "https://kubernetes.default.svc",
        MetadataAddress: "http://10.0.0.1:6443/.well-known/openid-configuration",
      },
      { Name: "offline", Issuer: "offline", JwksPath: "/etc/registry-token/offline/jwks.json" },
      { Name: "airgap", Issuer: "airgap", JwksPath: "/srv/airgap/jwks.json" },
    ],
  });
  const flags = runtimeFlags(options, "/etc/registry-token/registry-token.yaml");
  const net = flags.find((flag) => flag.startsWith("--allow-net="))!.split("=")[1].split(",");
  assert.deepEqual(net.slice(2), [
    "authority.example:443",
    "keys.ci.example:8443",
    "10.0.0.1:6443",
    "kubernetes.default.svc:443",
  ]);
  assert.ok(
    readFlag(flags).includes("/etc/registry-token/offline") &&
      readFlag(flags).includes("/srv/airgap"),
    readFlag(flags),
  );
});

Deno.test("the runtime permissions reach the OTLP Collector's host:port only, and read its headers file", () => {
  const options = testOptions(authority, {
    Signing: { Issuer: "x", KeyPath: "/etc/registry-token/signing.pem" },
    Telemetry: {
      OtlpEndpoint: "https://collector.internal:4318/v1/metrics",
      OtlpHeadersPath: "/etc/registry-token/otlp/headers",
    },
  });
  const flags = runtimeFlags(options, "/etc/registry-token/registry-token.yaml");
  const net = flags.find((flag) => flag.startsWith("--allow-net="))!.split("=")[1].split(",");
  assert.deepEqual(net.slice(2), ["collector.internal:4318"]);
  assert.ok(readFlag(flags).includes("/etc/registry-token/otlp"), readFlag(flags));
  assert.ok(flags.some((flag) => flag.startsWith("--ignore-env=") && flag.includes("OTEL_*")));
});

Deno.test("--explain and --test-policy may read their input files but reach no network", () => {
  const options = testOptions(authority, {
    Authority: { Issuer: "https://authority.example", JwksUri: "https://keys.example/jwks" },
    Signing: { Issuer: "x", KeyPath: "/etc/registry-token/signing.pem" },
  });
  const flags = policyCheckFlags(options, "/etc/registry-token/registry-token.yaml", [
    "cases/policy.yaml",
  ]);
  assert.equal(readFlag(flags), `--allow-read=/etc/registry-token,${Deno.cwd()}/cases`);
  assert.ok(!flags.some((flag) => flag.startsWith("--allow-net")), flags.join(" "));
  const serving = runtimeFlags(options, undefined).find((flag) => flag.startsWith("--allow-net="));
  assert.ok(
    serving?.includes("keys.example:443"),
    "serving reaches the Authority; checking does not",
  );
});

Deno.test("--doctor reaches only the registry and this service's own hosts, and writes nothing", () => {
  const options = testOptions(authority, {
    Server: { Host: "0.0.0.0", Port: 8443, PublicBaseUrl: "https://tokens.example" },
    Authority: { Issuer: "https://authority.example", JwksUri: "https://keys.example/jwks" },
    Signing: { Issuer: "x", KeyPath: "/etc/registry-token/signing.pem" },
    Registry: { Realm: "https://auth.example/registry/token" },
  });
  const flags = doctorFlags(options, "/etc/registry-token/registry-token.yaml", "http://reg:5000/");
  assert.equal(readFlag(flags), "--allow-read=/etc/registry-token");
  assert.equal(
    flags.find((flag) => flag.startsWith("--allow-net=")),
    "--allow-net=reg:5000,auth.example:443,tokens.example:443,0.0.0.0:8443,127.0.0.1:8443",
  );
  assert.ok(!flags.some((flag) => /^--allow-(write|run|ffi|sys)/.test(flag)), flags.join(" "));
});
