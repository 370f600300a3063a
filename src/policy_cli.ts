/**
 * `--explain` and `--test-policy`: read the claims or the cases, decide with
 * `policy_check.ts`, print, and return the exit code (0: all granted / all passed, 3 otherwise;
 * bad input is a `ConfigError`, exit 2).
 *
 * @module
 */

import type { ExplainRequest } from "./cli.ts";
import { ConfigError } from "./config/error.ts";
import type { Options } from "./config/options.ts";
import { EXIT_NOT_GRANTED } from "./exit_codes.ts";
import { parsePolicyCases } from "./policy_cases.ts";
import {
  everythingGranted,
  explainRequest,
  formatExplanation,
  grantedActions,
} from "./policy_check.ts";

/** What the two commands read and write, injected so tests control them. */
export interface PolicyCliIo {
  readonly readTextFile: (path: string) => Promise<string>;
  readonly print: (line: string) => void;
}

/** Runs `--explain`; the claims are JSON text or `@FILE` (read from the working directory). */
export async function runExplain(
  options: Options,
  request: ExplainRequest,
  io: PolicyCliIo,
): Promise<number> {
  const claims = await readClaims(request.claims, io);
  const explanation = explainRequest(options, { ...request, claims });
  for (const line of formatExplanation(explanation)) io.print(line);
  return everythingGranted(explanation) ? 0 : EXIT_NOT_GRANTED;
}

/** Runs `--test-policy FILE`: one line per case, then `N passed, M failed`. */
export async function runPolicyTests(
  options: Options,
  path: string,
  io: PolicyCliIo,
): Promise<number> {
  const cases = parsePolicyCases(await readInput(path, "--test-policy", io), path);
  let failed = 0;
  for (const policyCase of cases) {
    const explanation = explainRequest(options, { ...policyCase, scopes: [policyCase.scope] });
    const decided = grantedActions(explanation, options.policy.partialGrants);
    if (sameActions(decided, policyCase.expect)) {
      io.print(`ok   ${policyCase.name}`);
      continue;
    }
    failed++;
    io.print(
      `FAIL ${policyCase.name}: expected ${list(policyCase.expect)}, decided ${list(decided)}`,
    );
    for (const line of formatExplanation(explanation)) io.print(`       ${line}`);
  }
  io.print(`${cases.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : EXIT_NOT_GRANTED;
}

async function readClaims(
  text: string,
  io: PolicyCliIo,
): Promise<Readonly<Record<string, unknown>>> {
  const source = text.startsWith("@") ? text.slice(1) : "--claims";
  const json = text.startsWith("@") ? await readInput(source, "--claims", io) : text;
  let claims: unknown;
  try {
    claims = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(source, `is not JSON: ${(error as Error).message}`);
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw new ConfigError(source, "must be a JSON object of claims");
  }
  return claims as Record<string, unknown>;
}

async function readInput(path: string, flag: string, io: PolicyCliIo): Promise<string> {
  try {
    return await io.readTextFile(path);
  } catch (error) {
    throw new ConfigError(path, `cannot read the ${flag} file (${(error as Error).message})`);
  }
}

function sameActions(decided: readonly string[], expected: readonly string[]): boolean {
  const [a, b] = [new Set(decided), new Set(expected)];
  return a.size === b.size && [...a].every((action) => b.has(action));
}

function list(actions: readonly string[]): string {
  return `[${actions.join(", ")}]`;
}
