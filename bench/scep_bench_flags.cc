// scep-bench's command-line flags; see scep_bench.cc for the modes.

#include "bench/scep_bench_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, url, "http://127.0.0.1:8080/scep", "SCEP URL of the target");
ABSL_FLAG(int, n, 1000, "requests to send (enrollments for --mix enroll)");
ABSL_FLAG(int, concurrency, 16, "concurrent keep-alive connections");
ABSL_FLAG(int, keys, 32, "device RSA-2048 keys in the pool (reused round robin)");
ABSL_FLAG(std::string, challenge, "", "challenge password");
ABSL_FLAG(std::string, cipher, "aes-128-cbc", "request envelope cipher");
ABSL_FLAG(std::string, digest, "sha256", "request signature digest");
ABSL_FLAG(std::string, mix, "enroll",
          "enroll: PKCSReq only; renew: RenewalReq only (after an untimed "
          "enrollment of every device); caps: GetCACert/GetCACaps alternating; "
          "ocsp: POST /ocsp for random serials of the CA (answers: unknown)");
ABSL_FLAG(int, ocsp_distinct, 0,
          "ocsp mix: how many distinct requests (0: every one different, each "
          "needing a fresh CA signature; small: the responder's answer reuse)");
ABSL_FLAG(bool, renew_with_challenge, false,
          "renew mix: put the challenge in RenewalReq CSRs too (micromdm "
          "scepserver 2.1 demands it)");
ABSL_FLAG(double, duration, 0,
          "stop sending after this many seconds (0: send all N); with --soak "
          "the length of the soak");
ABSL_FLAG(bool, soak, false,
          "soak mode: build requests on the fly and verify replies as they "
          "arrive for --duration seconds (memory stays flat; --n is ignored)");
ABSL_FLAG(int, producers, 2, "soak: threads building requests during the run");
ABSL_FLAG(int, threads, 0, "threads for preparing/verifying or hsm-bound "
          "(0: all cores)");
ABSL_FLAG(bool, json, false, "print one JSON object on stdout at the end");
ABSL_FLAG(bool, progress, true, "progress line on stderr once a second");
ABSL_FLAG(std::string, pkcs11_module, "/usr/lib/softhsm/libsofthsm2.so",
          "hsm-bound: PKCS#11 module");
ABSL_FLAG(std::string, token_label, "scep-dev", "hsm-bound: token label");
ABSL_FLAG(std::string, pin_file, "", "hsm-bound: file holding the user PIN");
ABSL_FLAG(std::string, hsm_ops, "sign:scep-ra",
          "hsm-bound: operation sequence, e.g. decrypt:scep-ra,sign:scep-ca,"
          "sign:scep-ra");
ABSL_FLAG(double, seconds, 5, "hsm-bound: measuring time");
ABSL_FLAG(std::string, ca_cert, "", "pipeline-bound: PEM CA certificate");
ABSL_FLAG(std::string, ra_cert, "", "pipeline-bound: PEM RA certificate");
ABSL_FLAG(std::string, ca_key_label, "scep-ca", "pipeline-bound: CA key label");
ABSL_FLAG(std::string, ra_key_label, "scep-ra", "pipeline-bound: RA key label");
ABSL_FLAG(std::optional<std::string>, server_challenge, std::nullopt,
          "pipeline-bound: the challenge the server side accepts (default: "
          "--challenge, which the requests carry)");
ABSL_FLAG(bool, retry_unavailable, false,
          "enroll mix, for fault injection: resend a request after an I/O "
          "error, HTTP 503 or 429 (identical bytes, after Retry-After capped "
          "at --retry_max_wait) until it gets a final answer; replies are "
          "verified as they arrive");
ABSL_FLAG(double, retry_max_wait, 1.0,
          "--retry_unavailable: longest pause before a resend (seconds)");
ABSL_FLAG(double, retry_give_up, 120,
          "--retry_unavailable: give a transaction up this many seconds after "
          "its first send");
ABSL_FLAG(bool, confirm_retransmission, false,
          "--retry_unavailable: afterwards resend every issued transaction "
          "with a fresh senderNonce and check the same certificate comes back");
ABSL_FLAG(bool, retry_poll_pending, false,
          "--retry_unavailable: on PENDING poll with CertPoll, as RFC 8894 "
          "clients do, instead of resending the request");
ABSL_FLAG(std::string, results_file, "",
          "--retry_unavailable: write one JSON line per transaction here "
          "(transaction_id, attempts, statuses, outcome, serial, ...)");
