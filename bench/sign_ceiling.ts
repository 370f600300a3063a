/**
 * Reference ceiling: how many signatures per second this runtime makes in-process, with a
 * given number of signatures in flight (1 = one core's serial rate). Prints one number.
 *
 * Usage: deno run bench/sign_ceiling.ts <RS256|ES256> <concurrency> <seconds>
 *
 * @module
 */

const [alg, concurrencyText, secondsText] = Deno.args;
const params = alg === "ES256"
  ? { generate: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } }
  : {
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    sign: { name: "RSASSA-PKCS1-v1_5" },
  };
const { privateKey } = await crypto.subtle.generateKey(params.generate, false, [
  "sign",
  "verify",
]) as CryptoKeyPair;
// A token-sized signing input, as the service signs.
const input = new TextEncoder().encode("x".repeat(700));
const deadline = performance.now() + Number(secondsText) * 1000;
let signatures = 0;
async function worker() {
  while (performance.now() < deadline) {
    await crypto.subtle.sign(params.sign, privateKey, input);
    signatures++;
  }
}
const started = performance.now();
await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
console.log(Math.round(signatures / ((performance.now() - started) / 1000)));
