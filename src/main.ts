/**
 * Entry point: flags, configuration, keys, then serve until SIGTERM/SIGINT; SIGHUP reloads.
 *
 * Startup problems end the process with exit code 2 and one line on stderr naming the key and
 * the problem, so operators see what to fix without reading a stack trace. A reload that fails
 * the same checks is logged and the running configuration keeps serving.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { type CommandLine, parseCommandLine, USAGE } from "./cli.ts";
import { describeOptions } from "./config/describe.ts";
import { configurationWarnings } from "./config/warnings.ts";
import { configuredFiles } from "./config/files.ts";
import { ConfigError } from "./config/error.ts";
import { loadConfig, locateConfig } from "./config/load.ts";
import { type FileWatch, watchFiles } from "./config/watch.ts";
import { developmentProfile } from "./dev/profile.ts";
import { listen, type RunningServer } from "./http/serve.ts";
import { createLogger, createLogWriter, type Logger } from "./observability/logger.ts";
import { createTokenMetrics } from "./observability/metrics.ts";
import { createService, type Service, type ServiceIo } from "./service.ts";
import { exportTrust } from "./trust_export.ts";
import { EXIT_CONFIG, EXIT_RESTART, EXIT_STARTUP, exitForConfigError } from "./exit_codes.ts";

/** How long exit waits for pending log lines: a stalled stdout must not hold up a stop. */
const LOG_FLUSH_TIMEOUT_MS = 1000;

async function main(args: string[]): Promise<number> {
  let commandLine: CommandLine;
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

  const metrics = createTokenMetrics([]);
  const output = createLogWriter(Deno.stdout, metrics.logLinesDropped);
  const logger = createLogger(output.write, () => new Date());
  const io: ServiceIo = {
    readFile: Deno.readFile,
    fetch: globalThis.fetch,
    now: () => new Date(),
    randomId: () => crypto.randomUUID(),
    logger,
    metrics,
  };

  let service: Service;
  let configPath: string | undefined;
  let devNotice: string | undefined;
  try {
    if (commandLine.dev) {
      const profile = await developmentProfile((name) => Deno.env.get(name));
      service = await createService(profile.options, { ...io, readFile: profile.readFile });
      devNotice = profile.notice;
    } else {
      ({ service, configPath } = await loadService(commandLine, io));
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return exitForConfigError(error);
  }

  if (commandLine.exportTrust) {
    try {
      console.log(await exportTrust(service, commandLine.exportTrust, new Date()));
    } catch (error) {
      console.error(`export error: ${(error as Error).message}`);
      return EXIT_STARTUP;
    }
    return 0;
  }
  if (commandLine.check) {
    console.log(`configuration OK, signing kid ${service.signingKey.kid}`);
    for (const warning of configurationWarnings(service.options)) {
      console.error(`warning: ${warning}`);
    }
    console.log(JSON.stringify(describeOptions(service.options), null, 2));
    return 0;
  }
  try {
    return await serve({ service, configPath }, commandLine, io, devNotice);
  } finally {
    await output.flush(LOG_FLUSH_TIMEOUT_MS);
  }
}

/** A service and the config file it was built from (none for the development profile). */
interface LoadedService {
  readonly service: Service;
  readonly configPath?: string;
}

/** Reads the configuration and builds a service from it (startup and reload alike). */
async function loadService(
  commandLine: CommandLine,
  io: ServiceIo,
  previous?: Service,
): Promise<LoadedService> {
  const getEnv = (name: string) => Deno.env.get(name);
  const { options, path } = await loadConfig(locateConfig(commandLine.config, getEnv), {
    readTextFile: Deno.readTextFile,
    getEnv,
  });
  const service = await createService(options, io, previous);
  return { service, configPath: path };
}

/** The files whose change `Server:ReloadOnChange` reacts to. */
function watchedFiles({ service, configPath }: LoadedService): string[] {
  const files = configuredFiles(service.options).reloadable;
  return configPath === undefined ? [...files] : [configPath, ...files];
}

async function serve(
  initial: LoadedService,
  commandLine: CommandLine,
  io: ServiceIo,
  devNotice?: string,
): Promise<number> {
  const { logger } = io;
  let loaded = initial;
  let current = initial.service;
  prefetchAuthorityKeys(current, logger);
  let server: RunningServer;
  try {
    server = await listen(current.options.server, current.tls, (request, connection) =>
      // Read per request, so a reload takes effect for the very next one.
      current.fetch(request, connection));
  } catch (error) {
    // Binding and TLS set-up problems are operator errors: one line, no stack trace.
    const { host, port } = current.options.server;
    console.error(`startup error: cannot listen on ${host}:${port}: ${(error as Error).message}`);
    return EXIT_STARTUP;
  }
  let reloading = Promise.resolve();
  let watch: FileWatch | undefined;
  const rewatch = () => {
    watch?.close();
    watch = current.options.server.reloadOnChange && !commandLine.dev
      ? watchFiles(watchedFiles(loaded), reload)
      : undefined;
  };
  const reload = () => {
    reloading = reloading.then(async () => {
      if (commandLine.dev) {
        return logger.log("warn", "reload ignored: the development profile has no config file");
      }
      try {
        loaded = await loadService(commandLine, io, current);
        warnAboutRestartOnlySettings(current, loaded.service, logger);
        current = loaded.service;
        prefetchAuthorityKeys(current, logger);
        logger.log("info", "reloaded", {
          kid: current.signingKey.kid,
          plans: [...current.options.policy.plans.keys()],
        });
        rewatch();
      } catch (error) {
        const problem = error instanceof ConfigError ? error.message : String(error);
        logger.log("error", `reload failed, still serving the previous configuration: ${problem}`);
      }
    });
  };
  Deno.addSignalListener("SIGHUP", reload);
  rewatch();

  const stopped = new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGTERM", stop);
    Deno.addSignalListener("SIGINT", stop);
  });
  // Announced only now: a supervisor (or test) that signals as soon as it reads this line must
  // find the handlers in place, not the default action that kills the process.
  logger.log("info", "listening", {
    address: server.hostname,
    port: server.port,
    tls: current.tls !== undefined,
    kid: current.signingKey.kid,
  });
  for (const warning of configurationWarnings(current.options)) logger.log("warn", warning);
  if (devNotice) console.error(devNotice);
  const failure = await Promise.race([stopped, server.failed]);
  if (failure) {
    logger.log("error", `cannot serve any more, exiting for a restart: ${failure}`);
    return EXIT_RESTART;
  }
  const drainSeconds = current.options.server.drainTimeoutSeconds;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drained = await Promise.race([
    server.shutdown().then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), drainSeconds * 1000)),
  ]);
  clearTimeout(timer);
  watch?.close();
  logger.log(drained ? "info" : "warn", drained ? "stopped" : "stopped after the drain timeout", {
    drain_timeout_s: drainSeconds,
  });
  return 0;
}

function prefetchAuthorityKeys(service: Service, logger: Logger): void {
  service.authorityKeys.refresh().catch((error) =>
    logger.log("warn", `Authority keys not loaded yet: ${(error as Error).message}`)
  );
}

/** The listener is not rebuilt by a reload; say so when its settings changed. */
function warnAboutRestartOnlySettings(before: Service, after: Service, logger: Logger): void {
  const listening = (service: Service) => {
    const { host, port, tls } = service.options.server;
    return JSON.stringify({ host, port, tls });
  };
  // The TLS material is compared by content: a client CA replaced in place is a change too.
  if (
    listening(before) !== listening(after) ||
    JSON.stringify(before.tls) !== JSON.stringify(after.tls)
  ) {
    logger.log(
      "warn",
      "Server:Host, Server:Port and Server:Tls changes (TLS and client-CA files included) take effect only after a restart",
    );
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
