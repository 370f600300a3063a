/**
 * Runs a service for its whole life in the process: listens, reloads on SIGHUP (and on file
 * changes with `Server:ReloadOnChange`), drains on SIGTERM/SIGINT, and closes every service it
 * retires or stops. A reload that fails is logged and the running configuration keeps serving.
 *
 * @module
 */

import { configuredFiles } from "./config/files.ts";
import { ConfigError } from "./config/error.ts";
import { configurationWarnings } from "./config/warnings.ts";
import type { FileWatch, watchFiles } from "./config/watch.ts";
import type { listen, RunningServer } from "./http/serve.ts";
import type { Logger } from "./observability/logger.ts";
import type { Service } from "./service.ts";
import { EXIT_RESTART, EXIT_STARTUP } from "./exit_codes.ts";

/** A service and the config file it was built from (none for the development profile). */
export interface LoadedService {
  readonly service: Service;
  readonly configPath?: string;
}

/** The signals the supervisor acts on. */
export type SupervisedSignal = "SIGHUP" | "SIGTERM" | "SIGINT";

/** What the supervisor takes from the process, injected so tests can drive it in-process. */
export interface SupervisorIo {
  readonly logger: Logger;
  readonly listen: typeof listen;
  readonly watchFiles: typeof watchFiles;
  readonly addSignalListener: (signal: SupervisedSignal, handler: () => void) => void;
}

/** What to supervise besides the initial service. */
export interface Supervision {
  /** Builds the next service from the configuration; absent for the development profile. */
  readonly reload?: (previous: Service) => Promise<LoadedService>;
  /** Printed on stderr once listening (the development profile's notice). */
  readonly notice?: string;
}

/** Serves `initial` until SIGTERM/SIGINT or a dead listener, and returns the exit code. */
export async function supervise(
  initial: LoadedService,
  supervision: Supervision,
  io: SupervisorIo,
): Promise<number> {
  const { logger } = io;
  let loaded = initial;
  let current = initial.service;
  prefetchAuthorityKeys(current, logger);
  let server: RunningServer;
  try {
    server = await io.listen(current.options.server, current.tls, (request, connection) =>
      // Read per request, so a reload takes effect for the very next one.
      current.fetch(request, connection));
  } catch (error) {
    // Binding and TLS set-up problems are operator errors: one line, no stack trace.
    const { host, port } = current.options.server;
    console.error(`startup error: cannot listen on ${host}:${port}: ${(error as Error).message}`);
    await current.close();
    return EXIT_STARTUP;
  }
  // One retirement after another: a service may close parts it carried over from the one
  // before, whose requests use them too, so it closes only once that one has closed.
  let retiring = Promise.resolve();
  const retire = (previous: Service, successor: Service) => {
    retiring = retiring.then(() => previous.close(successor)).catch((error) =>
      logger.log("warn", `closing the replaced configuration failed: ${(error as Error).message}`)
    );
  };
  let reloading = Promise.resolve();
  // Set once a stop begins: a reload then would build a service nothing ever closes.
  let stopping = false;
  let watch: FileWatch | undefined;
  const rewatch = () => {
    watch?.close();
    watch = current.options.server.reloadOnChange && supervision.reload
      ? io.watchFiles(watchedFiles(loaded), reload)
      : undefined;
  };
  const reload = () => {
    reloading = reloading.then(async () => {
      if (stopping) return;
      if (!supervision.reload) {
        return logger.log("warn", "reload ignored: the development profile has no config file");
      }
      try {
        loaded = await supervision.reload(current);
        warnAboutRestartOnlySettings(current, loaded.service, logger);
        retire(current, loaded.service);
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
  io.addSignalListener("SIGHUP", reload);
  rewatch();

  const stopped = new Promise<void>((resolve) => {
    const stop = () => resolve();
    io.addSignalListener("SIGTERM", stop);
    io.addSignalListener("SIGINT", stop);
  });
  // Announced only now: a supervisor (or test) that signals as soon as it reads this line must
  // find the handlers in place, not the default action that kills the process.
  logger.log("info", "listening", {
    address: server.hostname,
    port: server.port,
    tls: current.tls !== undefined,
    kid: current.signingKey.kid,
  });
  for (const warning of configurationWarnings(current.options, current)) {
    logger.log("warn", warning);
  }
  if (supervision.notice) console.error(supervision.notice);
  const failure = await Promise.race([stopped, server.failed]);
  stopping = true;
  if (failure) {
    logger.log("error", `cannot serve any more, exiting for a restart: ${failure}`);
    await current.close();
    return EXIT_RESTART;
  }
  const drainSeconds = current.options.server.drainTimeoutSeconds;
  const drained = await drain(server, drainSeconds);
  watch?.close();
  // Not after the retirements still waiting for requests: the drain waited as long as it may.
  await current.close();
  logger.log(drained ? "info" : "warn", drained ? "stopped" : "stopped after the drain timeout", {
    drain_timeout_s: drainSeconds,
  });
  return 0;
}

/** Shuts the server down; false when requests were still running after `seconds`. */
async function drain(server: RunningServer, seconds: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drained = await Promise.race([
    server.shutdown().then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), seconds * 1000)),
  ]);
  clearTimeout(timer);
  return drained;
}

/** The files whose change `Server:ReloadOnChange` reacts to. */
function watchedFiles({ service, configPath }: LoadedService): string[] {
  const files = configuredFiles(service.options).reloadable;
  return configPath === undefined ? [...files] : [configPath, ...files];
}

function prefetchAuthorityKeys(service: Service, logger: Logger): void {
  const several = service.authorityKeys.size > 1;
  for (const [name, keys] of service.authorityKeys) {
    const whose = several ? `Authority "${name}" keys` : "Authority keys";
    keys.refresh().catch((error) =>
      logger.log("warn", `${whose} not loaded yet: ${(error as Error).message}`)
    );
  }
}

/** The listener and the OTLP push are not rebuilt by a reload; say so when their settings changed. */
function warnAboutRestartOnlySettings(before: Service, after: Service, logger: Logger): void {
  const listening = (service: Service) => {
    const { host, port, tls, workers } = service.options.server;
    return JSON.stringify({ host, port, tls, workers });
  };
  // The TLS material is compared by content: a client CA replaced in place is a change too.
  if (
    listening(before) !== listening(after) ||
    JSON.stringify(before.tls) !== JSON.stringify(after.tls)
  ) {
    logger.log(
      "warn",
      "Server:Host, Server:Port, Server:Tls and Server:Workers changes (TLS and client-CA files included) take effect only after a restart",
    );
  }
  if (JSON.stringify(before.options.telemetry) !== JSON.stringify(after.options.telemetry)) {
    logger.log("warn", "Telemetry changes take effect only after a restart");
  }
}
