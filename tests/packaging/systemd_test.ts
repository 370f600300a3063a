/**
 * The systemd unit `etc/registry-token.service`: systemd itself verifies it (`systemd-analyze
 * verify`) and scores its sandbox (`systemd-analyze security --offline`), and the hardening it
 * promises is checked directive by directive.
 *
 * A missing `systemd-analyze` is a failure, never a skip: `tests/ensure-peers.sh` installs it.
 */

import assert from "node:assert/strict";

const UNIT_NAME = "registry-token.service";
const UNIT_URL = new URL(`../../etc/${UNIT_NAME}`, import.meta.url);
const BINARY = "/usr/local/bin/registry-token-service";
/** `systemd-analyze security` measured 1.3 on systemd 252 (Debian 12); fail well before "MEDIUM". */
const MAX_EXPOSURE = 1.5;
/** The service drains in-flight requests for up to this long after SIGTERM. */
const DRAIN_SECONDS = 10;

/** Section → key → every value assigned to it, in order (an empty value resets a list). */
type Unit = Map<string, Map<string, string[]>>;

/** Parses a unit file: `[Section]`, `Key=Value`, `#`/`;` comments, `\` line continuations. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]) ?? new Map();
      unit.set(header[1], section);
      continue;
    }
    const assignment = /^([A-Za-z0-9]+)\s*=\s*(.*)$/.exec(line);
    assert.ok(assignment && section, `unit line ${index + 1}: cannot parse "${line}"`);
    const values = section.get(assignment[1]) ?? [];
    values.push(assignment[2]);
    section.set(assignment[1], values);
  }
  return unit;
}

async function unitText(): Promise<string> {
  return await Deno.readTextFile(UNIT_URL);
}

async function serviceSection(): Promise<Map<string, string[]>> {
  const service = parseUnit(await unitText()).get("Service");
  assert.ok(service, "the unit has no [Service] section");
  return service;
}

/** The effective value of a single-valued setting (the last assignment wins). */
function setting(section: Map<string, string[]>, key: string): string | undefined {
  return section.get(key)?.at(-1);
}

/** The effective items of a list setting: words assigned after the last reset (`Key=`). */
function listSetting(section: Map<string, string[]>, key: string): string[] {
  const values = section.get(key) ?? [];
  const reset = values.lastIndexOf("");
  return values.slice(reset + 1).flatMap((value) => value.split(/\s+/));
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["yes", "true", "on", "1"].includes(value.toLowerCase());
}

/** A systemd time span in seconds, for the forms used here (`15`, `15s`, `1min`, `1min 30s`). */
function seconds(span: string): number {
  let total = 0;
  for (const [, amount, unit] of span.matchAll(/(\d+(?:\.\d+)?)\s*(min|s|sec)?/g)) {
    total += Number(amount) * (unit === "min" ? 60 : 1);
  }
  return total;
}

interface Result {
  readonly code: number;
  /** stdout and stderr together: systemd-analyze reports unit problems on either. */
  readonly output: string;
}

async function systemdAnalyze(args: string[]): Promise<Result> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("systemd-analyze", {
      args,
      stdout: "piped",
      stderr: "piped",
      env: { SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "", LC_ALL: "C.UTF-8" },
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "systemd-analyze not found: install systemd (apt-get install systemd; " +
          "tests/ensure-peers.sh does so when run as root)",
      );
    }
    throw error;
  }
  const decoder = new TextDecoder();
  return {
    code: output.code,
    output: (decoder.decode(output.stdout) + decoder.decode(output.stderr)).trim(),
  };
}

/**
 * Runs `systemd-analyze verify` on `text` installed as /etc/systemd/system/registry-token.service
 * in a scratch root directory, exactly as written. verify insists that every Exec*= binary
 * exists, so the root also gets stand-in executables at the paths the unit names (the real
 * binary is built by `deno compile`, which cannot run here), and the system's own units for the
 * targets it orders itself against.
 */
async function verifyInstalled(text: string): Promise<Result> {
  const root = await Deno.makeTempDir({ prefix: "registry-token-unit-" });
  try {
    await Deno.mkdir(`${root}/etc/systemd/system`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/systemd/system/${UNIT_NAME}`, text);
    const service = parseUnit(text).get("Service") ?? new Map<string, string[]>();
    const executables = ["ExecStart", "ExecReload"].flatMap((key) =>
      (service.get(key) ?? []).map((command) => command.replace(/^[-@:+!]+/, "").split(/\s+/)[0])
    );
    for (const executable of executables.filter((path) => path.startsWith("/"))) {
      const standIn = `${root}${executable}`;
      await Deno.mkdir(standIn.slice(0, standIn.lastIndexOf("/")), { recursive: true });
      await Deno.copyFile("/usr/bin/true", standIn);
      await Deno.chmod(standIn, 0o755);
    }
    await Deno.mkdir(`${root}/usr/lib/systemd`, { recursive: true });
    const copy = await new Deno.Command("cp", {
      args: ["-R", "/usr/lib/systemd/system", `${root}/usr/lib/systemd/`],
    }).output();
    assert.equal(copy.code, 0, new TextDecoder().decode(copy.stderr));
    return await systemdAnalyze(["verify", `--root=${root}`, UNIT_NAME]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("systemd-analyze verify accepts the unit without a single diagnostic", async () => {
  const result = await verifyInstalled(await unitText());
  assert.equal(result.output, "", `systemd-analyze verify reported:\n${result.output}`);
  assert.equal(result.code, 0);
});

Deno.test("the verify check catches a misspelt directive and a bad value", async () => {
  const broken = (await unitText()).replace(
    /^\[Service\]$/m,
    "[Service]\nProtectSytem=strict\nRestart=sometimes",
  );
  const result = await verifyInstalled(broken);
  assert.match(result.output, /Unknown key 'ProtectSytem'/);
  assert.match(result.output, /restart specifier.*sometimes/);
});

Deno.test(`systemd-analyze security rates the sandbox's exposure at most ${MAX_EXPOSURE}`, async () => {
  const result = await systemdAnalyze([
    "security",
    "--offline=true",
    `--threshold=${Math.round(MAX_EXPOSURE * 10)}`,
    "--no-pager",
    new URL(UNIT_URL).pathname,
  ]);
  const score = /Overall exposure level for \S+: (\d+\.\d+)/.exec(result.output);
  assert.ok(score, `no exposure level in:\n${result.output}`);
  assert.ok(
    Number(score[1]) <= MAX_EXPOSURE,
    `exposure ${score[1]} > ${MAX_EXPOSURE}:\n${result.output}`,
  );
  assert.equal(result.code, 0, result.output);
});

Deno.test("the unit starts the compiled binary on the system config and reloads it with SIGHUP", async () => {
  const service = await serviceSection();
  assert.ok(["exec", "simple"].includes(setting(service, "Type") ?? ""));
  assert.deepEqual(service.get("ExecStart"), [
    `${BINARY} --config /etc/registry-token/registry-token.yaml`,
  ]);
  assert.match(setting(service, "ExecReload") ?? "", /^\/(usr\/)?bin\/kill -HUP \$MAINPID$/);
});

Deno.test("the unit restarts on failure and gives the SIGTERM drain time to finish", async () => {
  const service = await serviceSection();
  assert.equal(setting(service, "Restart"), "on-failure");
  assert.equal(setting(service, "RestartSec"), "2s");
  const stop = seconds(setting(service, "TimeoutStopSec") ?? "0");
  assert.ok(stop > DRAIN_SECONDS && stop <= 3 * DRAIN_SECONDS, `TimeoutStopSec is ${stop}s`);
  const kill = setting(service, "KillSignal");
  assert.ok(kill === undefined || kill === "SIGTERM", `KillSignal=${kill}`);
  assert.deepEqual(parseUnit(await unitText()).get("Install")?.get("WantedBy"), [
    "multi-user.target",
  ]);
});

Deno.test("the unit runs as a transient user that reads the keys only through its group", async () => {
  const service = await serviceSection();
  assert.ok(isTrue(setting(service, "DynamicUser")));
  assert.equal(setting(service, "User"), undefined);
  assert.deepEqual(listSetting(service, "SupplementaryGroups"), ["registry-token"]);
  assert.ok(
    listSetting(service, "ReadOnlyPaths").map((path) => path.replace(/^-/, "")).includes(
      "/etc/registry-token",
    ),
  );
  assert.equal(setting(service, "UMask"), "0077");
});

Deno.test("the unit grants no privileges and no capabilities", async () => {
  const service = await serviceSection();
  assert.ok(isTrue(setting(service, "NoNewPrivileges")));
  assert.deepEqual(service.get("CapabilityBoundingSet"), [""]);
  assert.deepEqual(service.get("AmbientCapabilities"), [""]);
  for (
    const key of ["RestrictSUIDSGID", "RestrictRealtime", "RestrictNamespaces", "LockPersonality"]
  ) {
    assert.ok(isTrue(setting(service, key)), `${key}=${setting(service, key)}`);
  }
});

Deno.test("the unit sees the file system read-only and no home, /tmp, devices or kernel knobs", async () => {
  const service = await serviceSection();
  assert.equal(setting(service, "ProtectSystem"), "strict");
  for (
    const key of [
      "ProtectHome",
      "PrivateTmp",
      "PrivateDevices",
      "ProtectKernelTunables",
      "ProtectKernelModules",
      "ProtectKernelLogs",
      "ProtectControlGroups",
      "ProtectClock",
      "ProtectHostname",
    ]
  ) {
    assert.ok(isTrue(setting(service, key)), `${key}=${setting(service, key)}`);
  }
  assert.deepEqual(listSetting(service, "ReadWritePaths"), []);
});

Deno.test("the unit may open only IPv4/IPv6 sockets and make only native service system calls", async () => {
  const service = await serviceSection();
  assert.deepEqual(
    new Set(listSetting(service, "RestrictAddressFamilies")),
    new Set(["AF_INET", "AF_INET6"]),
  );
  assert.equal(setting(service, "SystemCallArchitectures"), "native");
  const allowLists = (service.get("SystemCallFilter") ?? []).filter((value) =>
    !value.startsWith("~")
  );
  assert.ok(
    allowLists.some((value) => value.split(/\s+/).includes("@system-service")),
    `SystemCallFilter allow-lists: ${allowLists}`,
  );
});

Deno.test("the unit leaves W^X off, because V8's JIT needs writable-then-executable memory", async () => {
  const service = await serviceSection();
  assert.ok(!isTrue(setting(service, "MemoryDenyWriteExecute")));
});
