# Placeholder until the packaging issue: the multi-stage build (deno compile → distroless) lands there.
# For now this image runs the service with `deno run` and the same least-privilege flags.
FROM denoland/deno:2.9.6
WORKDIR /app
COPY . .
RUN deno install --frozen
USER deno
EXPOSE 5001
ENTRYPOINT ["deno", "task", "start", "--config", "/etc/registry-token/registry-token.yaml"]
