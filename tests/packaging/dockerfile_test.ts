/**
 * The container image's Dockerfile, checked structurally (no Docker engine is needed): a
 * two-stage build that compiles one binary with a pinned Deno, and a distroless runtime stage
 * that holds only that binary and runs it unprivileged, without a shell.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const BINARY = "/usr/local/bin/registry-token-service";
const RUNTIME_CONFIG = "/etc/registry-token/registry-token.yaml";

/** One Dockerfile instruction: its keyword (upper case) and its arguments, continuations joined. */
interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** 1-based line where the instruction starts. */
  readonly line: number;
}

interface Stage {
  readonly image: string;
  readonly name?: string;
  readonly instructions: Instruction[];
}

/**
 * Splits a Dockerfile into instructions the way Docker does for the subset used here: blank
 * lines and `#` comment lines (parser directives included) are dropped, also inside a
 * continuation, and a line ending in `\` continues on the next line.
 */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const continued = /\\\s*$/.test(raw);
    const content = continued ? raw.replace(/\\\s*$/, "") : raw;
    pending ??= { parts: [], line: index + 1 };
    pending.parts.push(content.trim());
    if (continued) return;
    const joined = pending.parts.join(" ").trim();
    const match = /^(\S+)\s*(.*)$/s.exec(joined)!;
    instructions.push({ keyword: match[1].toUpperCase(), args: match[2], line: pending.line });
    pending = undefined;
  });
  assert.equal(pending, undefined, "the Dockerfile ends inside a line continuation");
  return instructions;
}

/** Groups instructions into stages, each starting at a FROM (`FROM [--flag…] image [AS name]`). */
function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith("--"));
      assert.ok(
        words.length === 1 || (words.length === 3 && words[1].toUpperCase() === "AS"),
        `line ${instruction.line}: unexpected FROM ${instruction.args}`,
      );
      stages.push({ image: words[0], name: words[2], instructions: [] });
    } else {
      assert.ok(stages.length > 0, `line ${instruction.line}: ${instruction.keyword} before FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** Removes an optional `@sha256:…` digest pin from an image reference. */
function withoutDigest(image: string): string {
  return image.replace(/@sha256:[0-9a-f]{64}$/, "");
}

function only(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword);
}

/** Parses an exec-form (JSON array) ENTRYPOINT/CMD; fails for the shell form. */
function execForm(instruction: Instruction): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(instruction.args);
  } catch {
    assert.fail(`line ${instruction.line}: ${instruction.keyword} is not in exec (JSON) form`);
  }
  assert.ok(
    Array.isArray(parsed) && parsed.every((item) => typeof item === "string"),
    `line ${instruction.line}: ${instruction.keyword} must be a JSON array of strings`,
  );
  return parsed;
}

/** Source and destination words of a COPY/ADD, without its `--flag` options. */
function copyOperands(
  instruction: Instruction,
): { flags: string[]; sources: string[]; dest: string } {
  const words = instruction.args.split(/\s+/);
  const flags = words.filter((word) => word.startsWith("--"));
  const operands = words.filter((word) => !word.startsWith("--"));
  return { flags, sources: operands.slice(0, -1), dest: operands.at(-1)! };
}

async function readRepoFile(path: string): Promise<string> {
  return await Deno.readTextFile(new URL(path, ROOT));
}

async function dockerStages(): Promise<Stage[]> {
  return stagesOf(parseDockerfile(await readRepoFile("Dockerfile")));
}

function denoVersionOfImage(image: string): string {
  const match = /^denoland\/deno:(\d+\.\d+\.\d+)$/.exec(withoutDigest(image));
  assert.ok(match, `the build stage must use a version-pinned denoland/deno image, got ${image}`);
  return match[1];
}

Deno.test("the Dockerfile parser joins continuations and drops comments, also inside them", () => {
  const instructions = parseDockerfile(
    [
      "# syntax=docker/dockerfile:1",
      "FROM scratch AS one",
      "",
      "RUN a \\",
      "  # a comment inside the continuation",
      "  && b",
      'CMD ["x"]',
    ].join("\n"),
  );
  assert.deepEqual(instructions, [
    { keyword: "FROM", args: "scratch AS one", line: 2 },
    { keyword: "RUN", args: "a && b", line: 4 },
    { keyword: "CMD", args: '["x"]', line: 7 },
  ]);
});

Deno.test("the image is built in exactly two stages: a named Deno build stage, then distroless", async () => {
  const stages = await dockerStages();
  assert.equal(stages.length, 2, `expected 2 stages, got ${stages.map((s) => s.image)}`);
  const [build, runtime] = stages;
  assert.equal(denoVersionOfImage(build.image), "2.9.6");
  assert.equal(build.name, "build");
  assert.equal(withoutDigest(runtime.image), "gcr.io/distroless/cc-debian12:nonroot");
});

Deno.test("the build stage installs the locked dependencies and compiles from a build-time config", async () => {
  const [build] = await dockerStages();
  const runs = only(build, "RUN").map((instruction) => instruction.args);
  const install = runs.findIndex((run) => /\bdeno install --frozen\b/.test(run));
  const compile = runs.findIndex((run) => /\bdeno task compile\b/.test(run));
  assert.ok(install >= 0, "the build stage must run `deno install --frozen`");
  assert.ok(compile > install, "`deno task compile` must run after `deno install --frozen`");
  assert.match(runs[compile], /--output \/out\/registry-token-service\b/);
  assert.match(runs[compile], /--config \S+/);
  assert.match(runs[compile], /\$\{BUILD_CONFIG\}|\$BUILD_CONFIG\b/);
  const arg = only(build, "ARG").find((instruction) => instruction.args.startsWith("BUILD_CONFIG"));
  assert.equal(arg?.args, "BUILD_CONFIG=etc/registry-token.yaml");
  assert.ok(
    build.instructions.indexOf(arg) < build.instructions.indexOf(only(build, "RUN")[compile]),
    "ARG BUILD_CONFIG must be declared before the compile step",
  );
});

Deno.test("the build stage copies only what the build needs", async () => {
  const [build] = await dockerStages();
  const sources = only(build, "COPY").flatMap((instruction) => copyOperands(instruction).sources);
  assert.deepEqual(sources.sort(), ["deno.json", "deno.lock", "etc/", "src/"]);
});

Deno.test("the runtime stage holds only the compiled binary, copied from the build stage", async () => {
  const [, runtime] = await dockerStages();
  const copies = only(runtime, "COPY").map(copyOperands);
  assert.equal(copies.length, 1);
  assert.deepEqual(copies[0].flags, ["--from=build"]);
  assert.deepEqual(copies[0].sources, ["/out/registry-token-service"]);
  assert.equal(copies[0].dest, BINARY);
  assert.deepEqual(only(runtime, "ADD"), []);
});

Deno.test("the runtime stage needs no shell: no RUN or SHELL, and exec-form ENTRYPOINT and CMD", async () => {
  const [, runtime] = await dockerStages();
  assert.deepEqual(only(runtime, "RUN"), [], "distroless has no shell to RUN anything");
  assert.deepEqual(only(runtime, "SHELL"), []);
  const entrypoints = only(runtime, "ENTRYPOINT");
  assert.equal(entrypoints.length, 1);
  assert.deepEqual(execForm(entrypoints[0]), [BINARY]);
  const cmds = only(runtime, "CMD");
  assert.equal(cmds.length, 1);
  assert.deepEqual(execForm(cmds[0]), ["--config", RUNTIME_CONFIG]);
});

Deno.test("no stage has a HEALTHCHECK (orchestrators probe GET /healthz instead)", async () => {
  for (const stage of await dockerStages()) {
    assert.deepEqual(only(stage, "HEALTHCHECK"), [], `stage ${stage.image}`);
  }
});

Deno.test("the runtime stage runs as the distroless nonroot user and exposes port 5001", async () => {
  const [, runtime] = await dockerStages();
  assert.deepEqual(only(runtime, "USER").map((instruction) => instruction.args), ["nonroot"]);
  assert.deepEqual(only(runtime, "EXPOSE").map((instruction) => instruction.args), ["5001"]);
});

Deno.test("nothing is fetched with ADD from a remote URL", async () => {
  for (const stage of await dockerStages()) {
    for (const add of only(stage, "ADD")) {
      for (const source of copyOperands(add).sources) {
        assert.doesNotMatch(
          source,
          /^(https?|git|ssh):\/\/|^git@/,
          `line ${add.line}: ADD ${source}`,
        );
      }
    }
  }
});

Deno.test("the build context leaves out VCS data, tests, build output, dependencies and keys", async () => {
  const patterns = (await readRepoFile(".dockerignore"))
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  for (const expected of [".git", "tests", "dist", "node_modules", "**/*.pem", "**/*.p12"]) {
    assert.ok(patterns.includes(expected), `.dockerignore must exclude ${expected}`);
  }
  for (const needed of ["deno.json", "deno.lock", "src", "etc"]) {
    assert.ok(
      !patterns.some((pattern) => pattern === needed || pattern === `${needed}/`),
      `.dockerignore must not exclude ${needed}, which the build copies`,
    );
  }
});

Deno.test("the image's Deno version is the one .ci/run and the README pin", async () => {
  const [build] = await dockerStages();
  const image = denoVersionOfImage(build.image);
  const pinsOf = async (file: string) =>
    [...(await readRepoFile(file)).matchAll(/deno@(\d+\.\d+\.\d+)/g)].map((m) => m[1]);
  for (const file of [".ci/run", "README.md"]) {
    const pins = await pinsOf(file);
    assert.ok(pins.length > 0, `${file} pins no deno@X.Y.Z`);
    assert.deepEqual(new Set(pins), new Set([image]), `${file} pins ${pins}, the image ${image}`);
  }
  // The other documents need not pin, but any pin they show is the same one.
  const docs = [...Deno.readDirSync(new URL("docs/", ROOT))]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => `docs/${entry.name}`);
  for (const file of ["CONTRIBUTING.md", "SECURITY.md", ...docs]) {
    for (const pin of await pinsOf(file)) {
      assert.equal(pin, image, `${file} pins deno@${pin}, the image ${image}`);
    }
  }
});
