#ifndef SCEP_BENCH_RETRY_DRIVER_H_
#define SCEP_BENCH_RETRY_DRIVER_H_

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "bench/enrollment.h"
#include "bench/http_client.h"
#include "bench/report.h"

namespace scep::bench {

struct RetryOptions {
  HttpUrl url;
  int concurrency = 16;
  // Longest pause before a resend; a larger Retry-After is capped to it.
  double max_wait_seconds = 1.0;
  // A transaction still unanswered this long after its first send is given
  // up ("gave_up").
  double give_up_seconds = 120;
  // After the run, resend every issued transaction once more with a fresh
  // senderNonce and record the certificate the server answers with.
  bool confirm = false;
  // On PENDING, poll with CertPoll (a fresh senderNonce each time) as
  // RFC 8894 clients do, instead of resending the request.
  bool poll_pending = false;
  bool progress = true;
  BuildOptions build;  // for rebuilding a request with a fresh senderNonce
};

// What happened to one transaction across all its attempts.
struct TransactionResult {
  std::string transaction_id;  // hex
  int attempts = 0;
  std::map<std::string, int> statuses;  // "200", "503", ..., "io"
  int unavailable_without_retry_after = 0;
  // Resends with a fresh senderNonce after the server refused an identical
  // resend as a replay (replay_refusals) or answered PENDING (pending).
  int fresh_nonce_resends = 0;
  int replay_refusals = 0;
  int pending = 0;
  int polls = 0;  // CertPolls sent (RetryOptions::poll_pending)
  std::string outcome;  // "ok" or the failure kind of the last attempt
  std::string detail;
  std::string serial;  // hex serial of the certificate received
  std::string confirm_outcome;  // with RetryOptions::confirm
  std::string confirm_serial;
  int confirm_attempts = 0;
  double first_sent_seconds = -1;  // since the run started
  double done_seconds = -1;
  double max_latency_ms = 0;
};

// Fault-tolerant run (for fault injection, not for speed): like Drive() a
// closed loop over `concurrency` keep-alive connections, but each
// connection keeps one transaction until it has an answer that is not
// "try again": on I/O errors, HTTP 503 and 429 it resends the identical
// request bytes after min(Retry-After, max_wait_seconds) (backoff from
// 100 ms when there is no Retry-After); on PENDING, and on a replay refusal
// that follows an unanswered attempt, it rebuilds the request with a fresh
// senderNonce (same transactionID and CSR), or with `poll_pending` polls
// (CertPoll) from the first PENDING on. Replies are verified as they
// arrive (VerifyReply). Fills `report` (failures by final outcome) and
// returns one result per request.
std::vector<TransactionResult> RunWithRetry(std::vector<Enrollment>& requests,
                                            const std::vector<DeviceKey>& keys,
                                            const ServerCerts& server,
                                            const RetryOptions& options,
                                            RunReport& report);

// One JSON object per line and transaction.
void WriteResultsJsonl(const std::vector<TransactionResult>& results,
                       std::ostream& out);

}  // namespace scep::bench

#endif  // SCEP_BENCH_RETRY_DRIVER_H_
