# scep-gateway: device-facing SCEP over HTTP and the admin gRPC API. Holds
# no private key. Also carries scepctl, the admin API's client, so that
# `kubectl exec <gateway pod> -- scepctl ...` works without another image.
#
#   docker build -f docker/gateway.Dockerfile -t scep-gateway:dev .
#
# Built from the repository root (see /.dockerignore). Every package comes
# from Debian 12: gRPC 1.51, protobuf 3.21 and abseil 20220623 are one
# matched set, so the release is the version pin for all of them.
ARG DEBIAN_RELEASE=bookworm

# ---- build: the same Debian build packages as scripts/install-deps --------
FROM debian:${DEBIAN_RELEASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libssl-dev libp11-dev libhiredis-dev prometheus-cpp-dev \
      libboost-dev libp11-kit-dev libgtest-dev libgmock-dev libgoogle-perftools-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# One COPY per top-level CMake subdirectory (tests/deploy checks the list).
COPY CMakeLists.txt ./
COPY protos protos
COPY common common
COPY services services
COPY tests tests
COPY bench bench
COPY fuzz fuzz
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target scep-gateway scepctl \
 && strip build/services/gateway/scep-gateway build/services/scepctl/scepctl

# ---- runtime: shared libraries only, non-root, no shell needed -------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 libssl3 libhiredis0.14 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libtcmalloc-minimal4 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 scep \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin scep
COPY --from=build /src/build/services/gateway/scep-gateway /usr/local/bin/scep-gateway
COPY --from=build /src/build/services/scepctl/scepctl /usr/local/bin/scepctl
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# 8080: devices (HTTP). 9100: /metrics, /healthz, /readyz. 9443: admin gRPC
# API (off unless given a credential; never on the device-facing Service).
EXPOSE 8080 9100 9443
ENTRYPOINT ["/usr/local/bin/scep-gateway"]
CMD ["--http_address=0.0.0.0", "--http_port=8080", "--metrics_address=0.0.0.0"]
