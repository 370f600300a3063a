/**
 * Watches the config and key files for changes (`Server:ReloadOnChange`), so an edited or
 * rotated file is picked up without a signal. Editors and config tools write several events per
 * save, so changes are debounced into one reload.
 *
 * @module
 */

import { dirname, resolve } from "node:path";

/** A running watch; `close` stops it. */
export interface FileWatch {
  close(): void;
}

/** Calls `onChange` once things settle after any of `files` is written, created or removed. */
export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  debounceMs = 500,
): FileWatch {
  const watched = new Set(files.map((file) => resolve(file)));
  const watcher = Deno.watchFs([...new Set([...watched].map((file) => dirname(file)))], {
    recursive: false,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access" || !event.paths.some((path) => watched.has(path))) continue;
        clearTimeout(timer);
        timer = setTimeout(onChange, debounceMs);
      }
    } catch {
      // The watcher was closed.
    }
  })();
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
