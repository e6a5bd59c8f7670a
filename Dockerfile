# rulekeeper container image: a static binary on distroless, non-root.
#
#   docker build -t rulekeeper:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -p 8080:8080 -e RULEKEEPER_MONGO_URI=... -e RULEKEEPER_OIDC_ISSUER=... rulekeeper:dev
#
# Every serve flag has a RULEKEEPER_* variable (see `rulekeeper serve -h`).
# Without RULEKEEPER_MONGO_URI the embedded database writes to /data: mount
# a volume there (one replica only); production uses MongoDB.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -pgo=cmd/rulekeeper/rulekeeper.pgo -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/rulekeeper ./cmd/rulekeeper \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rulekeeper /usr/local/bin/rulekeeper
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV RULEKEEPER_ADDR=0.0.0.0:8080 \
    RULEKEEPER_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/rulekeeper"]
CMD ["serve"]
