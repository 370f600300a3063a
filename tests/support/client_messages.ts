/**
 * What the real clients print for the service's refusals, as `tests/peers/clients_test.ts`
 * observed them; the table in docs/registry.md#what-clients-show is held to the same text.
 *
 * @module
 */

/** The clients under test. */
export type ClientName = "docker" | "ctr" | "podman" | "buildah" | "skopeo";

/** What the service says for each refusal the clients are shown (`errors[0].message`). */
export const MESSAGES = {
  "plan refusal": 'plan "reader" does not allow repository:team/refused:push',
  "revoked licence": "the caller's licence has been revoked",
  "expired caller token": "the Authority token has expired; obtain a new one",
  "rate limit": "too many failed authentications; try again later",
} as const;
/** The refusals whose display is observed. */
export type Situation = keyof typeof MESSAGES;

/**
 * What each client prints for each refusal, as observed: a distinctive text, and how many times
 * the service's message appears. `tests/peers/clients_test.ts` asserts it against the real
 * clients, `tests/docs/clients_table_test.ts` against docs/registry.md#what-clients-show.
 */
export const OBSERVED: Record<ClientName, Record<Situation, { shows: string; message: number }>> = {
  docker: {
    "plan refusal": { shows: `denied: ${MESSAGES["plan refusal"]}`, message: 1 },
    "revoked licence": { shows: `denied: ${MESSAGES["revoked licence"]}`, message: 1 },
    "expired caller token": {
      shows: `unauthorized: ${MESSAGES["expired caller token"]}`,
      message: 1,
    },
    "rate limit": { shows: `toomanyrequests: ${MESSAGES["rate limit"]}`, message: 1 },
  },
  ctr: {
    "plan refusal": {
      shows: "failed to fetch oauth token: unexpected status: 403 Forbidden",
      message: 0,
    },
    "revoked licence": {
      shows: "failed to fetch oauth token: unexpected status: 403 Forbidden",
      message: 0,
    },
    "expired caller token": {
      shows: "failed to fetch oauth token: unexpected status: 401 Unauthorized",
      message: 0,
    },
    "rate limit": {
      shows: "failed to fetch oauth token: unexpected status: 429 Too Many Requests",
      message: 0,
    },
  },
  ...Object.fromEntries((["podman", "buildah", "skopeo"] as const).map((name) => [name, {
    "plan refusal": {
      shows: "Requesting bearer token: invalid status code from registry 403 (Forbidden)",
      message: 0,
    },
    "revoked licence": {
      shows: "Requesting bearer token: invalid status code from registry 403 (Forbidden)",
      message: 0,
    },
    "expired caller token": {
      shows: "unable to retrieve auth token: invalid username/password: unauthorized: " +
        MESSAGES["expired caller token"],
      message: 1,
    },
    "rate limit": { shows: "too many requests to registry", message: 0 },
  }])) as Record<
    "podman" | "buildah" | "skopeo",
    Record<Situation, { shows: string; message: number }>
  >,
};
