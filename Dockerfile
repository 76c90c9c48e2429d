# marathon-dataplane: a static binary on a distroless, non-root base.
# It runs next to a stock HAProxy + Data Plane API (deployments/docker-compose.yml).
# The first argument is the mode, as marathon-lb's image took it: `sse` (default) or `poll`.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/marathon-dataplane ./cmd/marathon-dataplane

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/marathon-dataplane /usr/local/bin/marathon-dataplane
USER nonroot:nonroot
# marathon-lb's environment works as is (MARATHON_URL, MARATHON_USER/PASSWORD, POLL_INTERVAL in seconds,
# HAPROXY_SSL_CERT*, HAPROXY_<TEMPLATE>, FRAMEWORK_NAME); certificates from the environment are written
# to SSL_CERT_DIR, which HAProxy must see at the same path (a shared volume).
ENV LISTEN=0.0.0.0:8090 \
    LOG_FORMAT=json \
    SSL_CERT_DIR=/var/lib/marathon-dataplane/certs
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=4s --retries=3 CMD ["/usr/local/bin/marathon-dataplane", "healthcheck", "--listen", "127.0.0.1:8090"]
ENTRYPOINT ["/usr/local/bin/marathon-dataplane"]
CMD ["sse", "--group", "external"]
