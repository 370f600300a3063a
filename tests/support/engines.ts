/**
 * Real container engines and the clients that use them, each with its files under a temp dir:
 * Debian's `containerd` (1.6) in the foreground with `ctr`, Debian's `dockerd` (docker.io 20.10)
 * in the foreground on that containerd with its `docker` CLI. A peer that cannot start fails the
 * test with its output; nothing is skipped.
 *
 * @module
 */

import { type PeerProcess, type PeerResult, runPeer, startPeer } from "./peers.ts";

/**
 * Debian docker.io's client, the one that goes with its dockerd (the machine may have another
 * `docker` earlier on PATH).
 */
export const DOCKER = "/usr/bin/docker";

/** The namespace the tests' ctr commands use in their containerd. */
const CTR_NAMESPACE = "registry-token-tests";

/** A daemon listening on a unix socket. */
export interface Daemon extends PeerProcess {
  readonly socket: string;
}

/**
 * Starts `containerd` in the foreground with its root, state, sockets and config under `dir`
 * (CRI off: no Kubernetes here).
 */
export async function startContainerd(dir: string): Promise<Daemon> {
  await Deno.mkdir(dir, { recursive: true });
  const socket = `${dir}/containerd.sock`;
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`,
  );
  const daemon = await startPeer(
    "containerd",
    ["--config", `${dir}/config.toml`],
    (log) => log.includes("containerd successfully booted"),
  );
  return { ...daemon, socket };
}

/**
 * Starts `dockerd` in the foreground on `containerd`, with its data, exec root, pid file, socket,
 * daemon.json and identity key (otherwise `/etc/docker/key.json`) under `dir`: vfs storage, no
 * iptables, no bridge. Loopback registries (127.0.0.0/8) may be plain HTTP by dockerd's default.
 */
export async function startDockerd(dir: string, containerd: Daemon): Promise<Daemon> {
  await Deno.mkdir(dir, { recursive: true });
  const socket = `${dir}/docker.sock`;
  await Deno.writeTextFile(
    `${dir}/daemon.json`,
    JSON.stringify({ "deprecated-key-path": `${dir}/key.json` }),
  );
  const daemon = await startPeer("dockerd", [
    ...["--storage-driver=vfs", "--iptables=false", "--ip6tables=false", "--bridge=none"],
    ...["--data-root", `${dir}/data`, "--exec-root", `${dir}/exec`, "--pidfile", `${dir}/pid`],
    ...["--host", `unix://${socket}`, "--containerd", containerd.socket],
    ...["--config-file", `${dir}/daemon.json`],
  ], (log) => log.includes("API listen on")).catch(async (error) => {
    await unmountDataRoot(dir);
    throw error;
  });
  return {
    ...daemon,
    socket,
    async stop() {
      await daemon.stop();
      await unmountDataRoot(dir);
    },
  };
}

/**
 * dockerd mounts its data root over itself and unmounts it when it shuts down cleanly; after
 * any other end the mount would keep the temp dir from being removed.
 */
async function unmountDataRoot(dir: string): Promise<void> {
  const mounts = await Deno.readTextFile("/proc/self/mountinfo");
  const dataRoot = `${dir}/data`;
  if (!mounts.split("\n").some((line) => line.split(" ")[4] === dataRoot)) return;
  const unmounted = await runPeer("umount", [dataRoot]);
  if (!unmounted.success) throw new Error(`umount ${dataRoot}: ${unmounted.output}`);
}

/**
 * Runs the docker CLI against `dockerd` with its own config dir `config` (where `docker login`
 * keeps credentials); `input` goes to its stdin.
 */
export function docker(
  dockerd: Daemon,
  config: string,
  args: string[],
  input?: string,
): Promise<PeerResult> {
  return runPeer(DOCKER, ["--config", config, "--host", `unix://${dockerd.socket}`, ...args], {
    DOCKER_CLI_HINTS: "false",
  }, input);
}

/**
 * Writes a docker config dir holding `creds` (`user:password`) for `registries`, as
 * `docker login` stores them, and returns its path: the credentials a user logged in with
 * before they were refused (a login checks them at once).
 */
export async function dockerCredentials(
  dir: string,
  creds: string,
  registries: readonly string[],
): Promise<string> {
  const config = await Deno.makeTempDir({ dir, prefix: "docker-config-" });
  const auths = Object.fromEntries(registries.map((registry) => [registry, { auth: btoa(creds) }]));
  await Deno.writeTextFile(`${config}/config.json`, JSON.stringify({ auths }));
  return config;
}

/** Runs `ctr` against `containerd`, in the tests' namespace. */
export function ctr(containerd: Daemon, ...args: string[]): Promise<PeerResult> {
  return runPeer("ctr", ["--address", containerd.socket, "--namespace", CTR_NAMESPACE, ...args]);
}

/**
 * `ctr images pull` of `reference` over plain HTTP, unpacked to the native snapshotter;
 * `options` such as `--user USER:SECRET`, `--refresh TOKEN`, `--http-dump`.
 */
export function ctrPull(
  containerd: Daemon,
  reference: string,
  ...options: string[]
): Promise<PeerResult> {
  return ctr(
    containerd,
    ...["images", "pull", "--plain-http", "--snapshotter", "native", ...options, reference],
  );
}

/** `ctr images push` of the local image `local` to `reference` over plain HTTP as `creds`. */
export function ctrPush(
  containerd: Daemon,
  creds: string,
  reference: string,
  local: string,
): Promise<PeerResult> {
  return ctr(containerd, "images", "push", "--plain-http", "--user", creds, reference, local);
}
