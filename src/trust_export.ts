/**
 * `--export-trust DIR`: writes the files a registry needs to trust this service's tokens and
 * prints the matching `auth.token` settings.
 *
 * @module
 */

import { randomSerialHex } from "./token/certificate.ts";
import { currentPublishedKeys, type Service } from "./service.ts";
import { registryConfigSnippets, registryTrust, TRUST_FILES } from "./token/registry_trust.ts";

/** Writes `jwks.json` and `rootcertbundle.pem` into `dir`; returns what to print. */
export async function exportTrust(service: Service, dir: string, now: Date): Promise<string> {
  const published = currentPublishedKeys(service.publishedKeys, now);
  const keys = [service.signingKey, ...published];
  const trust = await registryTrust(keys, now, randomSerialHex);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/${TRUST_FILES.jwks}`,
    `${JSON.stringify(trust.jwks, null, 2)}\n`,
  );
  await Deno.writeTextFile(`${dir}/${TRUST_FILES.bundle}`, trust.bundlePem);
  const generated = trust.generatedFor.length
    ? `; self-signed certificates generated for ${trust.generatedFor.join(", ")}, which had none`
    : "";
  return `# wrote ${dir}/${TRUST_FILES.jwks} and ${dir}/${TRUST_FILES.bundle}: signing kid ${service.signingKey.kid}${
    published.length ? `, also published ${published.map((key) => key.kid).join(", ")}` : ""
  }${generated}
${registryConfigSnippets(service.options, dir, keys)}`;
}
