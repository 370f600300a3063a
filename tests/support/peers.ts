/**
 * Real third-party peers for end-to-end tests: Debian's `docker-registry` (distribution 2.8)
 * run in the foreground, `skopeo`, `podman`, `buildah`, and a hand-made OCI image (the engines,
 * containerd and dockerd, are in `engines.ts`). A missing peer fails the test loudly; it is never
 * skipped.
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

/** How long a peer may take to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;

/** A peer running in the foreground, its output collected. */
export interface PeerProcess {
  /** Everything it printed so far, stdout and stderr interleaved. */
  readonly log: () => string;
  /** Sends SIGTERM (SIGKILL after 10 s) and waits until it has exited and its output is read. */
  stop(): Promise<void>;
}

/**
 * Spawns `command args` in the foreground and waits until `ready` holds (polled every 50 ms). A
 * peer that exits first, or is not ready within `timeoutMs`, fails loudly with its output.
 */
export async function startPeer(
  command: string,
  args: string[],
  ready: (log: string) => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<PeerProcess> {
  await requirePeer(command);
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output.push(chunk);
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exit: Deno.CommandStatus | undefined;
  const status = child.status.then((result) => exit = result);
  const log = () => output.join("");
  const stop = async () => {
    if (!exit) child.kill("SIGTERM");
    const killer = setTimeout(() => exit || child.kill("SIGKILL"), STOP_GRACE_MS);
    await status;
    clearTimeout(killer);
    await drained;
  };
  const deadline = Date.now() + timeoutMs;
  while (!exit && !await ready(log())) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${command} was not ready within ${timeoutMs} ms:\n${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (exit) {
    await drained;
    throw new Error(`${command} exited with ${exit.code} before it was ready:\n${log()}`);
  }
  return { log, stop };
}

/** A distribution registry process. */
export interface RegistryProcess extends PeerProcess {
  readonly address: string;
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
  const address = `127.0.0.1:${port}`;
  const registry = await startPeer("docker-registry", ["serve", `${dir}/config.yml`], async () => {
    try {
      const response = await fetch(`http://${address}/v2/`);
      await response.body?.cancel();
      return response.status === 401;
    } catch {
      return false; // not listening yet
    }
  }).catch(async (error) => {
    await Deno.remove(dir, { recursive: true });
    throw error;
  });
  return {
    address,
    log: registry.log,
    async stop() {
      await registry.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Result of a peer command. */
export interface PeerResult {
  readonly success: boolean;
  readonly output: string;
}

/** Runs a client to completion, `input` on its stdin; a missing client fails loudly. */
export async function runPeer(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<PeerResult> {
  await requirePeer(command);
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const { success, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { success, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** The environment that keeps a containers/image client's files under `home`. */
export function homeEnv(home: string): Record<string, string> {
  return { HOME: home, TMPDIR: home, XDG_RUNTIME_DIR: home };
}

/** Runs `skopeo` with its own HOME and temp dir so tests leave nothing behind. */
export function skopeo(home: string, ...args: string[]): Promise<PeerResult> {
  return runPeer("skopeo", args, homeEnv(home));
}

/**
 * Runs a containers/storage tool (`podman`, `buildah`) with its own storage (vfs) and HOME under
 * `home`; `input` goes to its stdin.
 */
function withStorage(
  command: "podman" | "buildah",
  home: string,
  args: string[],
  input?: string,
): Promise<PeerResult> {
  return runPeer(
    command,
    [
      ...["--root", `${home}/storage`, "--runroot", `${home}/run`, "--storage-driver", "vfs"],
      ...args,
    ],
    homeEnv(home),
    input,
  );
}

/** Runs `podman` with its own storage under `home`; `input` goes to its stdin. */
export function podman(home: string, args: string[], input?: string): Promise<PeerResult> {
  return withStorage("podman", home, args, input);
}

/** Runs `buildah` with its own storage under `home`. */
export function buildah(home: string, ...args: string[]): Promise<PeerResult> {
  return withStorage("buildah", home, args);
}

/** `podman login` with the password on stdin, its own storage and auth file under `home`. */
export function podmanLogin(
  home: string,
  registry: string,
  password: string,
): Promise<PeerResult> {
  return podman(home, [
    ...["login", "--tls-verify=false", "--authfile", `${home}/auth.json`],
    ...["--username", "oauth2accesstoken", "--password-stdin", registry],
  ], `${password}\n`);
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

/** A request record of the service's log (`msg: "request"`). */
// deno-lint-ignore no-explicit-any
export type RequestRecord = Record<string, any>;

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
  const requests = (): RequestRecord[] => records().filter((record) => record.msg === "request");
  /**
   * How many request records the service has logged, once none has come for 50 ms: records of
   * requests answered before the call are counted (the service logs asynchronously).
   */
  const requestCount = async (): Promise<number> => {
    let count = requests().length;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (requests().length === count) return count;
      count = requests().length;
    }
  };
  /** skopeo, then the records of its requests: `requests()` and `refusals()` include them. */
  const logged = async (...args: string[]): Promise<PeerResult> => {
    const result = await skopeo(home, ...args);
    await requestCount();
    return result;
  };
  return {
    dir,
    home,
    realm,
    registry,
    service,
    /** The service's request log records. */
    requests,
    requestCount,
    /**
     * The request records logged after the first `from`, once one of them is `wanted`: the
     * service logs asynchronously, so a record may follow its answer by a moment. After 5 s
     * without one, whatever there is.
     */
    async requestsSince(from: number, wanted: (record: RequestRecord) => boolean = () => true) {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const since: RequestRecord[] = requests().slice(from);
        if (since.some(wanted) || Date.now() > deadline) return since;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    /** Reasons the request log gave for refused requests (audit events repeat them). */
    refusals: () => requests().filter((record) => record.reason).map((record) => record.reason),
    /** `skopeo copy` of the OCI layout's `latest` to `repository:latest` in the registry. */
    push: (creds: string, layout: string, repository: string) =>
      logged(
        ...["copy", "--dest-tls-verify=false", "--dest-creds", creds],
        ...[`oci:${layout}:latest`, image(repository)],
      ),
    /** `skopeo inspect` of `repository:latest`; `extra` options go before the image. */
    inspect: (creds: string, repository: string, ...extra: string[]) =>
      logged("inspect", "--tls-verify=false", "--creds", creds, ...extra, image(repository)),
    /** `skopeo copy` of `repository:latest` to an OCI layout at `destination`. */
    pull: (creds: string, repository: string, destination: string) =>
      logged(
        ...["copy", "--src-tls-verify=false", "--src-creds", creds],
        ...[image(repository), `oci:${destination}:latest`],
      ),
    /** `skopeo delete` of `repository:latest`. */
    delete: (creds: string, repository: string) =>
      logged("delete", "--tls-verify=false", "--creds", creds, image(repository)),
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
