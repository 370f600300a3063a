/**
 * Entry point: flags, configuration, keys, then serve until SIGTERM/SIGINT.
 *
 * Startup problems end the process with exit code 2 and one line on stderr naming the key and
 * the problem, so operators see what to fix without reading a stack trace.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { parseCommandLine, USAGE } from "./cli.ts";
import { ConfigError } from "./config/document.ts";
import { loadOptions, locateConfig } from "./config/load.ts";
import type { Options } from "./config/options.ts";
import { developmentProfile } from "./dev/profile.ts";
import { createLogger } from "./observability/logger.ts";
import { createTokenMetrics } from "./observability/metrics.ts";
import { createService, type Service, type ServiceIo } from "./service.ts";
import { listen, type RunningServer } from "./http/serve.ts";
import { encodeHex } from "./encoding.ts";
import { registryConfigSnippets, registryTrust, TRUST_FILES } from "./token/registry_trust.ts";

/** Exit code for invalid flags, configuration or keys. */
export const EXIT_CONFIG = 2;
/** Exit code when the listen address cannot be bound. */
export const EXIT_STARTUP = 1;

async function main(args: string[]): Promise<number> {
  let commandLine;
  try {
    commandLine = parseCommandLine(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return EXIT_CONFIG;
  }
  if (commandLine.help) {
    console.log(USAGE);
    return 0;
  }
  if (commandLine.version) {
    console.log(`registry-token-service ${denoJson.version}`);
    return 0;
  }

  const logger = createLogger((line) => console.log(line), () => new Date());
  const io: ServiceIo = {
    readFile: Deno.readFile,
    fetch: globalThis.fetch,
    now: () => new Date(),
    randomId: () => crypto.randomUUID(),
    logger,
    metrics: createTokenMetrics([]),
  };

  let service: Service;
  let devNotice: string | undefined;
  try {
    if (commandLine.dev) {
      const profile = await developmentProfile((name) => Deno.env.get(name));
      service = await createService(profile.options, { ...io, readFile: profile.readFile });
      devNotice = profile.notice;
    } else {
      const location = locateConfig(commandLine.config, (name) => Deno.env.get(name));
      const options = await loadOptions(location, {
        readTextFile: Deno.readTextFile,
        getEnv: (name) => Deno.env.get(name),
      });
      service = await createService(options, io);
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`config error: ${error.message}`);
    return EXIT_CONFIG;
  }

  if (commandLine.exportTrust) {
    try {
      await exportTrust(service, commandLine.exportTrust);
    } catch (error) {
      console.error(`export error: ${(error as Error).message}`);
      return EXIT_STARTUP;
    }
    return 0;
  }
  if (commandLine.check) {
    console.log(
      `configuration OK: ${summary(service.options)}, signing kid ${service.signingKey.kid}`,
    );
    return 0;
  }
  service.authorityKeys.refresh().catch((error) =>
    logger.log("warn", `Authority keys not loaded at startup: ${(error as Error).message}`)
  );
  let server: RunningServer;
  try {
    server = await listen(service.options.server, service.tls, service.fetch);
  } catch (error) {
    // Binding and TLS set-up problems are operator errors: one line, no stack trace.
    const { host, port } = service.options.server;
    console.error(`startup error: cannot listen on ${host}:${port}: ${(error as Error).message}`);
    return EXIT_STARTUP;
  }
  logger.log("info", "listening", {
    address: server.hostname,
    port: server.port,
    tls: service.tls !== undefined,
    kid: service.signingKey.kid,
  });
  if (devNotice) console.error(devNotice);
  const stop = () => void server.shutdown();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
  logger.log("info", "stopped");
  return 0;
}

async function exportTrust(service: Service, dir: string): Promise<void> {
  const serial = `01${encodeHex(crypto.getRandomValues(new Uint8Array(15)))}`;
  const trust = await registryTrust(service.signingKey, new Date(), serial);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/${TRUST_FILES.jwks}`,
    `${JSON.stringify(trust.jwks, null, 2)}\n`,
  );
  await Deno.writeTextFile(`${dir}/${TRUST_FILES.bundle}`, trust.bundlePem);
  const origin = trust.generatedCertificate
    ? "a self-signed certificate generated for the key, which has none configured"
    : "the configured certificate chain";
  console.log(
    `# wrote ${dir}/${TRUST_FILES.jwks} (kid ${service.signingKey.kid}) and ${dir}/${TRUST_FILES.bundle} (${origin})
${registryConfigSnippets(service.options, dir)}`,
  );
}

function summary(options: Options): string {
  const plans = [...options.policy.plans.keys()].join(", ") || "none";
  return `issuer ${options.signing.issuer}, plans ${plans}, listen ${options.server.host}:${options.server.port}`;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
