import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { libtrustKeyId } from "../../src/token/libtrust.ts";

function spkiOf(pem: string): Uint8Array {
  return createPublicKey(pem).export({ type: "spki", format: "der" });
}

// Published vector: tests/fixtures/public.pem and the key ID asserted by test_key_id in
// tests/test_rsa_key.py of github.com/realityone/libtrust-py (a port of docker/libtrust).
const LIBTRUST_PY_RSA_4096 = `-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAwq1mCmgn460MC6MnCqra
nQNTgmKuKPl7bNH7Qc6hBDGHlnIjU6q/h2KXF37TC5Y9tsKvQ4b8jd0Sf0dXFHml
8qunSvNnqsSvoD8tSPUKqXS6jrlbGSQXhya7BL1RPGccD5K1xrV73QlI6uFPd3AP
RQYij5EOB8IOWEQujJk/8Mjc0EC9zvk5TUJb59hkOUPZ3CkvSBNLNS8wpQI98FRn
IzHjuaNicqve8054oxmDKifHWy0nnF135cXW8zkH3Zto1q89zD2g+zcVxLcRP84U
he0nSQyg7vEYl4Wl74Eo6/89qL2yE0mEiQN245ACA5B8WFV/t3j/OD3ydOCaAOg2
8vQtzcZ1gh2Ev4RxeR7bKq58g+R0+MMwl7nnW29mbCkcgdVVR4YPmglP7Vb6w7/N
bqFhnxx4E3A05AeevHdMdYCrtgQwogvIhdOHLcVQxJgwy1d2Lg/mv9rovhCJ7d3X
aNEYym6CplCHPMtfnU1LCVkA6b44pFaOVjsAQ8FviFtGXQAToRtwoszSarzslHKY
dPoSGFOsgNJgW67iViOYqGPD97rgJA0VPm0POMNHGw/R6o+08KhDF/OI1EDckmjX
hUggY/WCqWDxD77Ezd/wr9Zlbv/uSIEL9ifvBLq06lLcXMLrQbJrwMbDrngMZMAc
UkTzThmtxNs4uwu45R+zfKcCAwEAAQ==
-----END PUBLIC KEY-----
`;

Deno.test("libtrustKeyId matches the key ID libtrust-py publishes for its RSA test key", async () => {
  assert.equal(
    await libtrustKeyId(spkiOf(LIBTRUST_PY_RSA_4096)),
    "IIYO:OWAZ:MBMG:2SIK:IK2I:OP5Z:H6QR:KN6Y:QUGO:BUWN:TYW3:JXVW",
  );
});

Deno.test("libtrustKeyId matches the EC key ID in Distribution's schema 1 manifest example", async () => {
  // The signature header jwk of the example manifest in docs/spec/manifest-v2-1.md of
  // github.com/distribution/distribution.
  const jwk = {
    crv: "P-256",
    kty: "EC",
    x: "3gAwX48IQ5oaYQAYSxor6rYYc_6yjuLCjtQ9LUakg4A",
    y: "t72ge6kIA1XOjqjVoEOiPPAURltJFBMGDSQvEGVB010",
  };
  const key = await crypto.subtle.importKey(
    "jwk",
    jwk,
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["verify"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", key));
  assert.equal(
    await libtrustKeyId(spki),
    "OD6I:6DRK:JXEJ:KBM4:255X:NSAA:MUSF:E4VM:ZI6W:CUN2:L4Z6:LSF4",
  );
});

/** Key ID of tests/fixtures/keys/rsa.pkcs8.pem as printed by generate.sh, computed there with
 * `openssl pkey -pubout -outform DER | openssl dgst -sha256 -binary | head -c 30 | base32`. */
const EXPECTED_KID = "XVQH:77JW:B6K7:X5CE:BJTA:AA6J:X6RA:5IR6:5YNT:UIT6:2SUI:4TXQ";

Deno.test("libtrustKeyId agrees with the openssl | base32 pipeline of generate.sh", async () => {
  const pem = await Deno.readTextFile(new URL("../fixtures/keys/rsa.pkcs8.pem", import.meta.url));
  assert.equal(await libtrustKeyId(spkiOf(pem)), EXPECTED_KID);
});

Deno.test("libtrustKeyId accepts a view into a larger buffer", async () => {
  const spki = spkiOf(LIBTRUST_PY_RSA_4096);
  const padded = new Uint8Array(spki.length + 8);
  padded.set(spki, 4);
  assert.equal(
    await libtrustKeyId(padded.subarray(4, 4 + spki.length)),
    "IIYO:OWAZ:MBMG:2SIK:IK2I:OP5Z:H6QR:KN6Y:QUGO:BUWN:TYW3:JXVW",
  );
});
