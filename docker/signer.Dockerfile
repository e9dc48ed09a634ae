# scep-signer (and scep-provision): every private-key operation, through the
# PKCS#11 module of the HSM.
#
#   docker build -f docker/signer.Dockerfile -t scep-signer:dev .              # production
#   docker build -f docker/signer.Dockerfile --target dev -t scep-signer:dev-softhsm .
#
# The production image carries no PKCS#11 module: the module path is
# configuration (--pkcs11_module) and the vendor's module is mounted at run
# time. SoftHSMv2 is only in the `dev` target, for evaluation.
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
 && cmake --build build --target scep-signer scep-provision \
 && strip build/services/signer/scep-signer build/services/provision/scep-provision

# ---- runtime: shared libraries only, non-root, no shell needed -------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 libssl3 libp11-3 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libtcmalloc-minimal4 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 scep \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin scep
COPY --from=build /src/build/services/signer/scep-signer /usr/local/bin/scep-signer
COPY --from=build /src/build/services/provision/scep-provision /usr/local/bin/scep-provision
USER 10001:10001
# 9090: gRPC (signer API + grpc.health.v1). 9101: /metrics, /healthz, /readyz.
EXPOSE 9090 9101
ENTRYPOINT ["/usr/local/bin/scep-signer"]
CMD ["--listen=0.0.0.0:9090", "--metrics_address=0.0.0.0"]

# ---- dev: runtime + SoftHSMv2, for evaluation only -------------------------
# Tokens live under /var/lib/scep/softhsm/tokens (mount a volume at
# /var/lib/scep to keep them); scep-provision writes ca.pem and ra.pem to
# /var/lib/scep/pki.
FROM runtime AS dev
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o 10001 -g 10001 -m 0750 \
      /var/lib/scep /var/lib/scep/softhsm /var/lib/scep/softhsm/tokens /var/lib/scep/pki
COPY docker/softhsm2.conf /etc/scep/softhsm2.conf
ENV SOFTHSM2_CONF=/etc/scep/softhsm2.conf
USER 10001:10001
# Plain gRPC (evaluation: the gateway beside it runs --insecure_plaintext); the
# signer refuses to start without TLS files or --insecure_plaintext.
CMD ["--listen=0.0.0.0:9090", "--metrics_address=0.0.0.0", "--pkcs11_module=/usr/lib/softhsm/libsofthsm2.so", \
     "--ca_cert=/var/lib/scep/pki/ca.pem", "--ra_cert=/var/lib/scep/pki/ra.pem", \
     "--insecure_plaintext"]

# ---- production (default target): runtime, no PKCS#11 module inside --------
FROM runtime AS production
