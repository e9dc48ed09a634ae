#ifndef SCEP_SERVICES_GATEWAY_GATEWAY_METRICS_H_
#define SCEP_SERVICES_GATEWAY_GATEWAY_METRICS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "common/redis/notice_outbox.h"

namespace scep::gateway {

// Label values of one finished SCEP request. Every value is bounded: the
// operation is one of the RFC 8894 names or "invalid", the profile is
// configuration or "unknown", the rest come from PkiOutcome's bounded
// fields. Never subject, transactionID, nonce or challenge.
struct RequestLabels {
  std::string operation;     // "GetCACaps", "GetCACert", "PKIOperation", "invalid"
  std::string profile;       // configured profile name, or "unknown"
  std::string message_type;  // "PKCSReq", ...; "" when not a pkiMessage
  std::string pki_status;    // "SUCCESS", "FAILURE", "PENDING" or ""
  std::string fail_info;     // "badRequest", ... with FAILURE, else ""
  int http_status = 200;
};

// The gateway's Prometheus metrics, registered in an injected registry.
// Thread-safe. Metric names (all prefixed scep_gateway_):
//   requests_total{operation,profile,message_type,pki_status,fail_info,http_status}
//   request_duration_seconds{operation,profile}           histogram
//   requests_in_flight                                    gauge
//   signer_rpc_duration_seconds{method}                   histogram
//   signer_rpc_errors_total{method,code}
//   redis_op_duration_seconds{op}                         histogram
//   redis_errors_total{op,kind}          kind: unavailable|timeout|error
//   replays_refused_total{profile}       senderNonce already seen in
//                                        another message
//   challenge_refused_total{profile,reason} requests refused for their
//                                        challenge; reason: missing|wrong|
//                                        unknown|other_subject|verifier
//   retransmissions_total{profile}       the identical message again
//                                        (answered as the first was)
//   certificates_issued_total            new certificates from the signer
//   certificates_renewed_total{profile}  new certificates for a RenewalReq
//   certificates_revoked_total{reason}   revocations recorded in the index
//                                        (admin API); reason: RFC 5280 name
//   pending_requests_total{profile}      requests entering PENDING (manual
//                                        approval)
//   rate_limited_total{profile,scope}    requests over a rate limit; scope:
//                                        client|profile|subject
//   claims_parked_total{profile}         retransmissions answered PENDING
//                                        while their twin held the claim
//                                        (request parked for CertPoll)
//   claims_taken_over_total{profile,by}  parked claims finished after their
//                                        holder's lease ended; by: poll|request
//   certificates_reindexed_total{profile} certificates the index had lost,
//                                        recorded again from a renewal
//   admin_calls_total{method,code}       admin API calls by gRPC method and
//                                        status code, refused ones included
// Redis latency and errors of the certificate index are under
// redis_op_duration_seconds / redis_errors_total with op "Index...".
class GatewayMetrics {
 public:
  // `registry` is not owned and must outlive this object.
  explicit GatewayMetrics(prometheus::Registry& registry);

  void RequestStarted();
  void RequestFinished(const RequestLabels& labels, absl::Duration latency);

  // One signer RPC; `method` is the gRPC method name.
  void SignerCall(absl::string_view method, const absl::Status& status,
                  absl::Duration latency);
  void CertificateIssued();

  // One enrollment-store operation; `op` is the EnrollmentStore method.
  void RedisCall(absl::string_view op, const absl::Status& status,
                 absl::Duration latency);
  void ReplayRefused(absl::string_view profile);
  // A request refused for its challenge password: `reason` missing, wrong
  // (static), unknown (one-time: unknown, expired or used), other_subject
  // (one-time, bound to another subject) or verifier (external said no).
  void ChallengeRefused(absl::string_view profile, absl::string_view reason);
  // The identical message again (EnrollmentStore::RecordNonce's
  // kRetransmission): an HTTP client or proxy retrying, a device resending.
  void Retransmission(absl::string_view profile);

  // A RenewalReq answered with a newly issued certificate.
  void CertificateRenewed(absl::string_view profile);
  // A certificate marked revoked; `reason` is the RFC 5280 CRLReason code
  // (-1: none given).
  void CertificateRevoked(int reason);
  // A request for a manual-approval profile entered PENDING.
  void RequestPending(absl::string_view profile);
  // A request refused by a rate limit; `exceeded_key` is
  // redis::RateDecision::exceeded ("{profile}:{scope}[:...]", built by the
  // gateway from configuration, so the labels stay bounded).
  void RateLimited(absl::string_view exceeded_key);
  // A retransmission answered PENDING with its request parked (its twin
  // holds the claim; see EnrollmentStore::ParkPendingClaim).
  void ClaimParked(absl::string_view profile);
  // A parked claim taken over once its holder's lease ended; `by` is
  // "poll" (CertPoll) or "request" (the request sent again).
  void ClaimTakenOver(absl::string_view profile, absl::string_view by);
  // A write Redis answered before enough replicas acknowledged it.
  void RedisUnreplicated(absl::string_view operation);
  // The Sentinels named another Redis primary (a failover).
  void RedisPrimaryChanged();
  // Revocations Redis had lost, recorded again from a gateway's CRL.
  void CrlRevocationsRestored(int64_t count);
  // A certificate the index had lost, recorded again from the renewal it
  // signed (--renewal_reindex).
  void CertificateReindexed(absl::string_view profile);
  // An issuance notice handled by the notifier: `result` is delivered,
  // retry, refused, not_served, expired or malformed.
  void NoticeHandled(absl::string_view profile, absl::string_view event,
                     absl::string_view result);
  // The notice queue over all gateways (read from Redis).
  void NoticeQueue(const redis::OutboxStats& stats);
  // One admin API call: `method` is the gRPC method name (one the service
  // defines), `code` how it ended (refused credentials included).
  void AdminCall(absl::string_view method, absl::StatusCode code);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Gauge& in_flight_;
  prometheus::Family<prometheus::Histogram>& signer_duration_;
  prometheus::Family<prometheus::Counter>& signer_errors_;
  prometheus::Family<prometheus::Histogram>& redis_duration_;
  prometheus::Family<prometheus::Counter>& redis_errors_;
  prometheus::Family<prometheus::Counter>& replays_;
  prometheus::Family<prometheus::Counter>& challenge_refused_;
  prometheus::Family<prometheus::Counter>& retransmissions_;
  prometheus::Counter& issued_;
  prometheus::Counter& crl_restored_;
  prometheus::Family<prometheus::Counter>& unreplicated_;
  prometheus::Counter& primary_changes_;
  prometheus::Family<prometheus::Counter>& renewed_;
  prometheus::Family<prometheus::Counter>& revoked_;
  prometheus::Family<prometheus::Counter>& pending_;
  prometheus::Family<prometheus::Counter>& rate_limited_;
  prometheus::Family<prometheus::Counter>& parked_;
  prometheus::Family<prometheus::Counter>& taken_over_;
  prometheus::Family<prometheus::Counter>& reindexed_;
  prometheus::Family<prometheus::Counter>& notices_;
  prometheus::Family<prometheus::Gauge>& notice_queue_;
  prometheus::Family<prometheus::Counter>& admin_calls_;
};

// Seconds buckets for request and stage latencies: 1 ms to 10 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_GATEWAY_METRICS_H_
