/**
 * `deno task docs`: rewrites the generated parts of the documentation — today the
 * configuration reference in `docs/configuration.md`, rendered from the config schema.
 *
 * @module
 */

import { withReference } from "../src/config/reference.ts";

const CONFIGURATION_DOC = new URL("../docs/configuration.md", import.meta.url);

const before = await Deno.readTextFile(CONFIGURATION_DOC);
const after = withReference(before);
if (after === before) {
  console.log("docs/configuration.md is up to date");
} else {
  await Deno.writeTextFile(CONFIGURATION_DOC, after);
  console.log("docs/configuration.md: configuration reference rewritten");
}
