/**
 * Reference ceiling: how many signatures per second this runtime makes in-process, with a
 * given number of signatures in flight (1 = one core's serial rate). Prints one number.
 *
 * With `verify-and-sign`, each signature is preceded by the check of an RS256 signature, as
 * every uncached request verifies its caller's Authority token first: the most scenario (a)
 * could reach if HTTP, parsing and logging cost nothing.
 *
 * Usage: deno run bench/sign_ceiling.ts <RS256|ES256> <concurrency> <seconds> [sign|verify-and-sign]
 *
 * @module
 */

const [alg, concurrencyText, secondsText, mode = "sign"] = Deno.args;
const RSA = {
  generate: {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  },
  sign: { name: "RSASSA-PKCS1-v1_5" },
};
const params = alg === "ES256"
  ? { generate: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } }
  : RSA;
const usages: KeyUsage[] = ["sign", "verify"];
const { privateKey } = await crypto.subtle.generateKey(
  params.generate,
  false,
  usages,
) as CryptoKeyPair;
// Token-sized inputs: what the service signs, and a caller token's signing input.
const input = new TextEncoder().encode("x".repeat(700));
const callerInput = new TextEncoder().encode("y".repeat(500));
const authority = await crypto.subtle.generateKey(RSA.generate, false, usages) as CryptoKeyPair;
const callerSignature = await crypto.subtle.sign(RSA.sign, authority.privateKey, callerInput);

const deadline = performance.now() + Number(secondsText) * 1000;
let signatures = 0;
async function worker() {
  while (performance.now() < deadline) {
    if (mode === "verify-and-sign") {
      const valid = await crypto.subtle.verify(
        RSA.sign,
        authority.publicKey,
        callerSignature,
        callerInput,
      );
      if (!valid) throw new Error("the reference caller signature did not verify");
    }
    await crypto.subtle.sign(params.sign, privateKey, input);
    signatures++;
  }
}
const started = performance.now();
await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
console.log(Math.round(signatures / ((performance.now() - started) / 1000)));
