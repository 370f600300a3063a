/**
 * Two real OpenID providers trusted at once by one service process under its production
 * permissions: one shaped like the StellaOps Authority (RS256, `registry.token.issue`,
 * `stellaops:plan`), one like a CI issuer (EdDSA, no scope, `project_path`, `ref` and a `groups`
 * array, its plan from a group mapping). The providers and the process are shared by the steps,
 * which also run the policy cookbook's recipes against real tokens: per-user and per-team
 * namespaces from templates, a pull-only mirror, a deny carve-out, and claim values that try to
 * widen a grant.
 */

import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { createTestAuthority } from "../support/authority.ts";
import { startOidcProvider } from "../support/oidc_provider.ts";
import { MAIN, productionFlags, spawnDeno, writeConfig } from "../support/process.ts";
import { SIGNING_KEY_PATH } from "../support/service.ts";

const REGISTRY = "registry.authorities-test";
const MIRROR = "mirror.authorities-test";

Deno.test("one service trusts two real OpenID providers, each with its own keys, scopes and claim mapping", async (t) => {
  const [stellaops, ci] = await Promise.all([
    startOidcProvider({ signingAlg: "RS256", resource: "urn:registry-token" }),
    startOidcProvider({
      signingAlg: "EdDSA",
      scoped: false,
      resource: "https://registry-token.ci.test",
    }),
  ]);
  const configPath = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 0 },
      Authorities: [
        {
          Name: "stellaops",
          Issuer: stellaops.issuer,
          MetadataAddress: stellaops.metadataAddress,
          Audiences: [stellaops.resource],
        },
        {
          // Discovery at <Issuer>/.well-known/openid-configuration.
          Name: "ci",
          Issuer: ci.issuer,
          Audiences: [ci.resource],
          RequiredScopes: [],
          SubjectClaim: "project_path",
          PlanMappings: [
            { Claim: "groups", Value: "release-engineers", Plan: "release" },
            { Claim: "ref", Value: "main", Plan: "enterprise" },
            { Claim: "groups", Value: "builders", Plan: "ci-own" },
          ],
          DefaultPlan: "reader",
        },
      ],
      Signing: { Issuer: "registry-token-authorities-test", KeyPath: SIGNING_KEY_PATH },
      Plans: [
        { Name: "reader", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
        { Name: "enterprise", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] },
        { Name: "release", Repositories: [{ Pattern: "releases/*", Actions: ["pull", "push"] }] },
        {
          Name: "developer",
          Repositories: [
            { Pattern: "users/${subject}/*", Actions: ["pull", "push"] },
            { Pattern: "teams/${claim:groups}/*", Actions: ["pull", "push"] },
            { Pattern: "*", Actions: ["pull"] },
            { Pattern: "*", Services: [MIRROR], Effect: "deny", Actions: ["push", "delete"] },
            { Pattern: "teams/*/releases/*", Effect: "deny", Actions: ["push", "delete"] },
          ],
        },
        {
          Name: "ci-own",
          Repositories: [
            { Pattern: "${subject}", Actions: ["pull", "push"] },
            { Pattern: "teams/${claim:groups}/*", Actions: ["push"] },
          ],
        },
      ],
    },
  });
  const flags = await productionFlags(configPath);
  const process = spawnDeno(flags, MAIN, ["--config", configPath]);
  try {
    const { port } = await process.waitForLog("listening");
    const base = `http://127.0.0.1:${port}`;
    /** Asks for `scope` with `token`; the answer's status, reason and registry-token claims. */
    const ask = async (token: string, scope: string, service = REGISTRY) => {
      const response = await fetch(
        `${base}/token?service=${service}&scope=${encodeURIComponent(scope)}`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      const body = await response.json();
      return {
        status: response.status,
        challenge: response.headers.get("www-authenticate"),
        reason: body.errors?.[0]?.detail?.reason as string | undefined,
        decisions: body.errors?.[0]?.detail?.decisions as
          | { rule: { index: number; pattern: string } | null; because: string }[]
          | undefined,
        claims: body.token ? decodeJwt(body.token) : undefined,
      };
    };

    await t.step("the permission set reaches both providers, and both key sets load", async () => {
      const net = flags.find((flag) => flag.startsWith("--allow-net="))!;
      for (const provider of [stellaops, ci]) {
        assert.ok(net.includes(new URL(provider.issuer).host), `${net} has ${provider.issuer}`);
      }
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline) {
        const response = await fetch(`${base}/readyz`);
        status = response.status;
        await response.body?.cancel();
        if (status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(status, 200, "ready once every Authority's keys are loaded");
    });

    await t.step("a StellaOps token (RS256, scope, stellaops:plan) gets its plan", async () => {
      const token = await stellaops.bearerToken({ plan: "enterprise", license: "lic-7" });
      const answer = await ask(token, "repository:team/app:push");
      assert.equal(answer.status, 200, answer.reason);
      assert.equal(answer.claims!.sub, decodeJwt(token).sub);
      assert.equal(answer.claims!["stellaops:license"], "lic-7");
      assert.deepEqual(answer.claims!.access, [
        { type: "repository", name: "team/app", actions: ["push"] },
      ]);
    });

    await t.step("a CI token (EdDSA, no scope) gets the plan its groups map to", async () => {
      const token = await ci.bearerToken({
        extra: {
          project_path: "team/app",
          ref: "feature/x",
          groups: ["developers", "release-engineers"],
        },
      });
      assert.equal("scope" in decodeJwt(token), false);
      const answer = await ask(token, "repository:releases/app:push");
      assert.equal(answer.status, 200, answer.reason);
      assert.equal(answer.claims!.sub, "team/app", "the subject is SubjectClaim's");
      assert.deepEqual(answer.claims!.access, [
        { type: "repository", name: "releases/app", actions: ["push"] },
      ]);
    });

    await t.step("CI mappings apply in order, then the Authority's DefaultPlan", async () => {
      const onMain = await ci.bearerToken({
        extra: { project_path: "team/app", ref: "main", groups: ["developers"] },
      });
      assert.equal((await ask(onMain, "repository:team/app:push")).status, 200, "ref: main");
      const plain = await ci.bearerToken({
        extra: { project_path: "team/app", ref: "feature/y", groups: ["developers"] },
      });
      assert.equal((await ask(plain, "repository:team/app:pull")).status, 200, "reader");
      const push = await ask(plain, "repository:team/app:push");
      assert.equal(push.status, 403);
      assert.equal(push.reason, "access_denied");
    });

    await t.step("each Authority's rules are its own", async () => {
      // A CI token without its SubjectClaim has no subject, even with a sub.
      const anonymous = await ci.bearerToken({ extra: { groups: ["release-engineers"] } });
      assert.equal(
        (await ask(anonymous, "repository:releases/app:pull")).reason,
        "token_subject_missing",
      );
      // The StellaOps Authority has no SubjectClaim: its tokens' sub is the subject.
      const service = await stellaops.bearerToken({
        plan: "enterprise",
        extra: { project_path: "x" },
      });
      assert.equal((await ask(service, "repository:team/app:pull")).claims!.sub, "ci-bot");
    });

    await t.step(
      "per-user and per-team namespaces come from the subject and the groups",
      async () => {
        const token = await stellaops.bearerToken({
          plan: "developer",
          extra: { groups: ["payments", "staff"] },
        });
        assert.equal((await ask(token, "repository:users/ci-bot/tools:push")).status, 200);
        assert.equal((await ask(token, "repository:teams/payments/api:push")).status, 200);
        assert.equal((await ask(token, "repository:teams/staff/wiki:push")).status, 200);
        for (
          const scope of ["repository:users/someone/tools:push", "repository:teams/hr/api:push"]
        ) {
          const refused = await ask(token, scope);
          assert.equal(refused.status, 403, scope);
          assert.equal(refused.decisions?.[0].because, "no allow rule matched", scope);
        }
        assert.equal(
          (await ask(token, "repository:teams/hr/api:pull")).status,
          200,
          "pull anything",
        );
      },
    );

    await t.step("the mirror only pulls, and nobody pushes to a team's releases", async () => {
      const token = await stellaops.bearerToken({
        plan: "developer",
        extra: { groups: ["payments"] },
      });
      assert.equal((await ask(token, "repository:users/ci-bot/tools:pull", MIRROR)).status, 200);
      const mirrorPush = await ask(token, "repository:users/ci-bot/tools:push", MIRROR);
      assert.equal(mirrorPush.status, 403);
      assert.deepEqual(mirrorPush.decisions?.[0].rule, {
        plan: "developer",
        index: 3,
        pattern: "*",
      });
      const release = await ask(token, "repository:teams/payments/releases/api:push");
      assert.equal(release.status, 403, "deny wins over the team's allow rule");
      assert.equal(release.decisions?.[0].rule?.pattern, "teams/*/releases/*");
    });

    await t.step("claim values with * or /../ never widen a CI grant", async () => {
      const job = (project_path: string, groups: unknown[] = ["builders"]) =>
        ci.bearerToken({ extra: { project_path, ref: "feature/z", groups } });
      assert.equal((await ask(await job("team/app"), "repository:team/app:push")).status, 200);
      for (
        const [path, scope] of [
          ["team/*", "repository:team/app:push"],
          ["*", "repository:anything:push"],
          ["team/../admin", "repository:admin:push"],
          ["team/app/../../admin", "repository:admin:push"],
          ["Team/App", "repository:team/app:push"],
        ]
      ) {
        const answer = await ask(await job(path), scope);
        assert.equal(answer.status, 403, `project_path ${path} asking ${scope}`);
        assert.equal(answer.reason, "access_denied");
      }
      const wildGroup = await job("team/app", ["builders", "*", "../x", 7, { a: 1 }]);
      assert.equal((await ask(wildGroup, "repository:teams/anything/x:push")).status, 403);
      assert.equal((await ask(wildGroup, "repository:teams/builders/x:push")).status, 200);
    });

    await t.step(
      "a token from an issuer no Authority has is refused with issuer_unknown",
      async () => {
        const stranger = await createTestAuthority("https://stranger.test");
        const now = Math.floor(Date.now() / 1000);
        const token = await stranger.token({ claims: { iat: now, exp: now + 300 } });
        const answer = await ask(token, "repository:team/app:pull");
        assert.equal(answer.status, 401);
        assert.equal(answer.reason, "issuer_unknown");
        assert.match(
          answer.challenge!,
          /^Bearer realm="[^"]+",service="[^"]+"$/,
        );
        const withoutIss = await stranger.token({
          claims: { iss: undefined, iat: now, exp: now + 300 },
        });
        assert.equal((await ask(withoutIss, "repository:team/app:pull")).reason, "issuer_unknown");
      },
    );
  } finally {
    const status = await process.stop();
    await Promise.all([stellaops.close(), ci.close()]);
    assert.equal(status.code, 0, process.stderr.join("\n"));
  }
  assert.equal(process.stderr.join("").trim(), "", "no permission prompts or warnings");

  // Read once stopped: log lines are written asynchronously, and flushed at exit.
  const requests = process.stdout.flatMap((line) => {
    try {
      const record = JSON.parse(line);
      return record.msg === "request" && record.path === "/token" ? [record] : [];
    } catch {
      return [];
    }
  });
  const named = new Set(requests.map((record) => record.authority));
  assert.ok(named.has("stellaops") && named.has("ci"), "the request log names the Authority");
  const unknown = requests.filter((record) => record.reason === "issuer_unknown");
  assert.equal(unknown.length, 2);
  assert.ok(unknown.every((record) => record.authority === undefined), JSON.stringify(unknown));
});
