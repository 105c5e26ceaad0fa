# partneridp container image: a static binary on distroless "nonroot"
# (uid/gid 65532). Build from the repository root:
#   docker build -t partneridp --build-arg VERSION=v0.1.0 .
#
# Layout (TestContainerLayout starts serve in the same layout without Docker):
#   /usr/local/bin/partneridp        the binary (CGO_ENABLED=0, static)
#   /etc/partneridp/                 config and keys, mounted read-only
#   /var/lib/partneridp/             the VOLUME: store and state (data_dir)
#
# Key ownership: the process runs as uid 65532 and refuses key files other
# users can read, so on the host:
#   chown 65532:65532 signing.key platform-*.key session.secret tls.key
#   chmod 600 signing.key ...           (certificates and the config: 0644)
# and mount the folder read-only:
#   docker run -p 8443:8443 \
#     -v /srv/partneridp/etc:/etc/partneridp:ro \
#     -v partneridp-data:/var/lib/partneridp partneridp
# A named volume starts owned by 65532 (this image creates the folder so);
# a bind-mounted data folder must be chown 65532:65532 and mode 0700.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/partneridp ./cmd/partneridp \
 && mkdir -p /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/partneridp /usr/local/bin/partneridp
COPY --from=build --chown=65532:65532 /out/data /var/lib/partneridp
USER 65532:65532
WORKDIR /var/lib/partneridp
# The config is read from PARTNERIDP_CONFIG; data_dir (and with it the
# default store path) is forced onto the volume; the listen address must not
# be loopback inside a container. Override any of them with -e.
ENV PARTNERIDP_CONFIG=/etc/partneridp/partneridp.yaml \
    PARTNERIDP_DATA_DIR=/var/lib/partneridp \
    PARTNERIDP_LISTEN=:8443
VOLUME ["/var/lib/partneridp"]
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/partneridp", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/partneridp"]
CMD ["serve"]
