import assert from "node:assert/strict";
import { createTestAuthority } from "../support/authority.ts";
import { exportTrust, localAuthority, writeConfig } from "../support/process.ts";
import {
  callerCreds,
  podmanLogin,
  type RequestRecord,
  startTokenStack,
  writeOciImage,
} from "../support/peers.ts";
import { fixture } from "../support/service.ts";
import { ctrPull, ctrPush, type Daemon, startContainerd } from "../support/engines.ts";

const authority = await createTestAuthority("https://authority.test");
const REGISTRY = "registry.peer-test";
const ISSUER = "registry-token-peer-test";

/** The service (production permissions) plus a distribution 2.8 registry trusting it. */
function startStack(
  keyFile: string,
  patch: Record<string, unknown> = {},
  bundle = fixture("keys/rsa.cert.pem"),
) {
  return startTokenStack({
    authority,
    issuer: ISSUER,
    service: REGISTRY,
    signing: { KeyPath: fixture(`keys/${keyFile}`) },
    bundle,
    patch: {
      Plans: [
        { Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] },
        { Name: "reader", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
        { Name: "admin", Repositories: [{ Pattern: "*", Actions: ["*"] }] },
        { Name: "team", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] },
      ],
      DefaultPlan: "reader",
      ...patch,
    },
  });
}

Deno.test("skopeo pushes, inspects and pulls through distribution 2.8 with x5c-signed tokens", async () => {
  const stack = await startStack("rsa.key-and-cert.pem");
  try {
    const { layout, manifestDigest } = await writeOciImage(stack.dir);
    const creds = await callerCreds(authority, { "stellaops:plan": "ci" });

    const push = await stack.push(creds, layout, "team/app");
    assert.ok(push.success, `push: ${push.output}\nregistry: ${stack.registry.log()}`);

    const inspect = await stack.inspect(creds, "team/app", "--format", "{{.Digest}}");
    assert.ok(inspect.success, inspect.output);
    assert.equal(inspect.output.trim(), manifestDigest);

    const pulled = `${stack.dir}/pulled`;
    const pull = await stack.pull(creds, "team/app", pulled);
    assert.ok(pull.success, pull.output);
    const index = JSON.parse(await Deno.readTextFile(`${pulled}/index.json`));
    assert.equal(index.manifests[0].digest, manifestDigest, "the pulled image is the pushed one");
  } finally {
    await stack.stop();
  }
});

Deno.test("distribution 2.8 trusts a key without certificate through the --export-trust bundle and libtrust kid", async () => {
  const exportDir = await Deno.makeTempDir({ prefix: "registry-token-trust-" });
  try {
    const configPath = await writeConfig({
      RegistryTokenService: {
        Authority: await localAuthority(authority, exportDir),
        Signing: { Issuer: ISSUER, KeyPath: fixture("keys/rsa.pkcs8.pem") },
      },
    }, exportDir);
    const out = `${exportDir}/trust`;
    const exported = await exportTrust(configPath, out);
    assert.equal(exported.code, 0, exported.stderr);

    const stack = await startStack("rsa.pkcs8.pem", {}, `${out}/rootcertbundle.pem`);
    try {
      const { layout } = await writeOciImage(stack.dir);
      const creds = await callerCreds(authority, { "stellaops:plan": "ci" });
      const push = await stack.push(creds, layout, "team/kid-only");
      assert.ok(push.success, `push: ${push.output}\nregistry: ${stack.registry.log()}`);
    } finally {
      await stack.stop();
    }
  } finally {
    await Deno.remove(exportDir, { recursive: true });
  }
});

Deno.test("a plan without push cannot push, and a revoked licence cannot pull", async () => {
  const stack = await startStack("rsa.key-and-cert.pem", { RevokedLicenses: ["lic-revoked"] });
  try {
    const { layout } = await writeOciImage(stack.dir);
    const admin = await callerCreds(authority, { "stellaops:plan": "admin" });
    const seeded = await stack.push(admin, layout, "team/app");
    assert.ok(seeded.success, seeded.output);

    const reader = await callerCreds(authority, {});
    const push = await stack.push(reader, layout, "team/other");
    assert.ok(!push.success, "a reader cannot push");
    assert.ok(stack.refusals().includes("access_denied"), stack.service.stdout.join("\n"));

    const revoked = await callerCreds(authority, {
      "stellaops:plan": "admin",
      "stellaops:license": "lic-revoked",
    });
    const pull = await stack.inspect(revoked, "team/app");
    assert.ok(!pull.success, "a revoked licence cannot pull");
    assert.ok(stack.refusals().includes("license_revoked"));

    const expiredToken = await authority.token({
      claims: { exp: Math.floor(Date.now() / 1000) - 3600 },
    });
    const expired = await stack.inspect(`oauth2accesstoken:${expiredToken}`, "team/app");
    assert.ok(!expired.success);
    assert.match(
      expired.output,
      /the Authority token has expired/,
      "skopeo shows errors[0].message of a 401",
    );
  } finally {
    await stack.stop();
  }
});

Deno.test("skopeo delete, which asks for *, works only where the plan lists *", async () => {
  const stack = await startStack("rsa.key-and-cert.pem");
  try {
    const { layout } = await writeOciImage(stack.dir);
    const ci = await callerCreds(authority, { "stellaops:plan": "ci" });
    const push = await stack.push(ci, layout, "team/app");
    assert.ok(push.success, push.output);

    const refused = await stack.delete(ci, "team/app");
    assert.ok(!refused.success, "pull,push is not *");
    assert.ok(
      stack.requests().some((r) =>
        r.reason === "access_denied" && r.requested?.includes("repository:team/app:*")
      ),
    );

    const admin = await callerCreds(authority, { "stellaops:plan": "admin" });
    const deleted = await stack.delete(admin, "team/app");
    assert.ok(deleted.success, deleted.output);
    const gone = await stack.inspect(admin, "team/app");
    assert.ok(!gone.success, "the manifest is gone after delete");
  } finally {
    await stack.stop();
  }
});

Deno.test("podman login, which sends no scope, succeeds with an Authority token", async () => {
  const stack = await startStack("rsa.key-and-cert.pem");
  try {
    const creds = await callerCreds(authority, {});
    const login = await podmanLogin(
      stack.home,
      stack.registry.address,
      creds.slice(creds.indexOf(":") + 1),
    );
    assert.ok(login.success, login.output);
    assert.match(login.output, /Login Succeeded/);
    const issued = (await stack.requestsSince(0, (record) => record.status === 200))
      .find((record) => record.status === 200);
    assert.ok(issued, "the registry sent podman to the service for a token");
    assert.deepEqual(issued.requested, []);
  } finally {
    await stack.stop();
  }
});

Deno.test("a push that tries a cross-repository mount from an unreadable repository succeeds with skopeo, ctr 1.6 gives it up; PartialGrants grants the intersection", async () => {
  for (const partialGrants of [false, true]) {
    const stack = await startStack("rsa.key-and-cert.pem", { PartialGrants: partialGrants });
    let containerd: Daemon | undefined;
    try {
      const { layout } = await writeOciImage(
        stack.dir,
        `mount source ${partialGrants} ${Date.now()}\n`,
      );
      const admin = await callerCreds(authority, { "stellaops:plan": "admin" });
      const seeded = await stack.push(admin, layout, "lib/base");
      assert.ok(seeded.success, seeded.output);

      // skopeo remembers where the blobs live and asks to mount them from lib/base.
      const team = await callerCreds(authority, { "stellaops:plan": "team" });
      const push = await stack.push(team, layout, "team/app");
      const mountRequest = stack.requests().find((record) =>
        record.requested?.includes("repository:lib/base:pull") && record.subject === "ci-bot" &&
        record.requested?.includes("repository:team/app:pull,push")
      );
      assert.ok(
        mountRequest,
        `skopeo asked for a cross-repository mount: ${stack.service.stdout.join("\n")}`,
      );
      assert.ok(push.success, push.output);
      if (partialGrants) {
        assert.equal(mountRequest.status, 200);
        assert.deepEqual(mountRequest.granted, ["repository:team/app:pull,push"]);
      } else {
        // skopeo 1.9 falls back to uploading the blobs when the mount token is refused.
        assert.equal(mountRequest.status, 403);
        assert.equal(mountRequest.reason, "access_denied");
      }

      // ctr labels pulled blobs with their source repository and asks to mount them from it;
      // refused (403 without PartialGrants, the registry's 401 insufficient_scope with), it
      // does not fall back to an upload.
      containerd = await startContainerd(`${stack.dir}/containerd`);
      const base = `${stack.registry.address}/lib/base:latest`;
      const pulled = await ctrPull(containerd, base, "--user", admin);
      assert.ok(pulled.success, pulled.output);
      const from = await stack.requestCount();
      const ctrPushed = await ctrPush(
        containerd,
        team,
        `${stack.registry.address}/team/ctr:latest`,
        base,
      );
      assert.ok(!ctrPushed.success, ctrPushed.output);
      const mountOf = (record: RequestRecord) =>
        record.requested?.includes("repository:lib/base:pull");
      const ctrMount = (await stack.requestsSince(from, mountOf)).find(mountOf);
      if (partialGrants) {
        assert.deepEqual([ctrMount?.status, ctrMount?.granted], [200, [
          "repository:team/ctr:pull,push",
        ]]);
        assert.match(ctrPushed.output, /server message: insufficient_scope: authorization failed/);
      } else {
        assert.equal(ctrMount?.status, 403);
        assert.match(ctrPushed.output, /failed to fetch oauth token: unexpected status: 403/);
      }
      assert.ok(!(await stack.inspect(admin, "team/ctr")).success, "ctr pushed nothing");
    } finally {
      await containerd?.stop();
      await stack.stop();
    }
  }
});
