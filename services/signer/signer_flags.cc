// scep-signer's flags: every setting of the signer process.

#include "services/signer/signer_flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:9090", "gRPC listen address");
ABSL_FLAG(std::string, pkcs11_module, "/usr/lib/softhsm/libsofthsm2.so",
          "PKCS#11 module of the HSM");
ABSL_FLAG(std::string, token_label, "scep-dev", "token holding CA and RA keys");
ABSL_FLAG(std::string, pin_file, "",
          "file holding the user PIN; otherwise env SCEP_HSM_PIN. Never on "
          "the command line.");
ABSL_FLAG(std::string, ca_cert, "var/pki/ca.pem", "CA certificate (PEM)");
ABSL_FLAG(std::string, ra_cert, "var/pki/ra.pem", "RA certificate (PEM)");
ABSL_FLAG(std::string, next_ca_cert, "",
          "CA rollover: the next CA certificate (PEM), published by "
          "GetNextCACert; empty = no rollover in progress");
ABSL_FLAG(std::string, next_ra_cert, "",
          "CA rollover: the RA certificate the next CA issued (PEM), published "
          "by GetNextCACert with it; needs --next_ca_cert");
ABSL_FLAG(std::string, ca_key_label, "scep-ca", "CKA_LABEL of the CA key");
ABSL_FLAG(std::string, ra_key_label, "scep-ra", "CKA_LABEL of the RA key");
ABSL_FLAG(std::string, ra_token_label, "",
          "token holding the RA key(s) when it is not --token_label (an HSM "
          "partition whose policy allows the RA's decryption); empty = the "
          "CA's token");
ABSL_FLAG(std::string, ra_pkcs11_module, "",
          "PKCS#11 module of --ra_token_label when it is another HSM; empty = "
          "--pkcs11_module");
ABSL_FLAG(std::string, ra_pin_file, "",
          "file holding the user PIN of --ra_token_label; otherwise env "
          "SCEP_RA_HSM_PIN, otherwise the CA token's PIN");
ABSL_FLAG(std::string, ra_key_file, "",
          "RA private key as an unencrypted PEM file instead of a key in the "
          "token, for HSMs that refuse RSA PKCS#1 v1.5 decryption; the CA key "
          "stays in the token. Further CAs: <issuing_cas_dir>/NAME/ra-key.pem");
ABSL_FLAG(std::vector<std::string>, issuing_cas, {},
          "further issuing CAs by name (comma-separated, [a-z0-9_-]{1,64}); CA "
          "NAME uses keys <ca_key_label>-NAME and <ra_key_label>-NAME and "
          "certificates <issuing_cas_dir>/NAME/ca.pem and ra.pem");
ABSL_FLAG(std::string, issuing_cas_dir, "",
          "directory of the further CAs' certificates; default: that of --ca_cert");
ABSL_FLAG(std::string, issuance_policy, "",
          "JSON file of per-CA bounds on what the CA keys sign (validity, key "
          "usage, EKU, SAN types and domains, ...), enforced whatever a gateway "
          "asks; empty: the built-in rules only");
ABSL_FLAG(std::string, audit_log, "",
          "file the issuance audit trail is appended to (one JSON line per "
          "certificate signed or refused); empty: standard error");
ABSL_FLAG(bool, audit_required, false,
          "withhold a signed certificate whose audit line cannot be written "
          "(UNAVAILABLE: the gateway answers 503 + Retry-After)");
ABSL_FLAG(bool, audit_certificates, false,
          "certificate_issued audit lines carry the certificate (base64 DER, "
          "about 1.5 KB more a line), so `scepctl certs restore --audit` can "
          "rebuild a certificate index Redis lost");
ABSL_FLAG(int, max_issuance_per_minute, 0,
          "certificates one caller (a gateway, by mTLS identity or address) may "
          "have signed per minute, bursts included; over it RESOURCE_EXHAUSTED "
          "(the gateway answers 503 + Retry-After); 0: no limit");
ABSL_FLAG(int, workers, 6,
          "threads doing private-key operations, one PKCS#11 session each");
ABSL_FLAG(int, max_queue, 4096, "queued operations before RESOURCE_EXHAUSTED");
ABSL_FLAG(int, ocsp_workers, 2,
          "threads of their own signing OCSP answers, so an OCSP flood never "
          "takes the --workers from enrollment; 0: OCSP shares --workers");
ABSL_FLAG(int, ocsp_max_queue, 256,
          "OCSP signatures waiting for --ocsp_workers; more are refused at once "
          "(the gateway answers 503 tryLater)");
ABSL_FLAG(int, keepalive_ms, 60000,
          "HTTP/2 PING to each gateway connection this often; one unanswered "
          "within --keepalive_timeout_ms closes it (a gateway on a node that "
          "lost power or network leaves no FIN behind); >= 1000");
ABSL_FLAG(int, keepalive_timeout_ms, 20000,
          "how long a PING of --keepalive_ms may go unanswered; >= 1000");
ABSL_FLAG(int, max_connection_age_seconds, 300,
          "close each gateway connection gracefully after about this long "
          "(GOAWAY; calls in flight get 60 s more), so gateways resolve the "
          "signer Service again and spread over signers added or replaced "
          "since; 0 = never");
ABSL_FLAG(int, validity_days, 365, "default certificate validity");
ABSL_FLAG(std::string, digest, "sha256", "default certificate signature hash");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (chain) for gRPC TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates; when set, clients must present a certificate "
          "they issued (mutual TLS)");
ABSL_FLAG(int, tls_refresh_seconds, 60,
          "how often the TLS files are checked for changes (rotation)");
ABSL_FLAG(bool, insecure_plaintext, false,
          "serve gRPC without TLS; local development only");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1",
          "listen address of /metrics, /healthz and /readyz");
ABSL_FLAG(int, metrics_port, 9101, "port of /metrics, /healthz and /readyz");
ABSL_FLAG(int, readiness_interval_ms, 1000, "how often readiness is checked");
ABSL_FLAG(int, token_wait_seconds, 600,
          "at start, how long to keep trying a token that cannot be reached "
          "(a network HSM down or restarting) before exiting, with /healthz up "
          "meanwhile; a wrong PIN is never retried; 0: exit at once");
ABSL_FLAG(int, shutdown_grace_seconds, 20,
          "on SIGTERM: longest wait for in-flight RPCs before they are cancelled");
ABSL_FLAG(int, drain_delay_seconds, 0,
          "on SIGTERM: seconds to keep serving while the health service says "
          "NOT_SERVING, so the pod leaves the signer Service's DNS before "
          "gateways are told to reconnect");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
