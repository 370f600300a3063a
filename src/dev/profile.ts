/**
 * The development profile: a working service in one command, with a freshly generated
 * signing key and self-signed certificate, a local development Authority, and a ready-to-use
 * caller token. Nothing is written to disk; it runs only when `--dev` is given.
 *
 * @module
 */

import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { pem } from "../encoding.ts";
import {
  certificatesToPem,
  randomSerialHex,
  selfSignedCertificate,
  validityFrom,
} from "../token/certificate.ts";
import { loadSigningKey } from "../token/keys.ts";
import { type EnvReader, mergeDocument } from "../config/document.ts";
import { buildOptions, type Options } from "../config/options.ts";

/** Issuer of development caller tokens. */
const DEV_AUTHORITY_ISSUER = "registry-token-dev-authority";
const SIGNING_KEY_FILE = "dev:signing-key-and-certificate.pem";
const AUTHORITY_JWKS_FILE = "dev:authority-jwks.json";
const CALLER_TOKEN_HOURS = 12;

/** A generated development setup. */
export interface DevelopmentProfile {
  readonly options: Options;
  /** Serves the generated key files from memory. */
  readonly readFile: (path: string) => Promise<Uint8Array>;
  /** What to tell the developer: caller token, example commands, certificate bundle. */
  readonly notice: string;
}

/** Generates keys and options for local development (env overrides still apply). */
export async function developmentProfile(getEnv: EnvReader): Promise<DevelopmentProfile> {
  const options = developmentOptions(getEnv);
  const signing = await generateSigningFile();
  const authority = await generateKeyPair("ES256");
  const authorityJwk = {
    ...await exportJWK(authority.publicKey),
    kid: "dev-authority",
    alg: "ES256",
  };
  const callerToken = await new SignJWT({
    scope: options.authorities[0].requiredScopes.join(" "),
    "stellaops:plan": "dev",
  })
    .setProtectedHeader({ alg: "ES256", kid: authorityJwk.kid })
    .setIssuer(DEV_AUTHORITY_ISSUER)
    .setSubject("dev-user")
    .setIssuedAt()
    .setExpirationTime(`${CALLER_TOKEN_HOURS}h`)
    .sign(authority.privateKey);

  const files = new Map([
    [SIGNING_KEY_FILE, new TextEncoder().encode(signing.pem)],
    [AUTHORITY_JWKS_FILE, new TextEncoder().encode(JSON.stringify({ keys: [authorityJwk] }))],
  ]);
  const readFile = (path: string) => {
    const content = files.get(path);
    return content ? Promise.resolve(content) : Promise.reject(new Deno.errors.NotFound(path));
  };
  return { options, readFile, notice: notice(options, callerToken, signing.certificatePem) };
}

/** Options of the development profile (before keys exist), with env overrides applied. */
export function developmentOptions(getEnv: EnvReader): Options {
  return buildOptions(mergeDocument(developmentDocument(), getEnv));
}

function developmentDocument() {
  return {
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 5001 },
      Authority: { Issuer: DEV_AUTHORITY_ISSUER, JwksPath: AUTHORITY_JWKS_FILE },
      Signing: { Issuer: "registry-token-dev", KeyPath: SIGNING_KEY_FILE },
      Plans: [
        { Name: "dev", Repositories: [{ Pattern: "*", Actions: ["*"] }] },
        { Name: "read-only", Repositories: [{ Pattern: "*", Actions: ["pull"] }] },
      ],
      DefaultPlan: "read-only",
    },
  };
}

/** A fresh RSA-2048 key and a 30-day self-signed certificate for it, as one PEM file. */
async function generateSigningFile(): Promise<{ pem: string; certificatePem: string }> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const keyPem = pem(
    "PRIVATE KEY",
    new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
  );
  const key = await loadSigningKey(
    { keyPath: SIGNING_KEY_FILE },
    () => Promise.resolve(new TextEncoder().encode(keyPem)),
  );
  const certificatePem = certificatesToPem([
    await selfSignedCertificate(key, {
      commonName: "registry-token development signing key",
      ...validityFrom(new Date(), 30),
      serialHex: randomSerialHex(),
    }),
  ]);
  return { pem: `${keyPem}${certificatePem}`, certificatePem };
}

function notice(options: Options, callerToken: string, certificatePem: string): string {
  const base = `http://${options.server.host}:${options.server.port}`;
  return `
Registry Token Service — DEVELOPMENT PROFILE (generated keys, in memory only; never use in production)

Caller token from the development Authority (subject dev-user, plan "dev", valid ${CALLER_TOKEN_HOURS}h):
export CALLER_TOKEN='${callerToken}'

Ask for a registry token:
  curl -s -u "oauth2accesstoken:$CALLER_TOKEN" '${base}/token?service=registry.local&scope=repository:demo/app:pull,push'
  curl -s -H "Authorization: Bearer $CALLER_TOKEN" '${base}/token?service=registry.local&scope=repository:demo/app:pull'

Point a registry at it (distribution 2.8: auth.token.realm ${base}/token, service registry.local,
issuer ${options.signing.issuer}, rootcertbundle = the certificate below), then e.g.:
  skopeo copy --dest-tls-verify=false --dest-creds "oauth2accesstoken:$CALLER_TOKEN" \\
    oci:./image docker://127.0.0.1:5000/demo/app:latest

Signing certificate (rootcertbundle):
${certificatePem}`;
}
