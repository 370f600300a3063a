/**
 * Reference ceiling: how many signatures per second this runtime makes in-process, with a
 * given number of signatures in flight (1 = one core's serial rate). Prints one number.
 *
 * With a caller algorithm, each signature is preceded by the check of a signature of that
 * algorithm, as every uncached request verifies its caller's Authority token first: the most
 * scenario (a) could reach if HTTP, parsing and logging cost nothing. With `none` instead of a
 * signing algorithm it only verifies: the caller-verification ceiling, which bounds (a) once
 * signing is cheap (Ed25519).
 *
 * Usage: deno run bench/sign_ceiling.ts <RS256|ES256|EdDSA|none> <concurrency> <seconds>
 *          [RS256|EdDSA]
 *
 * @module
 */

const [alg, concurrencyText, secondsText, callerAlg] = Deno.args;

/** WebCrypto parameters of the JWS algorithms measured here. */
interface Algorithm {
  generate: AlgorithmIdentifier | RsaHashedKeyGenParams | EcKeyGenParams;
  sign: AlgorithmIdentifier | EcdsaParams;
}
const ALGORITHMS: Record<string, Algorithm> = {
  RS256: {
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    sign: { name: "RSASSA-PKCS1-v1_5" },
  },
  ES256: {
    generate: { name: "ECDSA", namedCurve: "P-256" },
    sign: { name: "ECDSA", hash: "SHA-256" },
  },
  EdDSA: { generate: { name: "Ed25519" }, sign: { name: "Ed25519" } },
};

const usages: KeyUsage[] = ["sign", "verify"];
const signing = alg === "none" ? undefined : ALGORITHMS[alg];
const sign = signing && await signer(signing);
// Token-sized inputs: what the service signs, and a caller token's signing input.
const input = new TextEncoder().encode("x".repeat(700));
const callerInput = new TextEncoder().encode("y".repeat(500));
const verifyCaller = callerAlg ? await callerVerifier(ALGORITHMS[callerAlg]) : undefined;

async function signer(algorithm: Algorithm) {
  const { privateKey } = await crypto.subtle.generateKey(
    algorithm.generate,
    false,
    usages,
  ) as CryptoKeyPair;
  return () => crypto.subtle.sign(algorithm.sign, privateKey, input);
}

async function callerVerifier(caller: Algorithm) {
  const authority = await crypto.subtle.generateKey(
    caller.generate,
    false,
    usages,
  ) as CryptoKeyPair;
  const signature = await crypto.subtle.sign(caller.sign, authority.privateKey, callerInput);
  return async () => {
    if (!await crypto.subtle.verify(caller.sign, authority.publicKey, signature, callerInput)) {
      throw new Error("the reference caller signature did not verify");
    }
  };
}

const deadline = performance.now() + Number(secondsText) * 1000;
let signatures = 0;
async function worker() {
  while (performance.now() < deadline) {
    await verifyCaller?.();
    await sign?.();
    signatures++;
  }
}
const started = performance.now();
await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
console.log(Math.round(signatures / ((performance.now() - started) / 1000)));
