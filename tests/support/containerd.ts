/**
 * containerd's token fetch, step by step as its docker resolver performs it: an OAuth2 POST to
 * the realm first, then — on 404, 401, 400, or 405 when a username was given — a GET with
 * Basic credentials.
 *
 * @module
 */

/** What containerd knows when a registry challenges it. */
export interface ContainerdTokenOptions {
  readonly realm: string;
  readonly service: string;
  readonly scopes: readonly string[];
  readonly username: string;
  readonly secret: string;
}

/** The outcome, with every HTTP exchange for assertions. */
export interface ContainerdTokenResult {
  readonly token?: string;
  readonly exchanges: readonly { method: "POST" | "GET"; status: number }[];
  readonly error?: string;
}

const FALLBACK_STATUSES = [404, 401, 400];

/** Fetches a token the way containerd does. */
export async function containerdFetchToken(
  options: ContainerdTokenOptions,
): Promise<ContainerdTokenResult> {
  const exchanges: { method: "POST" | "GET"; status: number }[] = [];
  const form = new URLSearchParams({
    scope: options.scopes.join(" "),
    service: options.service,
    client_id: "containerd-client",
  });
  if (options.username) {
    form.set("grant_type", "password");
    form.set("username", options.username);
    form.set("password", options.secret);
  } else {
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", options.secret);
  }
  const post = await fetch(options.realm, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    body: form,
  });
  exchanges.push({ method: "POST", status: post.status });
  if (post.ok) return { token: (await post.json()).access_token, exchanges };
  await post.body?.cancel();
  const fallBack = FALLBACK_STATUSES.includes(post.status) ||
    (post.status === 405 && options.username !== "");
  if (!fallBack) return { exchanges, error: `unexpected status ${post.status}` };

  const query = new URLSearchParams({ service: options.service });
  for (const scope of options.scopes) query.append("scope", scope);
  const get = await fetch(`${options.realm}?${query}`, {
    headers: { authorization: `Basic ${btoa(`${options.username}:${options.secret}`)}` },
  });
  exchanges.push({ method: "GET", status: get.status });
  const body = await get.json();
  if (!get.ok) return { exchanges, error: body.errors?.[0]?.message };
  return { token: body.token ?? body.access_token, exchanges };
}
