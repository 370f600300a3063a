/**
 * Property-based fuzzing of `GET /token` and `POST /token` through the in-process service.
 *
 * For every generated request:
 * - the status is never >= 500 and the body is JSON;
 * - every non-200 answer is `{"errors":[{code,message,detail:{reason}}]}` with a documented
 *   reason whose status and code match the answer;
 * - a 200 is checked by an independent oracle: the caller credential must contain the signed
 *   part of a token the test Authority really issued (or, for random JWT structures, pass an
 *   independent re-implementation of docs/api.md's rules), the registry token must verify with
 *   the service's public key, and every granted access entry must be a syntactically valid
 *   distribution resource, literally requested, and allowed by the caller's plan;
 * - no unhandled rejection, and exactly one request log line per request (no other lines, so no
 *   "unhandled error").
 *
 * Plan rules with templates, `Services` and deny are checked differentially: random plans,
 * subjects, claims, services and scopes, decided by the service (directly and through HTTP,
 * 403 explanations included) and by a reference model written from docs/policy.md.
 *
 * Bounded: a few hundred runs per property, the whole file well under 20 s.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { generateKeyPair, importJWK, type JWTPayload, jwtVerify, SignJWT } from "jose";
import {
  basic,
  createTestAuthority,
  defaultClaims,
  NOW,
  NOW_SECONDS,
} from "../support/authority.ts";
import {
  ORIGIN,
  REGISTRY,
  startTestService,
  testOptions,
  type TestService,
} from "../support/service.ts";
import { explainAuthorization } from "../../src/authz/authorize.ts";
import { parseScopes, type ResourceScope } from "../../src/authz/scope.ts";
import type { ConnectionInfo } from "../../src/http/connection.ts";
import { assertRegistryError } from "../support/http.ts";
import { b64url, signEs256Raw, unb64url } from "../support/raw_jws.ts";

const authority = await createTestAuthority();
const attacker = await generateKeyPair("ES256");
const AUDIENCE = "registry-token-service";
const REQUIRED_SCOPE = "registry.token.issue";
const SKEW = 60;
/** The failed-authentication limiter is off, so every fuzzed request reaches the pipeline. */
const NO_LIMIT = { Server: { FailedAuthLimit: { Burst: 0 } } };
const WITH_AUDIENCE = {
  ...NO_LIMIT,
  Authority: {
    Issuer: authority.issuer,
    JwksPath: "memory:authority-jwks.json",
    Audiences: [AUDIENCE],
  },
};

const unhandled: unknown[] = [];
globalThis.addEventListener("unhandledrejection", (event) => {
  unhandled.push(event.reason);
  event.preventDefault();
});

// ---------------------------------------------------------------------------------------------
// The independent oracle

/** Plans of `tests/support/service.ts`, restated: [type, glob, actions]. */
const PLANS: Record<string, [string, string, string[]][]> = {
  ci: [["repository", "team/*", ["pull", "push"]]],
  reader: [["repository", "*", ["pull"]]],
  admin: [["repository", "*", ["*"]], ["registry", "catalog", ["*"]]],
};
const DEFAULT_PLAN = "reader";

function globMatches(glob: string, name: string): boolean {
  const source = glob.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
    .join("[\\s\\S]*");
  return new RegExp(`^${source}$`).test(name);
}

function planAllows(plan: string, type: string, name: string, action: string): boolean {
  return (PLANS[plan] ?? []).some(([ruleType, glob, actions]) =>
    ruleType === type && globMatches(glob, name) && (actions.includes(action) ||
      actions.includes("*"))
  );
}

/** distribution's reference grammar (reference/regexp.go), written out as one regex. */
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const NAME = new RegExp(
  `^(?:${HOST}(?::[0-9]+)?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`,
);

function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && NAME.test(name);
}

/** The whitespace-separated scope fields of the request, exactly as sent. */
function requestedFields(scopeValues: readonly string[]): string[] {
  return scopeValues.flatMap((value) => value.split(/[ \t\n\r]+/)).filter(Boolean);
}

interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** Asserts that `access` is literally requested, grammatical and allowed by `plan`. */
function assertAccessAllowed(
  access: unknown,
  scopeValues: readonly string[],
  plan: string,
  what: string,
): void {
  assert.ok(Array.isArray(access), `${what}: access is an array`);
  const fields = requestedFields(scopeValues);
  const seen = new Set<string>();
  for (const entry of access as AccessEntry[]) {
    const { type, name, actions } = entry;
    const where = `${what}: granted ${JSON.stringify(entry)} for ${JSON.stringify(fields)}`;
    assert.ok(/^[a-z0-9]+$/.test(type), `${where}: type`);
    assert.ok(isValidName(name), `${where}: name is a valid resource name`);
    assert.ok(Array.isArray(actions) && actions.length > 0, `${where}: actions`);
    assert.ok(!seen.has(`${type}:${name}`), `${where}: one entry per resource`);
    seen.add(`${type}:${name}`);
    for (const action of actions) {
      assert.ok(planAllows(plan, type, name, action), `${where}: plan ${plan} allows ${action}`);
      const requested = fields.some((field) => {
        const first = field.indexOf(":");
        const last = field.lastIndexOf(":");
        const fieldType = field.slice(0, first).replace(/\([a-z0-9]+\)$/, "");
        return fieldType === type && field.slice(first + 1, last) === name &&
          field.slice(last + 1).split(",").includes(action);
      });
      assert.ok(requested, `${where}: ${action} was requested literally`);
    }
  }
}

let registryKey: CryptoKey | undefined;

/** Verifies a registry token with the service's published key and checks its claims. */
/**
 * Checks the token of a 200 answer to `GET path` for the `ci-bot` caller: the query named
 * exactly one service, and the token is for that service and the query's scopes.
 */
async function assertTokenForQuery(
  service: TestService,
  path: string,
  token: unknown,
  plan: string,
  what: string,
): Promise<void> {
  const params = new URL(`${ORIGIN}${path}`).searchParams;
  assert.equal(params.getAll("service").length, 1, "exactly one service");
  await assertRegistryToken(service, token, {
    service: params.get("service")!,
    subject: "ci-bot",
    scopeValues: params.getAll("scope"),
    plan,
  }, what);
}

async function assertRegistryToken(
  service: TestService,
  token: unknown,
  expected: { service: string; subject?: string; scopeValues: readonly string[]; plan: string },
  what: string,
): Promise<JWTPayload> {
  assert.equal(typeof token, "string", `${what}: token`);
  registryKey ??= await importJWK({ ...service.signingKey.publicJwk }, "RS256") as CryptoKey;
  const { payload } = await jwtVerify(token as string, registryKey, { currentDate: NOW });
  assert.ok(/^[\x21-\x7e]{1,255}$/.test(expected.service), `${what}: service is printable`);
  assert.equal(payload.service, expected.service, `${what}: service claim`);
  assert.equal(payload.aud, expected.service, `${what}: aud`);
  if (expected.subject !== undefined) assert.equal(payload.sub, expected.subject, `${what}: sub`);
  assertAccessAllowed(payload.access, expected.scopeValues, expected.plan, what);
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Genuine tokens: the only signed parts a 200 may be built on (besides the random-JWT oracle)

interface Genuine {
  readonly token: string;
  readonly plan: string;
}

const GENUINE: Genuine[] = [];
for (const plan of [undefined, "ci", "admin"]) {
  for (const aud of [undefined, AUDIENCE]) {
    GENUINE.push({
      token: await authority.token({ claims: { "stellaops:plan": plan, aud } }),
      plan: plan ?? DEFAULT_PLAN,
    });
  }
}
const SIGNED_PARTS = new Map(
  GENUINE.map(({ token, plan }) => [token.slice(0, token.lastIndexOf(".") + 1), plan]),
);

/** The genuine token whose signed part `credential` (or its Basic decoding) contains, if any. */
function genuineIn(text: string): Genuine | undefined {
  const candidates = [text];
  for (const word of text.split(/[\s:=]+/)) {
    try {
      candidates.push(
        new TextDecoder().decode(Uint8Array.from(atob(word), (c) => c.charCodeAt(0))),
      );
    } catch {
      // not base64
    }
  }
  for (const [signed, plan] of SIGNED_PARTS) {
    if (candidates.some((candidate) => candidate.includes(signed))) {
      return GENUINE.find((genuine) => genuine.plan === plan && genuine.token.startsWith(signed));
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Harness

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

class Harness {
  requests = 0;
  issued = 0;

  constructor(readonly service: TestService) {}

  static async start(patch: Record<string, unknown> = NO_LIMIT): Promise<Harness> {
    return new Harness(await startTestService(authority, patch));
  }

  async send(path: string, init: RequestInit = {}, connection?: ConnectionInfo): Promise<Answer> {
    this.requests++;
    const response = await this.service.request(path, init, connection);
    const text = await response.text();
    const what = `${init.method ?? "GET"} ${path.slice(0, 200)}`;
    assert.ok(response.status < 500, `${what}: status ${response.status}: ${text.slice(0, 300)}`);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      assert.fail(`${what}: the answer is not JSON: ${text.slice(0, 200)}`);
    }
    if (response.status === 200) this.issued++;
    else assertRegistryError(response.status, body, what);
    return { status: response.status, body };
  }

  /** One log line per request, all of them request lines; no unhandled rejection. */
  finish(minimumIssued = 0): void {
    const lines = this.service.logs.map((line) => JSON.parse(line));
    const requestLines = lines.filter((line) => line.msg === "request");
    assert.equal(requestLines.length, this.requests, "one request log line per request");
    assert.deepEqual(
      lines.filter((line) => line.msg !== "request"),
      [],
      "no other log lines (e.g. unhandled error)",
    );
    assert.deepEqual(lines.filter((line) => line.status >= 500), [], "no 5xx logged");
    assert.deepEqual(unhandled, [], "no unhandled rejection");
    assert.ok(
      this.issued >= minimumIssued,
      `the generators reach success too (${this.issued} of ${this.requests} issued)`,
    );
  }
}

/** Standard base64 of the UTF-8 bytes of `text` (what Basic credentials carry). */
function base64Utf8(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** Whether `value` can be sent as a header value at all (Latin-1, no CR/LF/NUL). */
function isHeaderValue(value: string): boolean {
  try {
    new Headers([["x", value]]);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Generators

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const anyText = (maxLength = 40) =>
  fc.oneof(
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: "grapheme", maxLength }),
    fc.string({ maxLength }),
  );

/** Look-alikes and troublemakers to splice into scopes and query strings. */
const TROUBLE = [
  "..",
  "../",
  "%2F",
  "%2f",
  "%2e%2e",
  "..%2F",
  "%00",
  "%25",
  "%",
  "/",
  "//",
  ":",
  "::",
  ",",
  ",,",
  "*",
  "?",
  "#",
  "&",
  "=",
  "+",
  ";",
  "\\",
  " ",
  "\t",
  "\n",
  "\r\n",
  "\u0000",
  "\u00a0", // no-break space
  "\u200b", // zero-width space
  "\u2028",
  "\ufeff",
  "\uff0f", // fullwidth solidus
  "\u2215", // division slash
  "\u2044", // fraction slash
  "\uff1a", // fullwidth colon
  "\u02d0", // modifier letter triangular colon
  "\u0430", // Cyrillic a
  "\u0435", // Cyrillic e
  "\u043e", // Cyrillic o
  "\u03bf", // Greek omicron
  "\u0131", // dotless i
  "\u212a", // Kelvin sign (lowercases to k)
  "\u017f", // long s (uppercases to S)
  "\ufb00", // ff ligature
  "\u0301", // combining acute
  "\ud800", // lone surrogate
  "\u{1f600}",
  "A",
  "Z",
  "-",
  "_",
  "__",
  ".",
  "[",
  "]",
  "(",
  ")",
  "()",
  "(plugin)",
];

const VALID_SCOPES = [
  "repository:team/app:pull",
  "repository:team/app:pull,push",
  "repository:team/sub/app:push",
  "repository:team/app:*",
  "repository:team/app:delete",
  "repository:other/app:pull",
  "repository:library/alpine:pull",
  "repository:localhost:5000/team/app:pull",
  "repository:registry.example.com/team/app:pull,push",
  "repository:[::1]:5000/team/app:pull",
  "repository(plugin):team/app:pull",
  "repository:team/a.b_c__d--e:pull",
  "registry:catalog:*",
  "registry:catalog:search",
];

type Mutation = (text: string) => string;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.constantFrom(...TROUBLE)).map(([at, piece]): Mutation => (text) => {
    const i = at % (text.length + 1);
    return text.slice(0, i) + piece + text.slice(i);
  }),
  fc.nat().map((at): Mutation => (text) => {
    const i = at % Math.max(text.length, 1);
    return text.slice(0, i) + text.slice(i, i + 1).toUpperCase() + text.slice(i + 1);
  }),
  fc.nat().map((at): Mutation => (text) => {
    const i = at % Math.max(text.length, 1);
    return text.slice(0, i) + text.slice(i + 1);
  }),
  fc.tuple(fc.nat(), fc.constantFrom(...TROUBLE)).map(([at, piece]): Mutation => (text) => {
    const i = at % Math.max(text.length, 1);
    return text.slice(0, i) + piece + text.slice(i + 1);
  }),
  fc.constantFrom<Mutation>(
    (text) => text.toUpperCase(),
    (text) => `${text}/`,
    (text) => `/${text}`,
    (text) => text.replace("/", "//"),
    (text) => text.replace(":", "::"),
    (text) => text.replace(/:([^:]*)$/, "::$1"),
    (text) => text.replace("team/", "team/../"),
    (text) => text.replace("team/", "team/./"),
    (text) => text.replace("team/", "team%2F"),
    (text) => text.replace("team/", "team%2f../admin/"),
    (text) => text.replace(/:[^:]*$/, ":"),
    (text) => text.replace(/^[^:]*/, ""),
    (text) => `${text},`,
    (text) => text.replace(":", ": "),
    (text) => text.replace("team", "te\u0430m"),
    (text) => text.replace("team", "TEAM"),
    (text) => text.replace("pull", "PULL"),
    (text) => text.replace("pull", "pull push"),
    (text) => text.replace("team/app", "team/*"),
    (text) => text.replace("team/app", "*"),
    (text) => text.replace(/app/, "a".repeat(300)),
    (text) => text.normalize("NFKC"),
    (text) => encodeURIComponent(text.toWellFormed()),
  ),
);

const scopeValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VALID_SCOPES) },
  {
    weight: 8,
    arbitrary: fc.tuple(
      fc.constantFrom(...VALID_SCOPES),
      fc.array(mutation, {
        minLength: 1,
        maxLength: 3,
      }),
    ).map(([scope, mutations]) => mutations.reduce((text, mutate) => mutate(text), scope)),
  },
  { weight: 1, arbitrary: anyText(60) },
  {
    weight: 1,
    arbitrary: fc.array(fc.constantFrom(...VALID_SCOPES), { minLength: 2, maxLength: 40 })
      .map((scopes) => scopes.join(" ")),
  },
);

/** Encodes a query parameter one of several ways (only the first is what clients do). */
const encoding = fc.constantFrom<(text: string) => string>(
  (text) => encodeURIComponent(text.toWellFormed()),
  (text) => new URLSearchParams({ x: text }).toString().slice(2),
  (text) => text,
  (text) => encodeURIComponent(encodeURIComponent(text.toWellFormed())),
  (text) => text.replaceAll("/", "%2F").replaceAll(":", "%3A"),
);

const HUGE_LENGTHS = [256, 513, 4_000, 17_000, 70_000];

const parameterName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "service",
      "scope",
      "scope",
      "account",
      "client_id",
      "offline_token",
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("REGISTRY", "Scope", "scope[]", "service ", "%73ervice", "scope%00"),
  },
  { weight: 1, arbitrary: anyText(10) },
);

const parameterValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(REGISTRY, "registry.example", "") },
  { weight: 4, arbitrary: scopeValue },
  { weight: 2, arbitrary: anyText(40) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 30 }).map((bytes) =>
      [...bytes].map((byte) => `%${byte.toString(16).padStart(2, "0")}`).join("")
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...HUGE_LENGTHS), fc.constantFrom("a", "é", "%41", "/"))
      .map(([length, unit]) => unit.repeat(length)),
  },
);

/** A query string: structured parameters (service first, usually) or raw text. */
const queryString = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(
      fc.option(fc.constantFrom(REGISTRY, "registry.example"), { nil: undefined }),
      fc.array(fc.tuple(parameterName, parameterValue, encoding), { maxLength: 6 }),
      fc.constantFrom("&", "&&", ";", "&amp;"),
    ).map(([service, params, separator]) =>
      [
        ...(service ? [`service=${service}`] : []),
        ...params.map(([name, value, encode]) => `${encode(name)}=${encode(value)}`),
      ].join(separator)
    ),
  },
  { weight: 1, arbitrary: anyText(200) },
);

/** Flips, deletes, splices… a genuine token, keeping track of nothing: the oracle decides. */
const mutatedToken: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom(...GENUINE.map(({ token }) => token)),
  fc.constantFrom(...GENUINE.map(({ token }) => token)),
  fc.nat(),
  fc.constantFrom(...B64URL),
  fc.integer({ min: 0, max: 16 }),
  anyText(6),
).map(([token, other, at, char, kind, junk]) => {
  const [h, p, s] = token.split(".");
  const [oh, op, os] = other.split(".");
  const i = at % token.length;
  const reencode = (segment: string, edit: (value: Record<string, unknown>) => void) => {
    const value = JSON.parse(unb64url(segment));
    edit(value);
    return b64url(JSON.stringify(value));
  };
  switch (kind) {
    case 0:
      return token.slice(0, i) + char + token.slice(i + 1);
    case 1:
      return token.slice(0, i) + token.slice(i + 1);
    case 2:
      return token.slice(0, i) + junk + token.slice(i);
    case 3:
      return token.slice(0, i);
    case 4:
      return `${p}.${h}.${s}`;
    case 5:
      return `${h}.${op}.${s}`;
    case 6:
      return `${oh}.${p}.${os}`;
    case 7:
      return `${h}.${p}.`;
    case 8:
      return `${h}.${p}.${s}.${s}`;
    case 9:
      return `${h}.${p.toUpperCase()}.${s}`;
    case 10:
      return `${
        reencode(h, (header) => {
          header[["alg", "kid", "jku", "jwk", "crit", "typ"][at % 6]] = [
            ["none", "HS256", "RS256", "ES384"][at % 4],
            "../../x",
            "https://evil.test/",
            {
              kty: "oct",
            },
            ["x"],
            "JWT",
          ][at % 6];
        })
      }.${p}.${s}`;
    case 11:
      return `${h}.${
        reencode(p, (payload) => {
          const claim = ["stellaops:plan", "exp", "iss", "sub", "aud", "nbf", "cnf"][at % 7];
          payload[claim] =
            ["admin", 1e12, "https://evil.test", "root", [AUDIENCE], 0, null][at % 7];
        })
      }.${s}`;
    case 12:
      return `${token}${junk}`;
    case 13:
      return `${junk}${token}`;
    case 14:
      // The last signature character carries 2 significant bits: some flips decode the same.
      return `${h}.${p}.${s.slice(0, -1)}${char}`;
    case 15:
      return `${h}.${p}.${b64url(new Uint8Array(64))}`;
    default:
      return `${h}.${p}.${s.split("").reverse().join("")}`;
  }
});

const credential = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(...GENUINE.map(({ token }) => token)) },
  { weight: 6, arbitrary: mutatedToken },
  { weight: 1, arbitrary: anyText(80) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 90 }).map(b64url) },
);

const scheme = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom("Bearer", "bearer", "BEARER", "Basic", "DPoP", "dpop"),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom("Digest", "Negotiate", "NTLM", "Token", "JWT", "OAuth", "", "Bear"),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z]{1,10}$/) },
);

const authorization: fc.Arbitrary<string | undefined> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(scheme, fc.constantFrom(" ", "  ", "\t", "", ":"), credential).map((
      [name, separator, value],
    ) =>
      name === "Basic"
        ? `Basic${separator}${base64Utf8(`oauth2accesstoken:${value}`)}`
        : `${name}${separator}${value}`
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(
      fc.constantFrom("oauth2accesstoken", "", "admin", "a:b", "ci-bot"),
      credential,
    ).map(([user, value]) => `Basic ${base64Utf8(`${user}:${value}`)}`),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 80 }).map((bytes) =>
      `Basic ${btoa(String.fromCharCode(...bytes))}`
    ),
  },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0x09, max: 0xff }).map((code) => String.fromCharCode(code)),
      maxLength: 120,
    }),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
).map((value) => value !== undefined && isHeaderValue(value) ? value : undefined);

// ---------------------------------------------------------------------------------------------
// Properties

Deno.test("fuzz: GET /token with random query strings never fails, and grants only what is due", async () => {
  const harness = await Harness.start();
  await fc.assert(
    fc.asyncProperty(
      queryString,
      fc.constantFrom(...GENUINE),
      fc.constantFrom("bearer", "basic", "none"),
      async (query, caller, how) => {
        const path = `/token?${query}`;
        const headers: Record<string, string> = how === "none"
          ? {}
          : { authorization: how === "basic" ? basic(caller.token) : `Bearer ${caller.token}` };
        const answer = await harness.send(path, { headers });
        if (answer.status !== 200) return;
        assert.notEqual(how, "none", "no 200 without credentials");
        await assertTokenForQuery(harness.service, path, answer.body.token, caller.plan, path);
      },
    ),
    { numRuns: 400 },
  );
  harness.finish(1);
});

Deno.test("fuzz: mutated scopes are refused or granted only as valid, requested, allowed names", async () => {
  const harness = await Harness.start();
  await fc.assert(
    fc.asyncProperty(
      fc.array(scopeValue, { minLength: 1, maxLength: 3 }),
      fc.constantFrom(...GENUINE),
      fc.boolean(),
      fc.boolean(),
      async (scopes, caller, viaPost, rawQuery) => {
        if (viaPost) {
          const form = new URLSearchParams({
            grant_type: "password",
            password: caller.token,
            service: REGISTRY,
          });
          for (const scope of scopes) form.append("scope", scope);
          const answer = await harness.send("/token", {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: form.toString(),
          });
          if (answer.status !== 200) return;
          await assertRegistryToken(harness.service, answer.body.access_token, {
            service: REGISTRY,
            subject: "ci-bot",
            scopeValues: new URLSearchParams(form.toString()).getAll("scope"),
            plan: caller.plan,
          }, `POST ${JSON.stringify(scopes)}`);
          assert.equal(typeof answer.body.scope, "string");
          return;
        }
        const query = rawQuery
          ? `service=${REGISTRY}${scopes.map((scope) => `&scope=${scope}`).join("")}`
          : new URLSearchParams([["service", REGISTRY], ...scopes.map((s) => ["scope", s])])
            .toString();
        const path = `/token?${query}`;
        const answer = await harness.send(path, {
          headers: { authorization: `Bearer ${caller.token}` },
        });
        if (answer.status !== 200) return;
        await assertTokenForQuery(
          harness.service,
          path,
          answer.body.token,
          caller.plan,
          `GET ${JSON.stringify(scopes)}`,
        );
      },
    ),
    { numRuns: 500 },
  );
  harness.finish(1);
});

Deno.test("fuzz: random and mutated Authorization headers never yield a token without a genuine one", async () => {
  const harness = await Harness.start();
  const scope = "repository:team/app:pull";
  await fc.assert(
    fc.asyncProperty(authorization, async (value) => {
      const path = `/token?service=${REGISTRY}&scope=${scope}`;
      const answer = await harness.send(path, {
        headers: value === undefined ? {} : { authorization: value },
      });
      if (answer.status !== 200) return;
      const genuine = genuineIn(value ?? "");
      assert.ok(genuine, `200 for ${JSON.stringify(value)}, which holds no genuine token`);
      await assertRegistryToken(harness.service, answer.body.token, {
        service: REGISTRY,
        subject: "ci-bot",
        scopeValues: [scope],
        plan: genuine.plan,
      }, JSON.stringify(value));
    }),
    { numRuns: 500 },
  );
  harness.finish(1);
});

// Random JWT structures: random JSON headers and payloads, signed by the real key or not.

const jsonish = fc.jsonValue({ maxDepth: 2 });

/**
 * A near-valid object (the valid `base` with up to `maxChanges` members replaced or removed,
 * plus maybe a few random members) or, less often, a fully random one.
 */
function structure(
  base: Record<string, unknown>,
  members: Record<string, fc.Arbitrary<unknown>>,
  maxChanges: number,
): fc.Arbitrary<Record<string, unknown>> {
  const names = Object.keys(members);
  const withRemoval = Object.fromEntries(
    names.map((name) => [name, fc.oneof(members[name], fc.constant(undefined))]),
  );
  const extra = fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), jsonish, { maxKeys: 3 }) },
  );
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(
        fc.record(withRemoval),
        fc.subarray(names, { maxLength: maxChanges }),
        extra,
      ).map(([values, chosen, more]) => ({
        ...more,
        ...base,
        ...Object.fromEntries(chosen.map((name) => [name, values[name]])),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.record(members, { requiredKeys: [] }), extra).map((
        [known, more],
      ) => ({ ...more, ...known })),
    },
  );
}

const headerObject = structure({ alg: "ES256", kid: authority.kid }, {
  alg: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom("none", "None", "HS256", "RS256", "ES384", "EdDSA") },
    { weight: 1, arbitrary: fc.constantFrom("es256", "", "ES256 ", "ES256\u0000") },
    { weight: 1, arbitrary: jsonish },
  ),
  kid: fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom("../../etc/passwd", "' OR 1=1 --", "", "other") },
    { weight: 1, arbitrary: jsonish },
  ),
  typ: fc.oneof(fc.constantFrom("JWT", "at+jwt", "dpop+jwt"), jsonish),
  crit: fc.oneof(fc.constantFrom(["b64"], ["x-unknown"], [], "b64", ["b64", "b64"]), jsonish),
  b64: fc.oneof(fc.boolean(), jsonish),
  jku: fc.constant("https://attacker.test/jwks.json"),
  x5u: fc.constant("https://attacker.test/cert.pem"),
  jwk: fc.constant(authority.publicJwk),
  cty: fc.constantFrom("JWT", "json"),
}, 2);

const numericDate = (valid: number) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(valid) },
    {
      weight: 3,
      arbitrary: fc.integer({ min: NOW_SECONDS - 2 * SKEW, max: NOW_SECONDS + 2 * SKEW }),
    },
    { weight: 1, arbitrary: fc.constantFrom(0, -1, 1e300, -1e300, 1.5, 2 ** 53 + 2) },
    { weight: 1, arbitrary: jsonish },
    { weight: 1, arbitrary: fc.constant(String(valid)) },
  );

const payloadObject = structure({
  ...defaultClaims(authority.issuer),
  aud: AUDIENCE,
}, {
  iss: fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(`${authority.issuer}/`, [authority.issuer], "") },
    { weight: 1, arbitrary: jsonish },
  ),
  sub: fc.oneof(fc.constantFrom("ci-bot", "", "root"), jsonish),
  nameidentifier: fc.oneof(fc.constantFrom("name-id", ""), jsonish),
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": fc.oneof(
    fc.constantFrom("dotnet-id", ""),
    jsonish,
  ),
  client_id: fc.oneof(fc.constant("client"), jsonish),
  exp: numericDate(NOW_SECONDS + 600),
  nbf: numericDate(NOW_SECONDS - 10),
  iat: numericDate(NOW_SECONDS),
  aud: fc.oneof(
    fc.constantFrom(AUDIENCE, [AUDIENCE, "other"], ["other"], "other", []),
    jsonish,
  ),
  scope: fc.oneof(
    {
      weight: 2,
      arbitrary: fc.constantFrom(`openid ${REQUIRED_SCOPE}`, "registry.token", [REQUIRED_SCOPE]),
    },
    { weight: 1, arbitrary: jsonish },
  ),
  scp: fc.oneof(fc.constant([REQUIRED_SCOPE]), fc.constant(REQUIRED_SCOPE), jsonish),
  "stellaops:plan": fc.oneof(
    fc.constantFrom("ci", "reader", "admin", "unknown", "", "__proto__", "constructor"),
    jsonish,
  ),
  "stellaops:license": fc.oneof(fc.constantFrom("lic-1", ""), jsonish),
  cnf: fc.oneof(fc.constantFrom({ jkt: "abc" }, { "x5t#S256": "abc" }, {}), jsonish),
  ["__proto__"]: fc.constant({ "stellaops:plan": "admin" }),
}, 3);

/** Text-level edits of the JSON before signing: whitespace, BOM, trailing junk, duplicates. */
const jsonText = <T>(value: fc.Arbitrary<T>) =>
  fc.tuple(value, fc.integer({ min: 0, max: 9 }), fc.string({ maxLength: 4 })).map(
    ([object, kind, junk]) => {
      const text = JSON.stringify(object);
      switch (kind) {
        case 0:
          return ` ${text}\n`;
        case 1:
          return `\ufeff${text}`;
        case 2:
          return `${text}${junk}`;
        case 3:
          return text.replace(/^\{/, '{"iss":"https://evil.test","alg":"none",');
        case 4:
          return `[${text}]`;
        default:
          return text;
      }
    },
  );

type SignatureMode = "real" | "attacker" | "garbage" | "empty" | "zeros";

/** What docs/api.md's rules say about a token whose signature is the Authority's own. */
function oracleAccepts(
  headerText: string,
  payloadText: string,
  withAudience: boolean,
): { subject: string; plan: string } | string {
  let header: unknown;
  let payload: unknown;
  // A UTF-8 BOM is dropped by the decoder (RFC 8259 §8.1 lets parsers ignore it).
  const withoutBom = (text: string) => text.replace(/^\ufeff/, "");
  try {
    header = JSON.parse(withoutBom(headerText));
    payload = JSON.parse(withoutBom(payloadText));
  } catch {
    return "not JSON";
  }
  const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);
  if (!isObject(header) || !isObject(payload)) return "not objects";
  if (header.alg !== "ES256") return "alg";
  if (header.kid !== undefined && header.kid !== authority.kid) return "kid";
  if (header.crit !== undefined) {
    const crit = header.crit;
    // The only extension a JWS verifier knows is b64, and a JWT must keep b64 true.
    if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => name !== "b64")) {
      return "crit";
    }
    if (header.b64 !== true) return "b64";
  }
  if (payload.iss !== authority.issuer) return "iss";
  if (withAudience) {
    const aud = payload.aud;
    const ok = aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE));
    if (!ok) return "aud";
  }
  for (const claim of ["iat", "nbf"]) {
    if (payload[claim] !== undefined && typeof payload[claim] !== "number") return claim;
  }
  if (typeof payload.exp !== "number" || payload.exp <= NOW_SECONDS - SKEW) return "exp";
  if (typeof payload.nbf === "number" && payload.nbf > NOW_SECONDS + SKEW) return "nbf";
  const granted = [payload.scope, payload.scp].flat()
    .flatMap((value) => typeof value === "string" ? value.split(" ") : []);
  if (!granted.includes(REQUIRED_SCOPE)) return "scope";
  const subject = [
    payload["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"],
    payload.nameidentifier,
    payload.sub,
    payload.client_id,
  ].find((value) => typeof value === "string" && value !== "");
  if (typeof subject !== "string") return "subject";
  const plan = payload["stellaops:plan"];
  if (plan !== undefined && (typeof plan !== "string" || !(plan in PLANS))) return "plan";
  const license = payload["stellaops:license"];
  if (license !== undefined && (typeof license !== "string" || license === "")) return "license";
  if (payload.cnf !== undefined) return "cnf (bound tokens need DPoP/mTLS)";
  return { subject, plan: (plan as string | undefined) ?? DEFAULT_PLAN };
}

Deno.test("fuzz: random JWT structures are accepted only when docs/api.md's rules accept them", async () => {
  const plain = await Harness.start();
  const audience = await Harness.start(WITH_AUDIENCE);
  const scope = "repository:team/app:pull";
  await fc.assert(
    fc.asyncProperty(
      jsonText(headerObject),
      jsonText(payloadObject),
      fc.constantFrom<SignatureMode>(
        "real",
        "real",
        "real",
        "attacker",
        "garbage",
        "empty",
        "zeros",
      ),
      fc.uint8Array({ minLength: 1, maxLength: 80 }),
      fc.boolean(),
      fc.constantFrom("bearer", "basic", "form"),
      async (headerText, payloadText, mode, garbage, withAudience, how) => {
        const signed = mode === "real"
          ? await authority.signRaw(headerText, payloadText)
          : await signEs256Raw(attacker.privateKey, headerText, payloadText);
        const unsigned = signed.slice(0, signed.lastIndexOf(".") + 1);
        const token = {
          real: signed,
          attacker: signed,
          garbage: `${unsigned}${b64url(garbage)}`,
          empty: unsigned,
          zeros: `${unsigned}${b64url(new Uint8Array(64))}`,
        }[mode];
        const harness = withAudience ? audience : plain;
        const answer = how === "form"
          ? await harness.send("/token", {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              grant_type: "refresh_token",
              refresh_token: token,
              service: REGISTRY,
              scope,
            }).toString(),
          })
          : await harness.send(`/token?service=${REGISTRY}&scope=${scope}`, {
            headers: { authorization: how === "basic" ? basic(token) : `Bearer ${token}` },
          });
        if (answer.status !== 200) return;
        assert.equal(mode, "real", `200 for a token with a ${mode} signature`);
        const verdict = oracleAccepts(headerText, payloadText, withAudience);
        assert.ok(
          typeof verdict === "object",
          `200, but the rules refuse (${verdict}): ${headerText} ${payloadText}`,
        );
        await assertRegistryToken(harness.service, answer.body.access_token, {
          service: REGISTRY,
          subject: verdict.subject,
          scopeValues: [scope],
          plan: verdict.plan,
        }, `${headerText} ${payloadText}`);
      },
    ),
    { numRuns: 500 },
  );
  plain.finish();
  audience.finish();
  assert.ok(plain.issued + audience.issued > 0, "some random structures are valid");
});

// POST bodies

const CONTENT_TYPES = [
  "application/x-www-form-urlencoded",
  "application/x-www-form-urlencoded; charset=utf-8",
  "APPLICATION/X-WWW-FORM-URLENCODED",
  " application/x-www-form-urlencoded",
  "application/x-www-form-urlencodedX",
  "application/x-www-form-urlencoded-evil",
  "application/json",
  "text/plain",
  "multipart/form-data; boundary=x",
  "",
];

const formField = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(
      fc.constantFrom(
        "grant_type",
        "password",
        "refresh_token",
        "service",
        "scope",
        "client_id",
        "username",
        "access_type",
      ),
      fc.oneof(
        fc.constantFrom("password", "refresh_token", "PASSWORD", "client_credentials", ""),
        fc.constantFrom(REGISTRY, "registry.example"),
        credential,
        scopeValue,
        anyText(20),
      ),
    ),
  },
  { weight: 1, arbitrary: fc.tuple(anyText(10), anyText(20)) },
);

const formBody = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(
      fc.constantFrom<"password" | "refresh_token">("password", "refresh_token"),
      fc.oneof(
        { weight: 2, arbitrary: fc.constantFrom(...GENUINE.map(({ token }) => token)) },
        { weight: 3, arbitrary: credential },
      ),
      fc.array(formField, { maxLength: 6 }),
      fc.boolean(),
    ).map(([grant, token, extra, standard]) => {
      const fields: [string, string][] = [
        ["grant_type", grant],
        [grant, token],
        ["service", REGISTRY],
        ...extra,
      ];
      return standard
        ? new URLSearchParams(fields).toString()
        : fields.map(([name, value]) => `${name}=${value}`).join("&");
    }),
  },
  { weight: 1, arbitrary: anyText(200) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...HUGE_LENGTHS).map((length) =>
      `grant_type=password&service=${REGISTRY}&password=${"a".repeat(length)}`
    ),
  },
);

Deno.test("fuzz: random POST /token forms never fail, and grant only for a genuine token", async () => {
  const harness = await Harness.start();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(CONTENT_TYPES[0]) },
        { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
      ),
      formBody,
      fc.constantFrom("plain", "stream", "broken-stream"),
      async (contentType, body, delivery) => {
        const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
        const stream = (broken: boolean) =>
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(bytes.slice(0, Math.ceil(bytes.length / 2)));
              if (broken) controller.error(new Error("connection reset"));
              else {
                controller.enqueue(bytes.slice(Math.ceil(bytes.length / 2)));
                controller.close();
              }
            },
          });
        const answer = await harness.send("/token", {
          method: "POST",
          headers: contentType ? { "content-type": contentType } : {},
          body: delivery === "plain" ? bytes : stream(delivery === "broken-stream"),
        });
        if (answer.status !== 200) return;
        assert.notEqual(delivery, "broken-stream", "no 200 for a body that could not be read");
        assert.ok(
          /^\s*application\/x-www-form-urlencoded(?![A-Za-z0-9_])/i.test(contentType),
          `200 for content type ${JSON.stringify(contentType)}`,
        );
        assert.ok(bytes.length <= 64 * 1024, "no 200 for an oversized form");
        const params = new URLSearchParams(new TextDecoder().decode(bytes));
        const grants = params.getAll("grant_type");
        assert.equal(grants.length, 1, "exactly one grant_type");
        assert.ok(grants[0] === "password" || grants[0] === "refresh_token", grants[0]);
        const tokens = params.getAll(grants[0]);
        assert.equal(tokens.length, 1, `exactly one ${grants[0]}`);
        assert.equal(params.getAll("service").length, 1, "exactly one service");
        const genuine = genuineIn(tokens[0]);
        assert.ok(genuine, `200 for ${JSON.stringify(tokens[0])}, which is no genuine token`);
        await assertRegistryToken(harness.service, answer.body.access_token, {
          service: params.get("service")!,
          subject: "ci-bot",
          scopeValues: params.getAll("scope"),
          plan: genuine.plan,
        }, `POST ${JSON.stringify(body).slice(0, 200)}`);
      },
    ),
    { numRuns: 500 },
  );
  harness.finish(1);
});

Deno.test("fuzz: concurrent mixed requests stay independent of each other", async () => {
  const harness = await Harness.start();
  const good = GENUINE.find(({ plan }) => plan === "ci")!.token;
  const path = `/token?service=${REGISTRY}&scope=repository:team/app:pull,push`;
  await fc.assert(
    fc.asyncProperty(fc.array(authorization, { minLength: 2, maxLength: 12 }), async (values) => {
      // Each batch interleaves a genuine request, which must succeed whatever runs beside it.
      const answers = await Promise.all([
        harness.send(path, { headers: { authorization: `Bearer ${good}` } }),
        ...values.map((value) =>
          harness.send(path, { headers: value === undefined ? {} : { authorization: value } })
        ),
      ]);
      assert.equal(answers[0].status, 200, JSON.stringify(answers[0].body));
      for (const [index, answer] of answers.slice(1).entries()) {
        if (answer.status === 200) {
          assert.ok(genuineIn(values[index] ?? ""), `200 for ${JSON.stringify(values[index])}`);
        }
      }
    }),
    { numRuns: 100 },
  );
  harness.finish(100);
});

Deno.test("fuzz: one request at a time, the verification budget never refuses and never moves clients (fixed clock)", async () => {
  // The budget only slows an over-budget client: its checks run one at a time, and only a
  // queue of MAX_WAITING_CHECKS behind the running one is refused (tests/http/limits_test.ts).
  // So whatever a client spent — cheap refusals, forged signatures that are checked and
  // charged — a lone request is answered on its merits, and X-Forwarded-For from a peer that
  // is not a trusted proxy never puts a client into another client's bucket.
  const addresses = ["198.51.100.1", "198.51.100.2", "2001:db8::1", undefined];
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.tuple(
          fc.constantFrom(...addresses),
          fc.constantFrom("genuine", "malformed", "forged"),
          fc.constantFrom("", "203.0.113.9"),
        ),
        { maxLength: 30, size: "large" },
      ),
      async (steps) => {
        const harness = await Harness.start({
          Server: { FailedAuthLimit: { Burst: 2, PerMinute: 1 } },
        });
        for (const [index, [address, kind, forwarded]] of steps.entries()) {
          // A fresh forgery each time: a repeated one is remembered and costs no check at all.
          const token = kind === "genuine"
            ? GENUINE[0].token
            : kind === "forged"
            ? await new SignJWT({
              ...defaultClaims(authority.issuer),
              aud: AUDIENCE,
              jti: `f${index}`,
            })
              .setProtectedHeader({ alg: "ES256", kid: authority.kid })
              .sign(attacker.privateKey)
            : "not-a-token";
          const headers: Record<string, string> = { authorization: `Bearer ${token}` };
          if (forwarded) headers["x-forwarded-for"] = forwarded;
          const answer = await harness.send(
            `/token?service=${REGISTRY}`,
            { headers },
            address === undefined ? undefined : { remoteAddress: address },
          );
          assert.equal(answer.status, kind === "genuine" ? 200 : 401, `${kind} from ${address}`);
          if (kind === "forged") {
            assert.equal(
              assertRegistryError(401, answer.body).detail.reason,
              "token_signature_invalid",
            );
          }
        }
        harness.finish();
      },
    ),
    { numRuns: 40 },
  );
});

// ---------------------------------------------------------------------------------------------
// Differential model of plan rules: templates, Services and deny, against a reference written
// from docs/policy.md — regex matching over brute-force expansions, its own JSON Pointer
// reader, its own value grammar — never from src/authz.

const CAP = 64; // docs/policy.md: the alternatives one rule tries per request
const RULE_SERVICES = ["registry.test", "other.test"];
const PATH_VALUE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

interface RefRule {
  Type: string;
  Pattern: string;
  Actions: string[];
  Services?: string[];
  Effect?: string;
}

interface RefCaller {
  subject: string;
  claims: Record<string, unknown>;
}

interface RefDecision {
  action: string;
  granted: boolean;
  because: string;
  index: number | null;
  overCap: boolean;
}

function refPointer(claims: unknown, name: string): unknown {
  if (!name.startsWith("/")) {
    return Object.prototype.hasOwnProperty.call(claims, name)
      ? (claims as Record<string, unknown>)[name]
      : undefined;
  }
  let here: unknown = claims;
  for (const raw of name.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(here)) {
      here = /^(?:0|[1-9][0-9]*)$/.test(key) ? here[Number(key)] : undefined;
    } else if (here !== null && typeof here === "object") {
      here = Object.prototype.hasOwnProperty.call(here, key)
        ? (here as Record<string, unknown>)[key]
        : undefined;
    } else {
      return undefined;
    }
  }
  return here;
}

/** The usable values of a template body (`subject` or `claim:NAME`), distinct, in order. */
function refValues(body: string, caller: RefCaller): string[] {
  const raw = body === "subject" ? caller.subject : refPointer(caller.claims, body.slice(6));
  const list = Array.isArray(raw) ? raw : [raw];
  const usable = list.filter((v): v is string =>
    typeof v === "string" && v.length <= 255 && PATH_VALUE.test(v)
  );
  return [...new Set(usable)];
}

/** Every combination of the templates' values, first template outermost (brute force). */
function refCombinations(bodies: string[], caller: RefCaller): Map<string, string>[] {
  let combos: Map<string, string>[] = [new Map()];
  for (const body of bodies) {
    const values = refValues(body, caller);
    combos = combos.flatMap((combo) => values.map((value) => new Map([...combo, [body, value]])));
  }
  return combos;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/** Whether the rule's pattern matches `name` for `caller`, and whether it was cut at the cap. */
function refMatch(pattern: string, name: string, caller: RefCaller) {
  const tokens = pattern.split(/(\$\{[^}]*\}|\*)/).filter((token) => token !== "");
  const bodies = [
    ...new Set(tokens.filter((t) => t.startsWith("${")).map((t) => t.slice(2, -1))),
  ];
  const combos = refCombinations(bodies, caller);
  const matched = combos.slice(0, CAP).some((combo) => {
    const source = tokens.map((token) =>
      token === "*"
        ? "[\\s\\S]*"
        : token.startsWith("${")
        ? escapeRegex(combo.get(token.slice(2, -1))!)
        : escapeRegex(token)
    ).join("");
    return new RegExp(`^${source}$`).test(name);
  });
  return { matched, overCap: combos.length > CAP };
}

function refDecide(
  rules: RefRule[],
  caller: RefCaller,
  service: string,
  scope: ResourceScope,
): RefDecision[] {
  const allows: number[] = [];
  const denies: number[] = [];
  const overCap = new Set<number>();
  rules.forEach((rule, index) => {
    if (rule.Type !== scope.type) return;
    if (rule.Services?.length && !rule.Services.includes(service)) return;
    const { matched, overCap: cut } = refMatch(rule.Pattern, scope.name, caller);
    if ((rule.Effect ?? "allow").toLowerCase() === "allow") {
      if (matched) allows.push(index);
    } else if (matched || cut) {
      denies.push(index);
      if (!matched) overCap.add(index);
    }
  });
  const lists = (index: number, action: string) =>
    rules[index].Actions.includes(action) || rules[index].Actions.includes("*");
  return scope.actions.map((action) => {
    const deny = denies.find((index) => action === "*" || lists(index, action));
    if (deny !== undefined) {
      return {
        action,
        granted: false,
        because: "deny rule",
        index: deny,
        overCap: overCap.has(deny),
      };
    }
    const allow = allows.find((index) => lists(index, action));
    return allow === undefined
      ? { action, granted: false, because: "no allow rule matched", index: null, overCap: false }
      : { action, granted: true, because: "allow rule", index: allow, overCap: false };
  });
}

// Generators: a small vocabulary, so patterns, claims and names meet often.

const WORDS = ["dev", "ops", "web", "group", "project", "ci-bot", "alice", "team", "a.b", "x"];
const BAD_VALUES = ["*", "${subject}", "${claim:groups}", "..", ".", "a//b", "Dev", "", "x y"];
const TEMPLATES = [
  "${subject}",
  "${claim:groups}",
  "${claim:team}",
  "${claim:https://example.com/roles}",
  "${claim:/realm/roles}",
  "${claim:/realm/a~1b}",
  "${claim:/list/1}",
  "${claim:missing}",
];

const word = fc.constantFrom(...WORDS);
const path = fc.array(word, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/"));
const claimString = fc.oneof(
  { weight: 4, arbitrary: word },
  { weight: 2, arbitrary: path },
  { weight: 2, arbitrary: fc.constantFrom(...BAD_VALUES, "../dev", "dev/", "team/*", "DEV/x") },
);
const claimValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: claimString },
  {
    weight: 4,
    arbitrary: fc.array(fc.oneof(claimString, fc.constantFrom(1, null, {}, ["dev"])), {
      maxLength: 5,
    }),
  },
  // Past the cap: distinct valid values, some shared with the names below.
  {
    weight: 1,
    arbitrary: fc.integer({ min: CAP - 2, max: CAP + 6 }).map((n) =>
      Array.from({ length: n }, (_, i) => (i === 3 ? "dev" : `g${i}`))
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 7, true, null, { dev: "ops" }) },
);
const claimsSet = fc.record({
  groups: claimValue,
  team: claimValue,
  "https://example.com/roles": claimValue,
  realm: fc.record({ roles: claimValue, "a/b": claimValue }),
  list: fc.array(claimValue, { maxLength: 3 }),
}).map((claims) => JSON.parse(JSON.stringify(claims)) as Record<string, unknown>);
const subjectText = fc.oneof(word, path, fc.constantFrom("Alice", "*", "a@b.c", "g3"));

const patternText = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...WORDS, "/", "-", "release-", "g") },
    { weight: 2, arbitrary: fc.constant("*") },
    { weight: 3, arbitrary: fc.constantFrom(...TEMPLATES) },
  ),
  { minLength: 1, maxLength: 5 },
).map((tokens) => tokens.join(""));

const ACTIONS = ["pull", "push", "delete", "*"];
const refRule: fc.Arbitrary<RefRule> = fc.record({
  Type: fc.constantFrom("repository", "repository", "repository", "registry"),
  Pattern: patternText,
  Actions: fc.subarray(ACTIONS, { minLength: 1 }),
  Services: fc.option(fc.subarray(RULE_SERVICES), { nil: undefined }),
  Effect: fc.option(fc.constantFrom("allow", "deny", "Deny"), { nil: undefined }),
}, { requiredKeys: ["Type", "Pattern", "Actions"] });

const requestedScope: fc.Arbitrary<ResourceScope> = fc.tuple(
  fc.constantFrom("repository", "repository", "repository", "registry"),
  fc.oneof(
    { weight: 4, arbitrary: path },
    { weight: 1, arbitrary: fc.tuple(word, word).map(([a, b]) => `${a}/release-${b}`) },
    { weight: 1, arbitrary: fc.nat(CAP + 6).map((i) => `g${i}/x`) },
  ),
  fc.subarray(ACTIONS, { minLength: 1 }),
).map(([type, name, actions]) => ({ type, name, actions }));

const ruleCase = fc.record({
  rules: fc.array(refRule, { maxLength: 6 }),
  subject: subjectText,
  claims: claimsSet,
  service: fc.constantFrom(...RULE_SERVICES),
  scopes: fc.array(requestedScope, { minLength: 1, maxLength: 4 }),
});

/** The configuration patch of one generated plan, named `p`. */
function rulePolicy(rules: RefRule[]) {
  return {
    Plans: [{ Name: "p", Repositories: rules }],
    DefaultPlan: "p",
    Registry: { Realm: "https://tokens.test/token" },
  };
}

Deno.test("fuzz: rule decisions with templates, Services and deny match the reference model", () => {
  let granted = 0;
  let deniedByRule = 0;
  let cut = 0;
  fc.assert(
    fc.property(ruleCase, ({ rules, subject, claims, service, scopes }) => {
      const policy = testOptions(authority, rulePolicy(rules)).policy;
      const caller = { subject, claims };
      const { decisions } = explainAuthorization({ plan: "p", ...caller }, service, scopes, policy);
      decisions.forEach((decision, i) => {
        const expected = refDecide(rules, caller, service, scopes[i]);
        const actual = decision.actions.map((d) => ({
          action: d.action,
          granted: d.granted,
          because: d.because,
          index: d.rule?.index ?? null,
          overCap: d.overCap === true,
        }));
        const what = JSON.stringify({ rules, subject, claims, service, scope: scopes[i] });
        assert.deepEqual(actual, expected, what);
        for (const d of decision.actions) {
          if (d.rule) assert.equal(d.rule.pattern, rules[d.rule.index].Pattern, what);
          granted += d.granted ? 1 : 0;
          deniedByRule += d.because === "deny rule" ? 1 : 0;
          cut += d.overCap ? 1 : 0;
        }
      });
    }),
    { numRuns: 1500 },
  );
  assert.ok(granted > 100 && deniedByRule > 50 && cut > 0, `${granted} ${deniedByRule} ${cut}`);
});

Deno.test("fuzz: through HTTP, templated and deny rules grant and explain as the reference says", async () => {
  let issued = 0;
  let refusedCount = 0;
  await fc.assert(
    fc.asyncProperty(ruleCase, fc.boolean(), async (generated, partial) => {
      const { rules, subject, claims, service, scopes } = generated;
      const harness = await Harness.start({
        ...NO_LIMIT,
        ...rulePolicy(rules),
        PartialGrants: partial,
      });
      const token = await authority.token({ claims: { ...claims, sub: subject } });
      const scopeValues = scopes.map((s) => `${s.type}:${s.name}:${s.actions.join(",")}`);
      const query = new URLSearchParams([
        ["service", service],
        ...scopeValues.map((value) => ["scope", value]),
      ]);
      const answer = await harness.send(`/token?${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const caller = { subject, claims: { ...claims, sub: subject } };
      const expected = parseScopes(scopeValues).map((scope) => ({
        scope,
        decisions: refDecide(rules, caller, service, scope),
      }));
      const entries = (granted: boolean) =>
        expected.flatMap(({ scope, decisions }) => {
          const actions = decisions.filter((d) => d.granted === granted).map((d) => d.action);
          return actions.length ? [{ type: scope.type, name: scope.name, actions }] : [];
        });
      const refused = entries(false).map((e) => `${e.type}:${e.name}:${e.actions.join(",")}`);
      const what = JSON.stringify({ rules, subject, claims, service, scopeValues, partial });
      if (partial || refused.length === 0) {
        assert.equal(answer.status, 200, `${what}: ${JSON.stringify(answer.body)}`);
        issued++;
        registryKey ??= await importJWK(
          { ...harness.service.signingKey.publicJwk },
          "RS256",
        ) as CryptoKey;
        const { payload } = await jwtVerify(answer.body.token as string, registryKey, {
          currentDate: NOW,
        });
        assert.deepEqual(payload.access, entries(true), what);
      } else {
        refusedCount++;
        assert.equal(answer.status, 403, what);
        const detail = (answer.body.errors as { detail: Record<string, unknown> }[])[0].detail;
        assert.equal(detail.reason, "access_denied", what);
        assert.deepEqual(detail.denied, refused, what);
        type Explained = { scope: string; actions: string[]; rule: { index: number } | null };
        const explained = (detail.decisions as Explained[]).flatMap((d) =>
          d.actions.map((action) => `${d.scope} ${action} ${d.rule?.index ?? "none"}`)
        );
        const reference = expected.flatMap(({ scope, decisions }) => {
          const denied = decisions.filter((d) => !d.granted);
          const entry = `${scope.type}:${scope.name}:${denied.map((d) => d.action).join(",")}`;
          return denied.map((d) => `${entry} ${d.action} ${d.index ?? "none"}`);
        });
        assert.deepEqual(explained.sort(), reference.sort(), what);
      }
      harness.finish();
    }),
    { numRuns: 150 },
  );
  assert.ok(issued > 20 && refusedCount > 20, `${issued} issued, ${refusedCount} refused`);
});
