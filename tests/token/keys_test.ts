import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, importJWK, jwtVerify, SignJWT } from "jose";
import {
  KeyLoadError,
  type KeyLoadErrorCode,
  loadSigningKey,
  signatureParams,
  type SigningKey,
  type SigningKeySource,
} from "../../src/token/keys.ts";

/** libtrust key ID of tests/fixtures/keys/rsa.pkcs8.pem, as printed by generate.sh (openssl). */
const EXPECTED_KID = "XVQH:77JW:B6K7:X5CE:BJTA:AA6J:X6RA:5IR6:5YNT:UIT6:2SUI:4TXQ";
/** libtrust key ID of tests/fixtures/keys/ec-p256.pkcs8.pem, as printed by generate.sh. */
const EXPECTED_EC_KID = "CHVQ:OO53:WBYF:6LS3:SYOK:6P5O:6HWK:F5C7:O2ZV:GG3I:YFG6:F3BR";
const PASSWORD = "fixture-password";
const WRONG_PASSWORD = "Wr0ng-Passw0rd";

function fixture(name: string): string {
  return new URL(`../fixtures/keys/${name}`, import.meta.url).pathname;
}

/** Base64 DER bodies of the CERTIFICATE blocks of a PEM fixture, in file order. */
async function certificatesIn(name: string): Promise<string[]> {
  const pem = await Deno.readTextFile(fixture(name));
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)]
    .map(([, body]) => body.replace(/\s+/g, ""));
}

/** A readFile over in-memory files, for inputs not worth a fixture. */
function memory(files: Record<string, string | Uint8Array>) {
  return (path: string): Promise<Uint8Array> => {
    const content = files[path];
    if (content === undefined) return Promise.reject(new Deno.errors.NotFound(`no ${path}`));
    return Promise.resolve(
      typeof content === "string" ? new TextEncoder().encode(content) : content,
    );
  };
}

async function loadError(
  source: SigningKeySource,
  readFile?: (path: string) => Promise<Uint8Array>,
): Promise<KeyLoadError> {
  try {
    await loadSigningKey(source, readFile);
  } catch (err) {
    assert.ok(err instanceof KeyLoadError, `expected a KeyLoadError, got ${err}`);
    return err;
  }
  assert.fail("expected loadSigningKey to fail");
}

const reference = await loadSigningKey({ keyPath: fixture("rsa.pkcs8.pem") });

/** Other files holding a reference key: what they are, the file, its password. */
type Formats = [description: string, file: string, password?: string][];

/** Tests that each of `formats` loads to `reference`'s algorithm, kid and public key. */
function testSameKey(reference: SigningKey, formats: Formats) {
  for (const [description, file, keyPassword] of formats) {
    Deno.test(`loadSigningKey reads ${description} to the same ${reference.alg} kid and public key`, async () => {
      const key = await loadSigningKey({ keyPath: fixture(file), keyPassword });
      assert.equal(key.alg, reference.alg);
      assert.equal(key.kid, reference.kid);
      assert.deepEqual(key.publicJwk, reference.publicJwk);
    });
  }
}

testSameKey(reference, [
  ["a PKCS#1 PEM", "rsa.pkcs1.pem"],
  [
    "an encrypted PKCS#8 PEM from openssl pkcs8 -topk8 -v2 aes-256-cbc",
    "rsa.pkcs8-aes256.pem",
    PASSWORD,
  ],
  ["an encrypted PKCS#8 PEM as openssl genpkey -aes256 writes it", "rsa.pkey-aes256.pem", PASSWORD],
  ["a PKCS#1 PEM with legacy DES-EDE3 PEM encryption", "rsa.pkcs1-des3.pem", PASSWORD],
  ["a PEM holding key and certificate", "rsa.key-and-cert.pem"],
  ["a modern AES-256 PFX", "rsa.modern.pfx", PASSWORD],
  ["a legacy 3DES/RC2 PFX", "rsa.legacy.pfx", PASSWORD],
  ["a modern PFX with a non-ASCII password", "rsa.modern-utf8.pfx", "fixture-pässword"],
]);

Deno.test("loadSigningKey names a PKCS#8 key by its libtrust key ID", () => {
  assert.equal(reference.alg, "RS256");
  assert.equal(reference.kid, EXPECTED_KID);
  assert.deepEqual(reference.certificateChain, []);
});

Deno.test("loadSigningKey returns a non-extractable RS256 private key that only signs", () => {
  const { privateKey, publicKey } = reference;
  assert.equal(privateKey.extractable, false);
  assert.deepEqual(privateKey.usages, ["sign"]);
  assert.deepEqual(publicKey.usages, ["verify"]);
  const algorithm = privateKey.algorithm as RsaHashedKeyAlgorithm;
  assert.equal(algorithm.name, "RSASSA-PKCS1-v1_5");
  assert.equal(algorithm.hash.name, "SHA-256");
  assert.equal(algorithm.modulusLength, 2048);
});

Deno.test("loadSigningKey returns a private key whose signatures verify with its public key", async () => {
  const data = new TextEncoder().encode("registry token");
  const signature = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", reference.privateKey, data);
  assert.ok(
    await crypto.subtle.verify("RSASSA-PKCS1-v1_5", reference.publicKey, signature, data),
  );
});

Deno.test("loadSigningKey returns a public JWK that verifies a jose-signed RS256 token", async () => {
  const token = await new SignJWT({ sub: "alice" })
    .setProtectedHeader({ alg: reference.alg, kid: reference.kid })
    .sign(reference.privateKey);
  const { payload, protectedHeader } = await jwtVerify(
    token,
    await importJWK(reference.publicJwk, "RS256"),
  );
  assert.equal(payload.sub, "alice");
  assert.equal(protectedHeader.kid, EXPECTED_KID);
});

Deno.test("loadSigningKey publishes only kty, n, e, kid, alg and use in the public JWK", () => {
  const { n, e, ...rest } = reference.publicJwk;
  assert.match(n!, /^[A-Za-z0-9_-]{342}$/);
  assert.equal(e, "AQAB");
  assert.deepEqual(rest, { kty: "RSA", kid: EXPECTED_KID, alg: "RS256", use: "sig" });
});

Deno.test("loadSigningKey uses the configured keyId instead of the libtrust ID", async () => {
  const key = await loadSigningKey({ keyPath: fixture("rsa.pkcs8.pem"), keyId: "signing-2025" });
  assert.equal(key.kid, "signing-2025");
  assert.equal(key.publicJwk.kid, "signing-2025");
});

Deno.test("loadSigningKey reads a legacy 3DES PFX and returns its certificate chain", async () => {
  const key = await loadSigningKey({ keyPath: fixture("rsa.legacy.pfx"), keyPassword: PASSWORD });
  assert.deepEqual(key.certificateChain, await certificatesIn("rsa.chain.pem"));
});

Deno.test("loadSigningKey reads a modern AES PFX and returns its certificate chain", async () => {
  const key = await loadSigningKey({ keyPath: fixture("rsa.modern.pfx"), keyPassword: PASSWORD });
  assert.deepEqual(key.certificateChain, await certificatesIn("rsa.chain.pem"));
});

Deno.test("loadSigningKey returns the certificate from a key-and-certificate PEM", async () => {
  const key = await loadSigningKey({ keyPath: fixture("rsa.key-and-cert.pem") });
  assert.deepEqual(key.certificateChain, await certificatesIn("rsa.cert.pem"));
});

Deno.test("loadSigningKey puts the certificate matching the key first when a PEM lists it last", async () => {
  const key = await loadSigningKey({ keyPath: fixture("rsa.key-and-chain-reversed.pem") });
  assert.deepEqual(key.certificateChain, await certificatesIn("rsa.chain.pem"));
});

Deno.test("loadSigningKey reads the chain from certificatePath, leaf first", async () => {
  const key = await loadSigningKey({
    keyPath: fixture("rsa.pkcs8.pem"),
    certificatePath: fixture("rsa.chain.pem"),
  });
  assert.deepEqual(key.certificateChain, await certificatesIn("rsa.chain.pem"));
});

Deno.test("loadSigningKey appends certificatePath to the key file's certificates once each", async () => {
  const key = await loadSigningKey({
    keyPath: fixture("rsa.modern.pfx"),
    keyPassword: PASSWORD,
    certificatePath: fixture("rsa.chain.pem"),
  });
  assert.deepEqual(key.certificateChain, await certificatesIn("rsa.chain.pem"));
});

// EC keys (ES256, ES384).
const ecReference = await loadSigningKey({ keyPath: fixture("ec-p256.pkcs8.pem") });

testSameKey(ecReference, [
  ["a SEC 1 EC PEM", "ec-p256.sec1.pem"],
  ["an encrypted PKCS#8 EC PEM", "ec-p256.pkcs8-aes256.pem", PASSWORD],
  ["a SEC 1 EC PEM with legacy DES-EDE3 PEM encryption", "ec-p256.sec1-des3.pem", PASSWORD],
  ["a PEM holding an EC key and its certificate", "ec-p256.key-and-cert.pem"],
  ["a modern AES-256 PFX with an EC key", "ec-p256.modern.pfx", PASSWORD],
  ["a legacy 3DES/RC2 PFX with an EC key", "ec-p256.legacy.pfx", PASSWORD],
]);

Deno.test("loadSigningKey signs with ES256 for a P-256 key, named by its libtrust key ID", () => {
  assert.equal(ecReference.alg, "ES256");
  assert.equal(ecReference.kid, EXPECTED_EC_KID);
  assert.deepEqual(ecReference.certificateChain, []);
  const { privateKey, publicKey } = ecReference;
  assert.equal(privateKey.extractable, false);
  assert.deepEqual(privateKey.usages, ["sign"]);
  assert.deepEqual(publicKey.usages, ["verify"]);
  assert.deepEqual(privateKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });
});

Deno.test("loadSigningKey publishes only kty, crv, x, y, kid, alg and use for an EC key", async () => {
  const { x, y, ...rest } = ecReference.publicJwk;
  assert.match(x!, /^[A-Za-z0-9_-]{43}$/);
  assert.match(y!, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(rest, {
    kty: "EC",
    crv: "P-256",
    kid: EXPECTED_EC_KID,
    alg: "ES256",
    use: "sig",
  });
  // The same point the certificate for the key carries.
  const certificate = new X509Certificate(await Deno.readFile(fixture("ec-p256.cert.pem")));
  const { x: certX, y: certY } = certificate.publicKey.export({ format: "jwk" });
  assert.deepEqual([x, y], [certX, certY]);
});

Deno.test("loadSigningKey signs with ES384 for a P-384 key", async () => {
  const key = await loadSigningKey({ keyPath: fixture("ec-p384.pkcs8.pem") });
  assert.equal(key.alg, "ES384");
  assert.deepEqual(key.privateKey.algorithm, { name: "ECDSA", namedCurve: "P-384" });
  const { x, y, ...rest } = key.publicJwk;
  assert.match(x!, /^[A-Za-z0-9_-]{64}$/);
  assert.match(y!, /^[A-Za-z0-9_-]{64}$/);
  assert.deepEqual(rest, { kty: "EC", crv: "P-384", kid: key.kid, alg: "ES384", use: "sig" });
  assert.match(key.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  const token = await new SignJWT({ sub: "alice" })
    .setProtectedHeader({ alg: "ES384", kid: key.kid })
    .sign(key.privateKey);
  const { payload } = await jwtVerify(token, await importJWK(key.publicJwk, "ES384"));
  assert.equal(payload.sub, "alice");
});

Deno.test("loadSigningKey names an EC key by its RFC 7638 thumbprint when asked", async () => {
  const key = await loadSigningKey({
    keyPath: fixture("ec-p256.pkcs8.pem"),
    keyIdFormat: "thumbprint",
  });
  const certificate = new X509Certificate(await Deno.readFile(fixture("ec-p256.cert.pem")));
  const expected = await calculateJwkThumbprint(await exportJWK(certificate.publicKey));
  assert.equal(key.kid, expected);
  assert.equal(key.publicJwk.kid, expected);
  assert.deepEqual({ ...key.publicJwk, kid: EXPECTED_EC_KID }, ecReference.publicJwk);
});

Deno.test("loadSigningKey returns an EC private key whose signatures verify with its public key", async () => {
  const data = new TextEncoder().encode("registry token");
  const params = signatureParams(ecReference.alg);
  assert.deepEqual(params, { name: "ECDSA", hash: "SHA-256" });
  const signature = await crypto.subtle.sign(params, ecReference.privateKey, data);
  assert.equal(signature.byteLength, 64, "raw r || s, as JWS wants it");
  assert.ok(await crypto.subtle.verify(params, ecReference.publicKey, signature, data));
});

Deno.test("loadSigningKey returns an EC public JWK that verifies a jose-signed ES256 token", async () => {
  const token = await new SignJWT({ sub: "alice" })
    .setProtectedHeader({ alg: ecReference.alg, kid: ecReference.kid })
    .sign(ecReference.privateKey);
  const { payload, protectedHeader } = await jwtVerify(
    token,
    await importJWK(ecReference.publicJwk, "ES256"),
  );
  assert.equal(payload.sub, "alice");
  assert.equal(protectedHeader.alg, "ES256");
  assert.equal(protectedHeader.kid, EXPECTED_EC_KID);
});

Deno.test("loadSigningKey returns the self-signed certificate from an EC key-and-certificate PEM", async () => {
  const key = await loadSigningKey({ keyPath: fixture("ec-p256.key-and-cert.pem") });
  assert.deepEqual(key.certificateChain, await certificatesIn("ec-p256.cert.pem"));
});

for (const file of ["ec-p256.modern.pfx", "ec-p256.legacy.pfx"]) {
  Deno.test(`loadSigningKey returns the EC leaf and its CA from ${file}, byte for byte`, async () => {
    const key = await loadSigningKey({ keyPath: fixture(file), keyPassword: PASSWORD });
    assert.deepEqual(key.certificateChain, await certificatesIn("ec-p256.chain.pem"));
  });
}

Deno.test("loadSigningKey finds the EC leaf in a certificatePath chain and puts it first", async () => {
  const key = await loadSigningKey({
    keyPath: fixture("ec-p256.sec1.pem"),
    certificatePath: fixture("ec-p256.chain.pem"),
  });
  assert.deepEqual(key.certificateChain, await certificatesIn("ec-p256.chain.pem"));
});

// Ed25519 keys (EdDSA).
const edReference = await loadSigningKey({ keyPath: fixture("ed25519.pkcs8.pem") });
const edCertificate = new X509Certificate(await Deno.readFile(fixture("ed25519.cert.pem")));
/** RFC 8037 thumbprint of the Ed25519 fixture, computed from its certificate by node:crypto. */
const EXPECTED_ED_KID = await calculateJwkThumbprint(
  edCertificate.publicKey.export({ format: "jwk" }) as JsonWebKey,
);

testSameKey(edReference, [
  ["an encrypted PKCS#8 Ed25519 PEM", "ed25519.pkcs8-aes256.pem", PASSWORD],
  ["a PEM holding an Ed25519 key and its certificate", "ed25519.key-and-cert.pem"],
  ["a modern AES-256 PFX with an Ed25519 key", "ed25519.modern.pfx", PASSWORD],
  ["a legacy 3DES/RC2 PFX with an Ed25519 key", "ed25519.legacy.pfx", PASSWORD],
]);

Deno.test("loadSigningKey signs with EdDSA for an Ed25519 key, named by its RFC 8037 thumbprint", () => {
  assert.equal(edReference.alg, "EdDSA");
  assert.equal(edReference.kid, EXPECTED_ED_KID);
  assert.deepEqual(edReference.certificateChain, []);
  const { privateKey, publicKey } = edReference;
  assert.equal(privateKey.extractable, false);
  assert.deepEqual(privateKey.usages, ["sign"]);
  assert.deepEqual(publicKey.usages, ["verify"]);
  assert.deepEqual(privateKey.algorithm, { name: "Ed25519" });
  assert.deepEqual(signatureParams("EdDSA"), { name: "Ed25519" });
});

Deno.test("loadSigningKey publishes an Ed25519 key as an OKP JWK with only kty, crv, x, kid, alg, use", () => {
  const { x, ...rest } = edReference.publicJwk;
  assert.equal(x, edCertificate.publicKey.export({ format: "jwk" }).x);
  assert.deepEqual(rest, {
    kty: "OKP",
    crv: "Ed25519",
    kid: EXPECTED_ED_KID,
    alg: "EdDSA",
    use: "sig",
  });
});

Deno.test("loadSigningKey derives an Ed25519 kid as the thumbprint when thumbprint is asked too", async () => {
  const key = await loadSigningKey({
    keyPath: fixture("ed25519.pkcs8.pem"),
    keyIdFormat: "thumbprint",
  });
  assert.equal(key.kid, EXPECTED_ED_KID);
  const named = await loadSigningKey({ keyPath: fixture("ed25519.pkcs8.pem"), keyId: "ed-1" });
  assert.equal(named.kid, "ed-1");
});

Deno.test("loadSigningKey refuses a libtrust key ID for an Ed25519 key, saying why", async () => {
  const error = await loadError({ keyPath: fixture("ed25519.pkcs8.pem"), keyIdFormat: "libtrust" });
  assert.equal(error.code, "KEY_ID_FORMAT_UNSUPPORTED");
  assert.match(error.message, /Ed25519 key, which has no libtrust key ID/);
  assert.match(error.message, /thumbprint/);
});

Deno.test("loadSigningKey returns an Ed25519 public JWK that verifies a jose-signed EdDSA token", async () => {
  const token = await new SignJWT({ sub: "alice" })
    .setProtectedHeader({ alg: edReference.alg, kid: edReference.kid })
    .sign(edReference.privateKey);
  const { payload } = await jwtVerify(token, await importJWK(edReference.publicJwk, "EdDSA"));
  assert.equal(payload.sub, "alice");
});

Deno.test("loadSigningKey returns the Ed25519 leaf and its CA from a PFX or a certificatePath chain", async () => {
  const chain = await certificatesIn("ed25519.chain.pem");
  const fromPfx = await loadSigningKey({
    keyPath: fixture("ed25519.modern.pfx"),
    keyPassword: PASSWORD,
  });
  assert.deepEqual(fromPfx.certificateChain, chain);
  const fromPem = await loadSigningKey({
    keyPath: fixture("ed25519.pkcs8.pem"),
    certificatePath: fixture("ed25519.chain.pem"),
  });
  assert.deepEqual(fromPem.certificateChain, chain);
  const single = await loadSigningKey({ keyPath: fixture("ed25519.key-and-cert.pem") });
  assert.deepEqual(single.certificateChain, await certificatesIn("ed25519.cert.pem"));
});

Deno.test("loadSigningKey refuses unsupported key types with a message naming what is supported", async () => {
  for (
    const [file, what] of [["ed448.pkcs8.pem", "Ed448"], ["ec-p521.pkcs8.pem", "secp521r1"]]
  ) {
    const error = await loadError({ keyPath: fixture(file) });
    assert.equal(error.code, "KEY_TYPE_UNSUPPORTED");
    assert.ok(error.message.includes(what), error.message);
    assert.match(error.message, /RSA key of at least 2048 bits \(RS256\)/);
    assert.match(error.message, /P-256 \(ES256\) or P-384 \(ES384\), or an Ed25519 key \(EdDSA\)/);
  }
});

Deno.test("loadSigningKey reads files through the injected readFile", async () => {
  const pem = await Deno.readFile(fixture("rsa.pkcs8.pem"));
  const key = await loadSigningKey({ keyPath: "/mem/key.pem" }, memory({ "/mem/key.pem": pem }));
  assert.equal(key.kid, EXPECTED_KID);
});

// Errors. Each case: what is configured, the files it may read, the expected code.
const certificateOnly = await Deno.readTextFile(fixture("rsa.cert.pem"));
const rsaKey = await Deno.readTextFile(fixture("rsa.pkcs8.pem"));
const certificateDer = Uint8Array.from(
  atob((await certificatesIn("rsa.cert.pem"))[0]),
  (c) => c.charCodeAt(0),
);

const ERRORS: [
  description: string,
  source: SigningKeySource,
  code: KeyLoadErrorCode,
  files?: Record<string, string | Uint8Array>,
][] = [
  ["a missing key file", { keyPath: fixture("absent.pem") }, "KEY_UNREADABLE"],
  [
    "a missing certificate file",
    { keyPath: fixture("rsa.pkcs8.pem"), certificatePath: fixture("absent.pem") },
    "CERTIFICATE_UNREADABLE",
  ],
  [
    "an encrypted PKCS#8 PEM without a password",
    { keyPath: fixture("rsa.pkcs8-aes256.pem") },
    "KEY_PASSWORD_REQUIRED",
  ],
  [
    "a legacy-encrypted PKCS#1 PEM without a password",
    { keyPath: fixture("rsa.pkcs1-des3.pem") },
    "KEY_PASSWORD_REQUIRED",
  ],
  ["a PFX without a password", { keyPath: fixture("rsa.modern.pfx") }, "KEY_PASSWORD_REQUIRED"],
  [
    "an encrypted PKCS#8 PEM with a wrong password",
    { keyPath: fixture("rsa.pkcs8-aes256.pem"), keyPassword: WRONG_PASSWORD },
    "KEY_PASSWORD_WRONG",
  ],
  [
    "a legacy-encrypted PKCS#1 PEM with a wrong password",
    { keyPath: fixture("rsa.pkcs1-des3.pem"), keyPassword: WRONG_PASSWORD },
    "KEY_PASSWORD_WRONG",
  ],
  [
    "a modern PFX with a wrong password",
    { keyPath: fixture("rsa.modern.pfx"), keyPassword: WRONG_PASSWORD },
    "KEY_PASSWORD_WRONG",
  ],
  [
    "a legacy PFX with a wrong password",
    { keyPath: fixture("rsa.legacy.pfx"), keyPassword: WRONG_PASSWORD },
    "KEY_PASSWORD_WRONG",
  ],
  ["an Ed448 key", { keyPath: fixture("ed448.pkcs8.pem") }, "KEY_TYPE_UNSUPPORTED"],
  [
    "an Ed25519 key certified by another key's certificate",
    { keyPath: fixture("ed25519.pkcs8.pem"), certificatePath: fixture("rsa.cert.pem") },
    "CERTIFICATE_KEY_MISMATCH",
  ],
  [
    "an encrypted PKCS#8 Ed25519 PEM with a wrong password",
    { keyPath: fixture("ed25519.pkcs8-aes256.pem"), keyPassword: WRONG_PASSWORD },
    "KEY_PASSWORD_WRONG",
  ],
  ["an EC P-521 key", { keyPath: fixture("ec-p521.pkcs8.pem") }, "KEY_TYPE_UNSUPPORTED"],
  [
    "a legacy-encrypted SEC 1 EC PEM without a password",
    { keyPath: fixture("ec-p256.sec1-des3.pem") },
    "KEY_PASSWORD_REQUIRED",
  ],
  [
    "a legacy-encrypted SEC 1 EC PEM with a wrong password",
    { keyPath: fixture("ec-p256.sec1-des3.pem"), keyPassword: WRONG_PASSWORD },
    "KEY_PASSWORD_WRONG",
  ],
  [
    "an encrypted PKCS#8 EC PEM with a wrong password",
    { keyPath: fixture("ec-p256.pkcs8-aes256.pem"), keyPassword: WRONG_PASSWORD },
    "KEY_PASSWORD_WRONG",
  ],
  [
    "an EC PFX with a wrong password",
    { keyPath: fixture("ec-p256.modern.pfx"), keyPassword: WRONG_PASSWORD },
    "KEY_PASSWORD_WRONG",
  ],
  [
    "a legacy PEM encryption with an unknown cipher",
    { keyPath: "/mem/key.pem", keyPassword: PASSWORD },
    "KEY_FORMAT_UNSUPPORTED",
    {
      "/mem/key.pem": "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n" +
        "DEK-Info: CAMELLIA-256-CBC,00112233445566778899AABBCCDDEEFF\n\nMAMCAQE=\n" +
        "-----END EC PRIVATE KEY-----\n",
    },
  ],
  [
    "an EC key with an RSA key's certificate",
    { keyPath: fixture("ec-p256.pkcs8.pem"), certificatePath: fixture("rsa.cert.pem") },
    "CERTIFICATE_KEY_MISMATCH",
  ],
  [
    "an RSA key with an EC key's certificate",
    { keyPath: fixture("rsa.pkcs8.pem"), certificatePath: fixture("ec-p256.cert.pem") },
    "CERTIFICATE_KEY_MISMATCH",
  ],
  ["an RSA-1024 key", { keyPath: fixture("rsa-1024.pkcs8.pem") }, "KEY_TOO_SMALL"],
  [
    "a file that is neither PEM nor DER",
    { keyPath: "/mem/key" },
    "KEY_FORMAT_UNSUPPORTED",
    { "/mem/key": "not a key" },
  ],
  [
    "a DER file that is not PKCS#12",
    { keyPath: "/mem/key.der" },
    "KEY_FORMAT_UNSUPPORTED",
    { "/mem/key.der": certificateDer },
  ],
  [
    "a PEM with a certificate but no key",
    { keyPath: "/mem/cert.pem" },
    "KEY_FORMAT_UNSUPPORTED",
    { "/mem/cert.pem": certificateOnly },
  ],
  [
    "a PEM with two private keys",
    { keyPath: "/mem/keys.pem" },
    "KEY_FORMAT_UNSUPPORTED",
    { "/mem/keys.pem": rsaKey + rsaKey },
  ],
  [
    "an OpenSSH private key",
    { keyPath: "/mem/id_rsa" },
    "KEY_FORMAT_UNSUPPORTED",
    {
      "/mem/id_rsa":
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    },
  ],
  [
    "a PEM private key block that does not decode",
    { keyPath: "/mem/key.pem" },
    "KEY_FORMAT_UNSUPPORTED",
    { "/mem/key.pem": "-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n" },
  ],
  [
    "a certificate file without certificates",
    { keyPath: fixture("rsa.pkcs8.pem"), certificatePath: fixture("rsa.pkcs1.pem") },
    "CERTIFICATE_INVALID",
  ],
  [
    "a certificate block that is not X.509",
    { keyPath: "/mem/key.pem" },
    "CERTIFICATE_INVALID",
    {
      "/mem/key.pem": rsaKey + "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
    },
  ],
  [
    "a certificate for another key",
    { keyPath: fixture("rsa.pkcs8.pem"), certificatePath: fixture("ca.cert.pem") },
    "CERTIFICATE_KEY_MISMATCH",
  ],
  [
    "an encrypted key whose certificate is for another key",
    {
      keyPath: fixture("rsa.pkcs8-aes256.pem"),
      keyPassword: PASSWORD,
      certificatePath: fixture("ca.cert.pem"),
    },
    "CERTIFICATE_KEY_MISMATCH",
  ],
];

for (const [description, source, code, files] of ERRORS) {
  Deno.test(`loadSigningKey rejects ${description} with ${code}`, async () => {
    const error = await loadError(source, files ? memory(files) : undefined);
    assert.equal(error.code, code, error.message);
    assert.equal(error.name, "KeyLoadError");
  });
}

Deno.test("loadSigningKey error messages are one line without passwords or key material", async () => {
  for (const [, source, , files] of ERRORS) {
    const { message } = await loadError(source, files ? memory(files) : undefined);
    assert.doesNotMatch(message, /\n/);
    assert.ok(!message.includes(PASSWORD), message);
    assert.ok(!message.includes(WRONG_PASSWORD), message);
    // Messages name the files on purpose; a checkout path is not key material, whatever its length.
    let withoutPaths = message;
    for (const path of [source.keyPath, source.certificatePath]) {
      if (path) withoutPaths = withoutPaths.replaceAll(path, "<path>");
    }
    // No run of base64 long enough to be a fragment of a key or certificate.
    assert.doesNotMatch(withoutPaths, /[A-Za-z0-9+/]{40,}/);
  }
});

Deno.test("loadSigningKey names the unreadable file and reports it as the error's path", async () => {
  const keyPath = fixture("absent.pem");
  const error = await loadError({ keyPath });
  assert.equal(error.path, keyPath);
  assert.ok(error.message.includes(keyPath), error.message);

  const certificatePath = fixture("absent-chain.pem");
  const certificateError = await loadError({ keyPath: fixture("rsa.pkcs8.pem"), certificatePath });
  assert.equal(certificateError.path, certificatePath);
  assert.ok(certificateError.message.includes(certificatePath), certificateError.message);
});

Deno.test("loadSigningKey reports a malformed certificate against the file that holds it", async () => {
  const error = await loadError(
    { keyPath: "/mem/key.pem", certificatePath: "/mem/chain.pem" },
    memory({
      "/mem/key.pem": rsaKey + "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
      "/mem/chain.pem": certificateOnly,
    }),
  );
  assert.equal(error.code, "CERTIFICATE_INVALID");
  assert.equal(error.path, "/mem/key.pem");
  assert.equal(error.message, "certificate 1 in /mem/key.pem is not a valid X.509 certificate");
});
