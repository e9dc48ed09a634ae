// scep-gateway's flags: every setting of the gateway process.

#include "services/gateway/gateway_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, http_address, "127.0.0.1", "device-facing listen address");
ABSL_FLAG(int, http_port, 8080, "device-facing port");
ABSL_FLAG(std::string, signer, "dns:///127.0.0.1:9090",
          "gRPC target of the signer (dns:/// spreads over all addresses)");
ABSL_FLAG(int, signer_deadline_ms, 5000, "deadline of each signer call");
ABSL_FLAG(std::string, redis_host, "127.0.0.1", "Redis host");
ABSL_FLAG(int, redis_port, 6379, "Redis port");
ABSL_FLAG(std::string, redis_sentinels, "",
          "comma-separated host:port of Redis Sentinels (port 26379 when left "
          "out; [address]:port for IPv6); set, the primary is the one they name "
          "as --redis_sentinel_master and --redis_host/--redis_port are not used");
ABSL_FLAG(std::string, redis_sentinel_master, "mymaster",
          "name under which the Sentinels monitor the primary");
ABSL_FLAG(std::string, redis_sentinel_password_file, "",
          "file holding the Sentinels' own password (their requirepass; else env "
          "SCEP_REDIS_SENTINEL_PASSWORD); neither: no AUTH to the Sentinels");
ABSL_FLAG(std::string, redis_sentinel_username, "",
          "ACL user on the Sentinels (a `user` line in sentinel.conf, Redis 6.2+) "
          "for AUTH with the Sentinel password; empty: their default user");
ABSL_FLAG(bool, redis_tls, false,
          "TLS to Redis and to the Sentinels (their TLS ports: redis-server "
          "--tls-port); the server's chain and name are verified");
ABSL_FLAG(std::string, redis_tls_ca_file, "",
          "PEM CA certificates trusted for Redis's certificate chain; empty: the "
          "system trust store (managed Redis services); needs --redis_tls");
ABSL_FLAG(std::string, redis_tls_cert_file, "",
          "client certificate (PEM, leaf first) for a Redis that asks for one "
          "(tls-auth-clients); with --redis_tls_key_file; read again when it changes");
ABSL_FLAG(std::string, redis_tls_key_file, "",
          "unencrypted PEM key of --redis_tls_cert_file");
ABSL_FLAG(int, redis_tls_refresh_seconds, 10,
          "how often the --redis_tls_* files are checked for a change (rotation); "
          "a changed file is read again for the next connections");
ABSL_FLAG(std::string, redis_tls_server_name, "",
          "the name Redis's certificate must carry (also sent as SNI); empty: the "
          "host connected to (--redis_host, or the address a Sentinel names)");
ABSL_FLAG(std::string, redis_username, "",
          "Redis 6+ ACL user for AUTH (needs a password); empty: the default user");
ABSL_FLAG(std::string, redis_password_file, "",
          "file holding the Redis password (else env SCEP_REDIS_PASSWORD); "
          "neither: no AUTH");
ABSL_FLAG(int, redis_timeout_ms, 1000, "bound of each Redis command (send and reply)");
ABSL_FLAG(int, pending_ttl_seconds, 60,
          "lifetime of a transaction claim (the issuing request's lease); a claim "
          "left by a gateway that died mid-request ends with it");
ABSL_FLAG(int, http_read_timeout_seconds, 15, "a begun request must arrive within this");
ABSL_FLAG(int, http_idle_timeout_seconds, 30, "idle keep-alive connections close after this");
ABSL_FLAG(int, redis_memory_check_seconds, 60,
          "how often to read Redis's memory limit, eviction policy and evicted "
          "keys (metrics scep_gateway_redis_*, warnings); 0 = never");
ABSL_FLAG(int, redis_wait_replicas, 0,
          "replicas that must acknowledge a transaction's completion or a "
          "revocation (Redis WAIT) before the answer goes out; fewer within "
          "--redis_wait_timeout_ms are counted (scep_gateway_redis_unreplicated_"
          "writes_total) and the answer goes out anyway; 0 = no WAIT");
ABSL_FLAG(int, redis_wait_timeout_ms, 100,
          "how long a write waits for --redis_wait_replicas (below --redis_timeout_ms; "
          "not used, nor checked, without replicas)");
ABSL_FLAG(int, redis_failure_cooldown_ms, 500,
          "after a Redis failure, fail fast for this long before trying again "
          "(circuit breaker); 0 = off");
ABSL_FLAG(std::string, profile, "default", "profile name, served at /scep/{name}");
ABSL_FLAG(std::string, profiles_file, "",
          "profiles file (JSON, protos/scep/config/v1/profiles.proto); replaces "
          "--profile, --challenge_file, --allow_legacy, --validity_days, "
          "--cert_digest and --renewal_window_days");
ABSL_FLAG(std::string, challenge_file, "",
          "file holding the static challenge; otherwise env SCEP_CHALLENGE");
ABSL_FLAG(bool, allow_legacy, false,
          "accept DES, 3DES and SHA-1 (legacy clients such as micromdm scepclient)");
ABSL_FLAG(int, validity_days, 365, "certificate validity");
ABSL_FLAG(int, renewal_window_days, 0,
          "RenewalReq accepted only this many days before expiry; 0 = always");
ABSL_FLAG(int, notice_retry_seconds, 30,
          "issuance notices (profiles' notify.url): a delivery that failed (receiver "
          "down, 5xx, 408, 429), or one a gateway took and never finished (it died), is "
          "tried again after this long, by any gateway");
ABSL_FLAG(int, notice_max_age_hours, 72,
          "an issuance notice not delivered within this long is given up (logged "
          "notice_given_up, counted result=expired)");
ABSL_FLAG(int, notice_queue_max, 100000,
          "issuance notices kept in Redis at most (all gateways together); past it new "
          "ones are dropped and counted (scep_gateway_notice_queue{state=\"dropped\"})");
ABSL_FLAG(bool, renewal_reindex, false,
          "disaster recovery after Redis lost the certificate index: a renewal signed "
          "with a certificate this CA issued that the index lacks records it again and "
          "renews, unless the revocation list has its serial (restore revocations "
          "first); otherwise such renewals are refused with badCertId");
ABSL_FLAG(int, crl_validity_hours, 168, "CRL nextUpdate - thisUpdate");
ABSL_FLAG(int, ocsp_validity_seconds, 3600, "OCSP answer nextUpdate - thisUpdate (/ocsp)");
ABSL_FLAG(int, ocsp_fresh_per_client_per_minute, 600,
          "OCSP answers needing a fresh CA signature per client address and minute "
          "(reused answers are free); over it 429 + Retry-After; 0: no limit");
ABSL_FLAG(int, ocsp_reuse_seconds, 300,
          "how long a signed OCSP answer is handed out again while nothing was "
          "revoked (at most half the validity)");
ABSL_FLAG(std::string, crl_legacy_path_keys, "",
          "CA rollover: comma-separated key identifiers (lower-case hex "
          "subjectKeyIdentifier) of previous CA keys whose CRL /crl/{ca}.crl serves "
          "once the signer has switched away from them, for certificates issued with "
          "that URL; every key's CRL is also at /crl/{ca}/{keyid}.crl");
ABSL_FLAG(std::string, cert_digest, "sha256", "certificate signature hash");
ABSL_FLAG(int, max_body_bytes, 64 * 1024, "largest accepted request body");
ABSL_FLAG(std::string, trusted_proxies, "",
          "comma-separated addresses/CIDRs of proxies whose X-Forwarded-For names "
          "the client (per-client rate limits, logs); empty: the peer is the client");
ABSL_FLAG(int, io_threads, 1, "HTTP I/O threads");
ABSL_FLAG(int, workers, 32, "threads handling SCEP requests");
ABSL_FLAG(int, retry_after_seconds, 5, "Retry-After of 503 answers");
ABSL_FLAG(int, max_queue_wait_ms, 5000,
          "a request that waited this long for a --workers thread is answered "
          "503 + Retry-After without being handled (>= 1)");
ABSL_FLAG(int, quick_workers, 2,
          "threads of their own for GetCACaps, GetCACert and GetNextCACert, so "
          "they never wait behind PKIOperations (>= 1)");
ABSL_FLAG(int, max_connections, 10000,
          "device connections held at once; at the limit a new one closes the one "
          "idle the longest. Capped at the open-file limit less 512 (>= 1)");
ABSL_FLAG(int, signer_max_attempts, 4,
          "attempts per signer call while it answers UNAVAILABLE (backoff "
          "100 ms to 1 s, within --signer_deadline_ms)");
ABSL_FLAG(int, signer_keepalive_ms, 10000,
          "HTTP/2 PING to each signer connection this often (0 = off, else "
          ">= 1000); a connection without an answer within "
          "--signer_keepalive_timeout_ms is closed and avoided");
ABSL_FLAG(int, signer_keepalive_timeout_ms, 5000,
          "how long a signer connection's PING may go unanswered");
ABSL_FLAG(std::string, signer_tls_ca, "",
          "PEM CA certificates that sign the signer's certificate (TLS)");
ABSL_FLAG(std::string, signer_tls_cert, "",
          "PEM client certificate presented to the signer (mTLS)");
ABSL_FLAG(std::string, signer_tls_key, "", "PEM key of --signer_tls_cert");
ABSL_FLAG(int, signer_tls_refresh_seconds, 60,
          "how often the --signer_tls_* files are checked for changes (rotation)");
ABSL_FLAG(std::string, signer_tls_server_name, "",
          "name to verify in the signer's certificate (default: target host)");
ABSL_FLAG(bool, insecure_plaintext, false,
          "talk to the signer without TLS; local development only");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1",
          "listen address of /metrics, /healthz and /readyz");
ABSL_FLAG(int, metrics_port, 9100, "port of /metrics, /healthz and /readyz");
ABSL_FLAG(int, readiness_interval_ms, 1000, "how often readiness is checked");
ABSL_FLAG(int, ca_refresh_seconds, 300,
          "how often the CA and RA certificates are fetched from the signer again "
          "(after an RA renewal or a CA rollover); at least 1");
ABSL_FLAG(int, shutdown_grace_seconds, 25,
          "on SIGTERM: longest wait for in-flight requests before exiting");
ABSL_FLAG(int, drain_delay_seconds, 0,
          "on SIGTERM: seconds to keep serving while /readyz says not ready, "
          "so load balancers stop sending first");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
// Admin API (issue 4).
ABSL_FLAG(std::string, admin_address, "127.0.0.1",
          "admin gRPC API listen address (IPv6 with or without brackets: ::1)");
ABSL_FLAG(int, admin_port, 9443,
          "admin gRPC API port; 0 disables it (so does giving no admin credential)");
ABSL_FLAG(std::string, admin_token_file, "",
          "file holding the admin API bearer token");
ABSL_FLAG(std::string, admin_tls_cert, "", "PEM server certificate of the admin API");
ABSL_FLAG(std::string, admin_tls_key, "", "PEM key of --admin_tls_cert");
ABSL_FLAG(std::string, admin_tls_client_ca, "",
          "PEM CA whose client certificates may call the admin API (mutual TLS)");
ABSL_FLAG(std::string, admin_tls_allowed_clients, "",
          "comma-separated names (subject CN, or DNS, URI or email SAN) of the "
          "client certificates let into the admin API; empty: any the client "
          "CA issued");
