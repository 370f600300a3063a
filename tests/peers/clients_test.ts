import assert from "node:assert/strict";
import { createTestAuthority } from "../support/authority.ts";
import {
  ctrPull,
  ctrPush,
  docker,
  dockerCredentials,
  startContainerd,
  startDockerd,
} from "../support/engines.ts";
import {
  buildah,
  callerCreds,
  type PeerResult,
  podman,
  type RequestRecord,
  skopeo,
  startRegistry,
  startTokenStack,
  writeOciImage,
} from "../support/peers.ts";
import { serviceRateLimitAnswer, startReplayRealm } from "../support/rate_limited_realm.ts";
import { type ClientName, MESSAGES, OBSERVED, type Situation } from "../support/client_messages.ts";
import { fixture } from "../support/service.ts";

const authority = await createTestAuthority("https://authority.test");
const SERVICE = "registry.peer-test";
const ISSUER = "registry-token-peer-test";
const BUNDLE = fixture("keys/rsa.cert.pem");

/** Caller credentials (`user:token`) for each identity the tests use. */
async function identities() {
  const now = Math.floor(Date.now() / 1000);
  return {
    admin: await callerCreds(authority, { "stellaops:plan": "admin" }),
    ci: await callerCreds(authority, { "stellaops:plan": "ci" }),
    reader: await callerCreds(authority, {}),
    revoked: await callerCreds(authority, {
      "stellaops:plan": "admin",
      "stellaops:license": "lic-revoked",
    }),
    expired: `oauth2accesstoken:${await authority.token({ claims: { exp: now - 3600 } })}`,
  };
}

/**
 * One service process, one distribution 2.8 registry trusting it, a second registry whose realm
 * answers as the service answers a rate-limited client, one containerd and one dockerd on it.
 */
async function startClientStack() {
  const stack = await startTokenStack({
    authority,
    issuer: ISSUER,
    service: SERVICE,
    signing: { KeyPath: fixture("keys/rsa.key-and-cert.pem") },
    bundle: BUNDLE,
    patch: {
      Plans: [
        { Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] },
        { Name: "reader", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
        { Name: "admin", Repositories: [{ Pattern: "*", Actions: ["*"] }] },
      ],
      DefaultPlan: "reader",
      RevokedLicenses: ["lic-revoked"],
    },
  });
  const stops: (() => Promise<void>)[] = [() => stack.stop()];
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne();
  };
  try {
    const replay = await startReplayRealm(await serviceRateLimitAnswer(authority));
    stops.push(() => replay.stop());
    const limited = await startRegistry({
      realm: replay.realm,
      service: SERVICE,
      issuer: ISSUER,
      rootCertBundle: BUNDLE,
    });
    stops.push(() => limited.stop());
    const containerd = await startContainerd(`${stack.dir}/containerd`);
    stops.push(() => containerd.stop());
    const dockerd = await startDockerd(`${stack.dir}/docker`, containerd);
    stops.push(() => dockerd.stop());
    return { ...stack, replay, limited, containerd, dockerd, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A running `startClientStack`. */
type ClientStack = Awaited<ReturnType<typeof startClientStack>>;

/** Pull and push as one client does them; `registry` is `host:port`. */
interface Client {
  pull(registry: string, creds: string, repository: string): Promise<PeerResult>;
  push(registry: string, creds: string, repository: string): Promise<PeerResult>;
}

/** The test image in each client's own store, under `source` (`registry/repository:latest`). */
async function prepareClients(
  stack: ClientStack,
  layout: string,
  source: string,
  admin: string,
): Promise<Record<ClientName, Client>> {
  const home = stack.home;
  const dockerConfig = await dockerCredentials(home, admin, [stack.registry.address]);
  const dockerPull = await docker(stack.dockerd, dockerConfig, ["pull", source]);
  assert.ok(dockerPull.success, dockerPull.output);
  const ctrPulled = await ctrPull(stack.containerd, source, "--user", admin);
  assert.ok(ctrPulled.success, ctrPulled.output);
  // podman and buildah share one containers/storage under home (its runroot path must stay short).
  const run = {
    podman: (...args: string[]) => podman(home, args),
    buildah: (...args: string[]) => buildah(home, ...args),
  };
  const local: Record<string, string> = {};
  for (const name of ["podman", "buildah"] as const) {
    const pulled = await run[name]("pull", "-q", `oci:${layout}:latest`);
    assert.ok(pulled.success, pulled.output);
    local[name] = pulled.output.trim().split("\n").at(-1)!;
  }
  const containersClient = (name: "podman" | "buildah"): Client => ({
    pull: (registry, creds, repository) =>
      run[name](
        "pull",
        "--tls-verify=false",
        "--creds",
        creds,
        `docker://${registry}/${repository}`,
      ),
    push: (registry, creds, repository) =>
      run[name](
        ...["push", "--tls-verify=false", "--creds", creds, local[name]],
        `docker://${registry}/${repository}:latest`,
      ),
  });
  let pulls = 0;
  return {
    docker: {
      pull: async (registry, creds, repository) =>
        docker(stack.dockerd, await dockerCredentials(home, creds, [registry]), [
          "pull",
          `${registry}/${repository}:latest`,
        ]),
      push: async (registry, creds, repository) => {
        const target = `${registry}/${repository}:latest`;
        const tagged = await docker(stack.dockerd, dockerConfig, ["tag", source, target]);
        assert.ok(tagged.success, tagged.output);
        return docker(stack.dockerd, await dockerCredentials(home, creds, [registry]), [
          "push",
          target,
        ]);
      },
    },
    ctr: {
      pull: (registry, creds, repository) =>
        ctrPull(stack.containerd, `${registry}/${repository}:latest`, "--user", creds),
      push: (registry, creds, repository) =>
        ctrPush(stack.containerd, creds, `${registry}/${repository}:latest`, source),
    },
    podman: containersClient("podman"),
    buildah: containersClient("buildah"),
    skopeo: {
      pull: (registry, creds, repository) =>
        skopeo(
          home,
          ...["copy", "--src-tls-verify=false", "--src-creds", creds],
          `docker://${registry}/${repository}:latest`,
          `oci:${home}/skopeo-pulled-${++pulls}:latest`,
        ),
      push: (registry, creds, repository) =>
        skopeo(
          home,
          ...["copy", "--dest-tls-verify=false", "--dest-creds", creds],
          `oci:${layout}:latest`,
          `docker://${registry}/${repository}:latest`,
        ),
    },
  };
}

/** The secret of `user:secret` credentials. */
function secretOf(creds: string): string {
  return creds.slice(creds.indexOf(":") + 1);
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

/** `docker login` to the registry with `creds`' secret on stdin, into a fresh config dir. */
async function dockerLogin(stack: ClientStack, creds: string): Promise<PeerResult> {
  const config = await Deno.makeTempDir({ dir: stack.home });
  return docker(stack.dockerd, config, [
    ...["login", "--username", "oauth2accesstoken", "--password-stdin", stack.registry.address],
  ], `${secretOf(creds)}\n`);
}

Deno.test("docker, ctr, podman, buildah and skopeo against one registry and one dockerd", async (t) => {
  const stack = await startClientStack();
  try {
    const who = await identities();
    const { layout, manifestDigest } = await writeOciImage(stack.dir);
    const seeded = await stack.push(who.admin, layout, "team/app");
    assert.ok(seeded.success, seeded.output);
    // Another image in a repository that the ci plan may not pull, for cross-repository mounts.
    const lib = await writeOciImage(await Deno.makeTempDir({ dir: stack.dir }), "base layer\n");
    const seededBase = await stack.push(who.admin, lib.layout, "lib/base");
    assert.ok(seededBase.success, seededBase.output);
    const main = stack.registry.address;
    const source = `${main}/team/app:latest`;
    const clients = await prepareClients(stack, layout, source, who.admin);

    for (const [name, client] of Object.entries(clients)) {
      await t.step(`${name} pushes and pulls where the plan allows it`, async () => {
        const pushed = await client.push(main, who.ci, `team/${name}-pushed`);
        assert.ok(pushed.success, `push: ${pushed.output}\nregistry: ${stack.registry.log()}`);
        const pulled = await client.pull(main, who.ci, `team/${name}-pushed`);
        assert.ok(pulled.success, `pull: ${pulled.output}`);
      });
    }

    await t.step("docker login sends no scope and is answered with a token", async () => {
      const from = await stack.requestCount();
      const login = await dockerLogin(stack, who.ci);
      assert.ok(login.success, login.output);
      assert.match(login.output, /Login Succeeded/);
      const [issued] = await stack.requestsSince(from);
      assert.equal(issued?.status, 200, JSON.stringify(issued));
      assert.deepEqual(issued.requested, []);
    });

    await t.step(
      "docker login refuses an expired caller token and a revoked licence with the service's message",
      async () => {
        for (
          const [creds, shown] of [
            [who.expired, `unauthorized: ${MESSAGES["expired caller token"]}`],
            [who.revoked, `denied: ${MESSAGES["revoked licence"]}`],
          ]
        ) {
          const login = await dockerLogin(stack, creds);
          assert.ok(!login.success, login.output);
          assert.ok(login.output.includes(shown), login.output);
        }
      },
    );

    await t.step(
      "docker pulls the pushed image and pushes it on by mounting its layer",
      async () => {
        const config = await dockerCredentials(stack.home, who.ci, [main]);
        const pulled = await docker(stack.dockerd, config, ["pull", source]);
        assert.ok(pulled.success, pulled.output);
        assert.ok(pulled.output.includes(`Digest: ${manifestDigest}`), pulled.output);
        const target = `${main}/team/docker-mounted:latest`;
        const tagged = await docker(stack.dockerd, config, ["tag", source, target]);
        assert.ok(tagged.success, tagged.output);
        const from = await stack.requestCount();
        const pushed = await docker(stack.dockerd, config, ["push", target]);
        assert.ok(pushed.success, pushed.output);
        assert.match(pushed.output, /Mounted from team\//);
        const mountingPush = (record: RequestRecord) =>
          record.status === 200 &&
          record.requested?.includes("repository:team/docker-mounted:push,pull");
        assert.ok(
          (await stack.requestsSince(from, mountingPush)).some(mountingPush),
          "docker's push token for team/docker-mounted was granted",
        );
      },
    );

    await t.step(
      "docker uploads the layer when the mount's source is not the pusher's to pull",
      async () => {
        const admin = await dockerCredentials(stack.home, who.admin, [main]);
        const pulled = await docker(stack.dockerd, admin, ["pull", `${main}/lib/base:latest`]);
        assert.ok(pulled.success, pulled.output);
        const target = `${main}/team/from-base:latest`;
        const tagged = await docker(stack.dockerd, admin, [
          "tag",
          `${main}/lib/base:latest`,
          target,
        ]);
        assert.ok(tagged.success, tagged.output);
        const from = await stack.requestCount();
        const ci = await dockerCredentials(stack.home, who.ci, [main]);
        const pushed = await docker(stack.dockerd, ci, ["push", target]);
        assert.ok(pushed.success, pushed.output);
        assert.match(pushed.output, /: Pushed/);
        const mountOf = (record: RequestRecord) =>
          record.requested?.includes("repository:lib/base:pull");
        const mount = (await stack.requestsSince(from, mountOf)).find(mountOf);
        assert.equal(mount?.status, 403, "docker asked to mount from lib/base and was refused");
        assert.equal(mount.reason, "access_denied");
      },
    );

    for (
      const [grant, credentials] of [
        ["password", ["--user", who.ci]],
        ["refresh_token", ["--refresh", secretOf(who.ci)]],
      ]
    ) {
      await t.step(
        `ctr ${credentials[0]} fetches its tokens by the OAuth2 ${grant} grant`,
        async () => {
          const from = await stack.requestCount();
          const pulled = await ctrPull(stack.containerd, source, "--http-dump", ...credentials);
          assert.ok(pulled.success, pulled.output);
          assert.ok(pulled.output.includes(`grant_type=${grant}&`), pulled.output);
          const records = await stack.requestsSince(from);
          assert.ok(records.length > 0, "ctr asked the service for a token");
          for (const record of records) {
            assert.deepEqual([record.method, record.status], ["POST", 200], JSON.stringify(record));
          }
        },
      );
    }

    await t.step("ctr tries GET with Basic credentials after a refused POST", async () => {
      const from = await stack.requestCount();
      const pulled = await clients.ctr.pull(main, who.expired, "team/app");
      assert.ok(!pulled.success, pulled.output);
      assert.deepEqual(
        (await stack.requestsSince(from, (record) => record.method === "GET"))
          .map((record) => [record.method, record.status, record.reason]),
        [["POST", 401, "token_expired"], ["GET", 401, "token_expired"]],
      );
    });

    const situations = {
      "plan refusal": { op: "push", creds: who.reader, registry: main, reason: "access_denied" },
      "revoked licence": {
        op: "pull",
        creds: who.revoked,
        registry: main,
        reason: "license_revoked",
      },
      "expired caller token": {
        op: "pull",
        creds: who.expired,
        registry: main,
        reason: "token_expired",
      },
      "rate limit": {
        op: "pull",
        creds: who.ci,
        registry: stack.limited.address,
        reason: "rate_limited",
      },
    } as const;
    for (const [name, client] of Object.entries(clients) as [ClientName, Client][]) {
      await t.step(
        `what ${name} shows for a plan refusal, a revoked licence, an expired token and a rate limit`,
        async () => {
          for (
            const [situation, { op, creds, registry, reason }] of Object.entries(situations) as [
              Situation,
              typeof situations[Situation],
            ][]
          ) {
            const from = await stack.requestCount();
            const asked = stack.replay.requests();
            const repository = op === "push" ? "team/refused" : "team/app";
            const result = await client[op](registry, creds, repository);
            const what = `${name}, ${situation}:\n${result.output}`;
            assert.ok(!result.success, what);
            const expected = OBSERVED[name][situation];
            assert.ok(result.output.includes(expected.shows), what);
            assert.equal(occurrences(result.output, MESSAGES[situation]), expected.message, what);
            const refused = reason === "rate_limited"
              ? stack.replay.requests() > asked
              : (await stack.requestsSince(from, (record) => record.reason === reason))
                .some((record) => record.reason === reason);
            assert.ok(refused, `the service (or the replayed 429) refused: ${what}`);
          }
        },
      );
    }
  } finally {
    await stack.stop();
  }
});
