# syntax=docker/dockerfile:1
#
# Registry Token Service: one self-contained binary (`deno compile`) on a distroless base.
#
#   docker build --build-arg BUILD_CONFIG=etc/registry-token.yaml -t registry-token-service .
#   docker run -d -p 5001:5001 -v /etc/registry-token:/etc/registry-token:ro registry-token-service
#
# Base images are pinned by tag. To pin them by digest as well (reproducible, tamper-evident
# builds), resolve each tag once and append it, e.g.
#   docker buildx imagetools inspect denoland/deno:2.9.6        # prints "Digest: sha256:…"
#   FROM denoland/deno:2.9.6@sha256:<digest> AS build
# and likewise gcr.io/distroless/cc-debian12:nonroot@sha256:<digest>.

# ---- build: compile the service into one binary --------------------------------------------
FROM denoland/deno:2.9.6 AS build
WORKDIR /src

# Dependencies first, so that this layer is reused while only the sources change. --frozen fails
# the build if deno.lock does not match deno.json.
COPY deno.json deno.lock ./
RUN deno install --frozen

COPY src/ src/
COPY etc/ etc/

# `deno compile` downloads its `denort` base binary when the builder is online. Air-gapped
# builders: COPY a denort of this Deno version into the stage and set ENV DENORT_BIN to it
# (docs/operations.md, "Build a binary").

# The build-time configuration decides the permissions baked into the binary: it may read only
# the directories of the config, key and TLS files this config names, and connect only to its
# listen address and its Authority host. A runtime config whose files live elsewhere, or that
# listens on another address or trusts another Authority, is refused by the binary: build with
# the site's own config (a path inside the build context; keys are not needed at build time).
# With Server:Workers above 1 in it, the binary may also run itself, and only itself, at
# /usr/local/bin/registry-token-service (where it is copied below) for its workers.
# It is compiled from the path the container reads it at, so that its directory is the one
# allowed, whatever directories its key and TLS files are in.
ARG BUILD_CONFIG=etc/registry-token.yaml
RUN mkdir -p /etc/registry-token /out \
 && cp "${BUILD_CONFIG}" /etc/registry-token/registry-token.yaml \
 && deno task compile --config /etc/registry-token/registry-token.yaml \
      --output /out/registry-token-service

# ---- runtime: the binary alone, as an unprivileged user, no shell ---------------------------
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=build /out/registry-token-service /usr/local/bin/registry-token-service

# Config and keys are mounted read-only at /etc/registry-token (they are never baked into the
# image). The nonroot user (uid/gid 65532) must be able to read them: make them readable by a
# group and pass it with `docker run --group-add <gid>`. Kubernetes' runAsNonRoot cannot check
# a user name: set securityContext.runAsUser: 65532 there.
ENV REGISTRY_TOKEN_CONFIG=/etc/registry-token/registry-token.yaml
USER nonroot
EXPOSE 5001

# No HEALTHCHECK: distroless has no shell or curl to run one. Orchestrators probe the service
# itself: GET /healthz on port 5001 answers {"status":"ok"} (readiness and liveness).
# SIGTERM (docker stop) drains in-flight requests (Server:DrainTimeout, default 10 s, which is
# also docker stop's default grace period: run with --stop-timeout 15 or so);
# SIGHUP (docker kill -s HUP) reloads the config and keys. With Server:Workers the binary is PID 1
# and the primary: it passes both signals on to every worker.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/registry-token-service"]
CMD ["--config", "/etc/registry-token/registry-token.yaml"]
