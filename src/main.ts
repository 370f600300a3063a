/**
 * Entry point: flags, configuration, keys and the process's I/O, then the supervisor serves
 * until SIGTERM/SIGINT; SIGHUP reloads (`supervisor.ts`).
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
import { ConfigError } from "./config/error.ts";
import { loadConfig, locateConfig } from "./config/load.ts";
import { watchFiles } from "./config/watch.ts";
import { developmentProfile } from "./dev/profile.ts";
import { listen } from "./http/serve.ts";
import { createLogger, createLogWriter } from "./observability/logger.ts";
import { createTokenMetrics } from "./observability/metrics.ts";
import { observeProcess } from "./observability/process_metrics.ts";
import { startOtlpPush } from "./observability/otlp.ts";
import { createService, currentPublishedKeys, type Service, type ServiceIo } from "./service.ts";
import { exportTrust } from "./trust_export.ts";
import { DOCTOR_TOKEN_ENV, runDoctor } from "./doctor/doctor.ts";
import { runExplain, runPolicyTests } from "./policy_cli.ts";
import { EXIT_CONFIG, EXIT_STARTUP, exitForConfigError } from "./exit_codes.ts";
import { type LoadedService, supervise } from "./supervisor.ts";
import { dropWorkerPermissions, runPrimary, spawnWorker, workerCommand } from "./workers.ts";

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

  if (commandLine.explain || commandLine.testPolicy) return await checkPolicy(commandLine);

  if (commandLine.worker !== undefined) {
    dropWorkerPermissions();
    // A reload asked before the supervisor listens changes nothing: the worker is reading the
    // configuration anew anyway. (Earlier still, while its code loads, a SIGHUP ends it, and the
    // primary starts it again.)
    Deno.addSignalListener("SIGHUP", () => {});
  }
  const metrics = createTokenMetrics();
  observeProcess(metrics.meter);
  // Workers share stdout: each write stays within PIPE_BUF, so lines never interleave.
  const output = createLogWriter(
    Deno.stdout,
    metrics.logLinesDropped,
    undefined,
    commandLine.worker === undefined ? undefined : 4096,
  );
  // The doctor prints its own report; the service it loads keys with has nothing to log there
  // (it may reach neither the Authority nor the shared state, and never serves).
  const logger = commandLine.doctor ? { log: () => {} } : createLogger(
    output.write,
    () => new Date(),
    commandLine.worker === undefined ? {} : { worker: commandLine.worker },
  );
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

  if (commandLine.doctor) {
    try {
      const { options, signingKey, publishedKeys } = service;
      const published = currentPublishedKeys(publishedKeys, new Date());
      return await runDoctor({ options, signingKey, publishedKeys: published }, {
        ...commandLine.doctor,
        callerToken: Deno.env.get(DOCTOR_TOKEN_ENV),
      }, { ...io, print: (line) => console.log(line) });
    } finally {
      await service.close();
    }
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
    for (const warning of configurationWarnings(service.options, service)) {
      console.error(`warning: ${warning}`);
    }
    console.log(JSON.stringify(describeOptions(service.options), null, 2));
    return 0;
  }
  const workers = service.options.server.workers;
  if (workers > 1 && commandLine.worker === undefined) {
    // The primary serves nothing: its service was the startup check, the workers build their own.
    await service.close();
    if (!Deno.build.standalone) {
      // Under `deno run` the launcher is the primary, so that no process with network access
      // may run programs (src/workers.ts).
      console.error(
        "startup error: Server:Workers above 1 runs its workers from `deno task start` or " +
          "from a compiled binary, not from `deno run src/main.ts`",
      );
      return EXIT_STARTUP;
    }
    const own = configPath !== undefined && commandLine.config === undefined
      ? ["--config", configPath, ...args]
      : args;
    try {
      return await runPrimary(workers, workerCommand(Deno.execPath(), [], own), {
        logger,
        addSignalListener: (signal, handler) => Deno.addSignalListener(signal, handler),
        spawn: spawnWorker,
      });
    } finally {
      await output.flush(LOG_FLUSH_TIMEOUT_MS);
    }
  }
  try {
    await startOtlpPush(service.options.telemetry, metrics.push, {
      readTextFile: Deno.readTextFile,
      logger,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return exitForConfigError(error);
  }
  const reload = commandLine.dev
    ? undefined
    : (previous: Service) => loadService(commandLine, io, previous);
  try {
    return await supervise({ service, configPath }, { reload, notice: devNotice }, {
      logger,
      listen,
      watchFiles,
      addSignalListener: (signal, handler) => Deno.addSignalListener(signal, handler),
    });
  } finally {
    await output.flush(LOG_FLUSH_TIMEOUT_MS);
  }
}

/** `--explain` / `--test-policy`: the configuration's options only, no keys, no network. */
async function checkPolicy(commandLine: CommandLine): Promise<number> {
  const getEnv = (name: string) => Deno.env.get(name);
  const io = { readTextFile: Deno.readTextFile, print: (line: string) => console.log(line) };
  try {
    const { options } = await loadConfig(locateConfig(commandLine.config, getEnv), {
      readTextFile: Deno.readTextFile,
      getEnv,
    });
    return commandLine.explain
      ? await runExplain(options, commandLine.explain, io)
      : await runPolicyTests(options, commandLine.testPolicy!, io);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return exitForConfigError(error);
  }
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
  if (commandLine.worker !== undefined && options.server.workers <= 1) {
    // This process is one of several whatever the file now says: checked as a single process,
    // a reload could choose state in memory for a DPoP site and give each worker its own
    // replay cache.
    throw new ConfigError(
      "RegistryTokenService:Server:Workers",
      "this process is one of several workers: a change to Server:Workers takes effect only " +
        "after a restart, so the new configuration must keep more than one",
    );
  }
  const service = await createService(options, io, previous);
  return { service, configPath: path };
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
