# syntax=docker/dockerfile:1
# Build: docker build -t storybridge .
# Run read-only: docker run --read-only -v storybridge:/var/lib/storybridge -p 8080:8080 storybridge
FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them: empty stand-ins for
# every target the manifest declares (a missing one fails the build, which
# must fail loudly rather than leave the dependencies uncached).
COPY Cargo.toml Cargo.lock ./
RUN mkdir src benches \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && for bench in rules render batch normalize; do echo 'fn main() {}' > "benches/$bench.rs"; done \
    && cargo build --release --locked \
    && rm -rf src benches
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked
# The store's directory, owned by distroless's nonroot user (65532).
RUN mkdir -p /state && chown 65532:65532 /state

# distroless/cc: glibc and nothing else; rustls brings its own root certificates.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/storybridge /usr/local/bin/storybridge
COPY bridge.yaml /etc/storybridge/bridge.yaml
COPY templates /etc/storybridge/templates
COPY --from=build --chown=65532:65532 /state /var/lib/storybridge
ENV STORYBRIDGE_LISTEN=0.0.0.0:8080 \
    STORYBRIDGE_TEMPLATES=/etc/storybridge/templates \
    STORYBRIDGE_STORAGE=sqlite:///var/lib/storybridge/storybridge.db
VOLUME /var/lib/storybridge
USER nonroot
EXPOSE 8080
# distroless has no curl: the binary checks /readyz itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/storybridge", "healthcheck", "--config", "/etc/storybridge/bridge.yaml"]
ENTRYPOINT ["/usr/local/bin/storybridge"]
CMD ["serve", "--config", "/etc/storybridge/bridge.yaml"]
