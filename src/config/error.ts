/**
 * The one error type configuration problems are reported with.
 *
 * @module
 */

/** Invalid configuration: names the key (`RegistryTokenService:Signing:Lifetime`) and problem. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** Colon-separated path of the offending key. */
  readonly key: string;

  /** @param key colon-separated key path @param problem what is wrong with it */
  constructor(key: string, problem: string) {
    super(`${key}: ${problem}`);
    this.key = key;
  }
}
