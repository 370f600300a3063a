/**
 * Run under a permission set, tries what the service must never be able to do and reports
 * each attempt as "allowed" or "denied" (one JSON object on stdout). Arguments: a file the set
 * should allow reading, then a file outside it.
 *
 * @module
 */

const [allowedFile, forbiddenFile] = Deno.args;

async function attempt(action: () => unknown): Promise<"allowed" | "denied" | string> {
  try {
    await action();
    return "allowed";
  } catch (error) {
    // Module loading reports refusals as TypeErrors that name the missing permission.
    const refused = error instanceof Deno.errors.NotCapable ||
      /Requires import access|--no-remote is specified/.test((error as Error).message);
    return refused ? "denied" : `failed: ${(error as Error).message}`;
  }
}

console.log(JSON.stringify({
  readAllowedFile: await attempt(() => Deno.readTextFile(allowedFile)),
  readForbiddenFile: await attempt(() => Deno.readTextFile(forbiddenFile)),
  readPasswd: await attempt(() => Deno.readTextFile("/etc/passwd")),
  envOwn: await attempt(() => Deno.env.get("REGISTRY_TOKEN_CONFIG")),
  envOther: await attempt(() => Deno.env.get("HOME")),
  envListed: Object.keys(Deno.env.toObject()).filter((name) => !name.startsWith("REGISTRY_TOKEN_")),
  connectElsewhere: await attempt(() => Deno.connect({ hostname: "127.0.0.2", port: 9 })),
  write: await attempt(() => Deno.writeTextFile(`${allowedFile}.written`, "x")),
  run: await attempt(() => new Deno.Command("true").output()),
  ffi: await attempt(() => Deno.dlopen("libc.so.6", {})),
  sys: await attempt(() => Deno.hostname()),
  // Built at run time so that module loading does not try to prefetch it.
  importRemote: await attempt(() => import(["https://deno.land", "std", "version.ts"].join("/"))),
}));
