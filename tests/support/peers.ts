/**
 * Real third-party peers for end-to-end tests: Debian's `docker-registry` (distribution 2.8)
 * run in the foreground, `skopeo`, `podman`, and a hand-made OCI image. A missing peer fails
 * the test loudly; it is never skipped.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeHex } from "../../src/encoding.ts";
import type { TestAuthority } from "./authority.ts";
import { localAuthority, spawnService, writeConfig } from "./process.ts";

/** Throws a clear error unless `command` is on PATH. */
export async function requirePeer(command: string): Promise<void> {
  const found = await new Deno.Command("sh", {
    args: ["-c", `command -v ${command}`],
    stdout: "null",
  })
    .output();
  if (!found.success) {
    throw new Error(
      `${command} is required for the real-peer tests but is not installed (.ci/run installs it with apt-get)`,
    );
  }
}

/** A port that was free a moment ago, on loopback. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A distribution registry process. */
export interface RegistryProcess {
  readonly address: string;
  readonly log: () => string;
  stop(): Promise<void>;
}

/** What the registry's `auth.token` section says. */
export interface RegistryTokenAuth {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootCertBundle: string;
}

/** Starts `docker-registry serve` in the foreground with token auth, on a loopback port. */
export async function startRegistry(auth: RegistryTokenAuth): Promise<RegistryProcess> {
  await requirePeer("docker-registry");
  const dir = await Deno.makeTempDir({ prefix: "registry-peer-" });
  const port = freePort();
  const config = `version: 0.1
log: { level: info }
storage:
  filesystem: { rootdirectory: ${dir}/data }
  delete: { enabled: true }
http: { addr: 127.0.0.1:${port} }
auth:
  token:
    realm: ${auth.realm}
    service: ${auth.service}
    issuer: ${auth.issuer}
    rootcertbundle: ${auth.rootCertBundle}
`;
  await Deno.writeTextFile(`${dir}/config.yml`, config);
  const child = new Deno.Command("docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output.push(decoder.decode(chunk));
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((status) => (exited = true, status));
  const address = `127.0.0.1:${port}`;
  for (let attempt = 0;; attempt++) {
    try {
      const response = await fetch(`http://${address}/v2/`);
      await response.body?.cancel();
      if (response.status === 401) break;
    } catch { /* not listening yet */ }
    // A registry that refused its configuration has already said why.
    if (exited || attempt > 100) {
      if (!exited) child.kill();
      await Promise.all([status, drained]);
      await Deno.remove(dir, { recursive: true });
      throw new Error(`docker-registry did not start: ${output.join("")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    address,
    log: () => output.join(""),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drained;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Result of a peer command. */
export interface PeerResult {
  readonly success: boolean;
  readonly output: string;
}

/** Runs `skopeo` with its own HOME and temp dir so tests leave nothing behind. */
export async function skopeo(home: string, ...args: string[]): Promise<PeerResult> {
  await requirePeer("skopeo");
  const { success, stdout, stderr } = await new Deno.Command("skopeo", {
    args,
    env: { HOME: home, TMPDIR: home, XDG_RUNTIME_DIR: home },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { success, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** `podman login` with the password on stdin, its own storage and auth file under `home`. */
export async function podmanLogin(
  home: string,
  registry: string,
  password: string,
): Promise<PeerResult> {
  await requirePeer("podman");
  const child = new Deno.Command("podman", {
    args: [
      ...["--root", `${home}/storage`, "--runroot", `${home}/run`, "--storage-driver", "vfs"],
      ...["login", "--tls-verify=false", "--authfile", `${home}/auth.json`],
      ...["--username", "oauth2accesstoken", "--password-stdin", registry],
    ],
    env: { HOME: home, TMPDIR: home, XDG_RUNTIME_DIR: home },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${password}\n`));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { success, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** Caller credentials (`user:password`) for a service process, which uses the real clock. */
export async function callerCreds(
  authority: TestAuthority,
  claims: Record<string, unknown>,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const token = await authority.token({ claims: { iat: now, exp: now + 600, ...claims } });
  return `oauth2accesstoken:${token}`;
}

/** What `startTokenStack` runs. */
export interface TokenStackOptions {
  /** The Authority whose JWKS the service trusts. */
  readonly authority: TestAuthority;
  /** The issuer of registry tokens, which the registry expects. */
  readonly issuer: string;
  /** The registry's service name. */
  readonly service: string;
  /** The service's Signing section, besides its Issuer. */
  readonly signing: Record<string, unknown>;
  /** The registry's `rootcertbundle`. */
  readonly bundle: string;
  /**
   * Top-level sections replacing the defaults: a loopback server on a free port, and the plan
   * `ci` (pull and push on `team/*`) for everyone.
   */
  readonly patch?: Record<string, unknown>;
}

/** A running `startTokenStack`. */
export type TokenStack = Awaited<ReturnType<typeof startTokenStack>>;

/**
 * The service as a process under its production permissions, plus a distribution 2.8 registry
 * trusting it, and skopeo commands against that registry with their own HOME.
 */
export async function startTokenStack(options: TokenStackOptions) {
  await requirePeer("skopeo");
  const dir = await Deno.makeTempDir({ prefix: "registry-token-peer-" });
  const configPath = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 0 },
      Authority: await localAuthority(options.authority, dir),
      Signing: { Issuer: options.issuer, ...options.signing },
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] }],
      DefaultPlan: "ci",
      ...options.patch,
    },
  }, dir);
  const service = await spawnService(configPath);
  const { port } = await service.waitForLog("listening");
  const realm = `http://127.0.0.1:${port}/token`;
  const registry = await startRegistry({
    realm,
    service: options.service,
    issuer: options.issuer,
    rootCertBundle: options.bundle,
  });
  const home = `${dir}/home`;
  await Deno.mkdir(home);
  const image = (repository: string) => `docker://${registry.address}/${repository}:latest`;
  const records = () => service.stdout.map((line) => JSON.parse(line));
  return {
    dir,
    home,
    realm,
    registry,
    service,
    /** The service's request log records. */
    requests: () => records().filter((record) => record.msg === "request"),
    /** Reasons the service logged for refused requests. */
    refusals: () => records().filter((record) => record.reason).map((record) => record.reason),
    /** `skopeo copy` of the OCI layout's `latest` to `repository:latest` in the registry. */
    push: (creds: string, layout: string, repository: string) =>
      skopeo(
        home,
        ...["copy", "--dest-tls-verify=false", "--dest-creds", creds],
        ...[`oci:${layout}:latest`, image(repository)],
      ),
    /** `skopeo inspect` of `repository:latest`; `extra` options go before the image. */
    inspect: (creds: string, repository: string, ...extra: string[]) =>
      skopeo(home, "inspect", "--tls-verify=false", "--creds", creds, ...extra, image(repository)),
    /** `skopeo copy` of `repository:latest` to an OCI layout at `destination`. */
    pull: (creds: string, repository: string, destination: string) =>
      skopeo(
        home,
        ...["copy", "--src-tls-verify=false", "--src-creds", creds],
        ...[image(repository), `oci:${destination}:latest`],
      ),
    /** `skopeo delete` of `repository:latest`. */
    delete: (creds: string, repository: string) =>
      skopeo(home, "delete", "--tls-verify=false", "--creds", creds, image(repository)),
    /** Stops the registry and the service, which must exit cleanly, and removes `dir`. */
    async stop() {
      await registry.stop();
      assert.equal((await service.stop()).code, 0);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Writes a one-layer OCI image layout (tag `latest`) under `dir` and returns its path. */
export async function writeOciImage(dir: string, content = "hello from registry-token tests\n") {
  const layout = `${dir}/oci`;
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  const blob = async (bytes: Uint8Array<ArrayBuffer>) => {
    const digest = await sha256(bytes);
    await Deno.writeFile(`${layout}/blobs/sha256/${digest}`, bytes);
    return { digest: `sha256:${digest}`, size: bytes.length };
  };
  const tar = tarWithOneFile("hello.txt", new TextEncoder().encode(content));
  const layer = await blob(await gzip(tar));
  const config = await blob(json({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [`sha256:${await sha256(tar)}`] },
    config: {},
  }));
  const manifest = await blob(json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
  }));
  await Deno.writeTextFile(`${layout}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeFile(
    `${layout}/index.json`,
    json({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": "latest" },
      }],
    }),
  );
  return { layout, manifestDigest: manifest.digest };
}

function json(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify(value));
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return encodeHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A POSIX ustar archive holding one regular file. */
function tarWithOneFile(name: string, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const header = new Uint8Array(512);
  const put = (text: string, offset: number) => header.set(new TextEncoder().encode(text), offset);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0") + "\0";
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(content.length, 12), 124);
  put(octal(0, 12), 136);
  put("        ", 148);
  put("0", 156);
  put("ustar\0", 257);
  put("00", 263);
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  put(`${checksum.toString(8).padStart(6, "0")}\0 `, 148);
  const padded = Math.ceil(content.length / 512) * 512;
  const archive = new Uint8Array(512 + padded + 1024);
  archive.set(header, 0);
  archive.set(content, 512);
  return archive;
}
