#include "services/gateway/gateway_metrics.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace scep::gateway {
namespace {

// Redis failures split by kind, so a slow Redis (timeouts) is told apart
// from a down one. The store reports both as Unavailable; hiredis phrases
// timeouts as "timed out" / "temporarily unavailable" (EAGAIN after
// SO_RCVTIMEO), and the pool as "busy for".
std::string RedisErrorKind(const absl::Status& status) {
  if (!absl::IsUnavailable(status) && !absl::IsDeadlineExceeded(status)) {
    return "error";
  }
  const absl::string_view m = status.message();
  if (absl::IsDeadlineExceeded(status) || absl::StrContains(m, "timed out") ||
      absl::StrContains(m, "temporarily unavailable") ||
      absl::StrContains(m, "busy for")) {
    return "timeout";
  }
  return "unavailable";
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *kBuckets;
}

GatewayMetrics::GatewayMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("scep_gateway_requests_total")
                    .Help("SCEP HTTP requests by operation, profile, message "
                          "type and outcome (pkiStatus, failInfo, HTTP status).")
                    .Register(registry)),
      request_duration_(prometheus::BuildHistogram()
                            .Name("scep_gateway_request_duration_seconds")
                            .Help("Time to answer a SCEP request.")
                            .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("scep_gateway_requests_in_flight")
                     .Help("SCEP requests being handled.")
                     .Register(registry)
                     .Add({})),
      signer_duration_(prometheus::BuildHistogram()
                           .Name("scep_gateway_signer_rpc_duration_seconds")
                           .Help("Signer RPC latency, retries included.")
                           .Register(registry)),
      signer_errors_(prometheus::BuildCounter()
                         .Name("scep_gateway_signer_rpc_errors_total")
                         .Help("Failed signer RPCs by method and status code.")
                         .Register(registry)),
      redis_duration_(prometheus::BuildHistogram()
                          .Name("scep_gateway_redis_op_duration_seconds")
                          .Help("Enrollment store (Redis) operation latency.")
                          .Register(registry)),
      redis_errors_(prometheus::BuildCounter()
                        .Name("scep_gateway_redis_errors_total")
                        .Help("Failed Redis operations by kind "
                              "(unavailable, timeout, error).")
                        .Register(registry)),
      replays_(prometheus::BuildCounter()
                   .Name("scep_gateway_replays_refused_total")
                   .Help("Requests refused because their senderNonce was "
                         "already seen in another message (RFC 8894 section "
                         "3.2.1.5).")
                   .Register(registry)),
      challenge_refused_(prometheus::BuildCounter()
                             .Name("scep_gateway_challenge_refused_total")
                             .Help("Requests refused for their challenge password, by "
                                   "reason: missing, wrong (static), unknown (one-time: "
                                   "unknown, expired or used), other_subject (one-time, "
                                   "bound to another subject), verifier (external "
                                   "verifier said no).")
                             .Register(registry)),
      retransmissions_(prometheus::BuildCounter()
                           .Name("scep_gateway_retransmissions_total")
                           .Help("Identical messages received again (same "
                                 "senderNonce, same bytes), answered as the "
                                 "first one was.")
                           .Register(registry)),
      issued_(prometheus::BuildCounter()
                  .Name("scep_gateway_certificates_issued_total")
                  .Help("Certificates newly issued by the signer.")
                  .Register(registry)
                  .Add({})),
      crl_restored_(prometheus::BuildCounter()
                        .Name("scep_gateway_crl_revocations_restored_total")
                        .Help("Revocations Redis had lost, recorded again from the CRL a "
                              "gateway kept in memory.")
                        .Register(registry)
                        .Add({})),
      unreplicated_(prometheus::BuildCounter()
                        .Name("scep_gateway_redis_unreplicated_writes_total")
                        .Help("Writes (transaction completions, revocations) Redis answered "
                              "before --redis_wait_replicas replicas acknowledged them.")
                        .Register(registry)),
      primary_changes_(prometheus::BuildCounter()
                           .Name("scep_gateway_redis_primary_changes_total")
                           .Help("Times the Redis Sentinels named another primary than the "
                                 "one the gateway used (failovers; --redis_sentinels).")
                           .Register(registry)
                           .Add({})),
      renewed_(prometheus::BuildCounter()
                   .Name("scep_gateway_certificates_renewed_total")
                   .Help("Certificates newly issued for a RenewalReq "
                         "(RFC 8894 section 3.3.1.2).")
                   .Register(registry)),
      revoked_(prometheus::BuildCounter()
                   .Name("scep_gateway_certificates_revoked_total")
                   .Help("Certificates marked revoked in the certificate "
                         "index, by CRL reason.")
                   .Register(registry)),
      pending_(prometheus::BuildCounter()
                   .Name("scep_gateway_pending_requests_total")
                   .Help("Requests that entered PENDING awaiting manual "
                         "approval.")
                   .Register(registry)),
      rate_limited_(prometheus::BuildCounter()
                        .Name("scep_gateway_rate_limited_total")
                        .Help("Requests refused by a rate limit, by profile "
                              "and scope (client, profile, subject).")
                        .Register(registry)),
      parked_(prometheus::BuildCounter()
                  .Name("scep_gateway_claims_parked_total")
                  .Help("Retransmissions answered PENDING while their twin held the "
                        "transaction claim; the request is parked for CertPoll.")
                  .Register(registry)),
      taken_over_(prometheus::BuildCounter()
                      .Name("scep_gateway_claims_taken_over_total")
                      .Help("Parked claims finished after their holder's lease ended "
                            "(its gateway died mid-request), by poll or request.")
                      .Register(registry)),
      reindexed_(prometheus::BuildCounter()
                     .Name("scep_gateway_certificates_reindexed_total")
                     .Help("Certificates the index had lost (Redis lost data), recorded "
                           "again from a renewal they signed (--renewal_reindex).")
                     .Register(registry)),
      notices_(prometheus::BuildCounter()
                   .Name("scep_gateway_notices_total")
                   .Help("Issuance notices this gateway handled, by profile, event "
                         "(issued, failed) and result (delivered, retry, refused, "
                         "not_served, expired, malformed).")
                   .Register(registry)),
      notice_queue_(prometheus::BuildGauge()
                        .Name("scep_gateway_notice_queue")
                        .Help("Issuance notices in the queue shared by all gateways (Redis): "
                              "state queued (not yet delivered), pending (taken, not done), "
                              "dropped (refused because the queue was full, ever), given_up (kept for "
                              "scepctl notices requeue after the receiver refused them or they "
                              "expired).")
                        .Register(registry)),
      admin_calls_(prometheus::BuildCounter()
                       .Name("scep_gateway_admin_calls_total")
                       .Help("Admin API calls by gRPC method and status code (refused "
                             "credentials: UNAUTHENTICATED, PERMISSION_DENIED).")
                       .Register(registry)) {}

void GatewayMetrics::RequestStarted() { in_flight_.Increment(); }

void GatewayMetrics::RequestFinished(const RequestLabels& labels,
                                     absl::Duration latency) {
  in_flight_.Decrement();
  requests_
      .Add({{"operation", labels.operation},
            {"profile", labels.profile},
            {"message_type", labels.message_type},
            {"pki_status", labels.pki_status},
            {"fail_info", labels.fail_info},
            {"http_status", absl::StrCat(labels.http_status)}})
      .Increment();
  request_duration_
      .Add({{"operation", labels.operation}, {"profile", labels.profile}},
           LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void GatewayMetrics::SignerCall(absl::string_view method,
                                const absl::Status& status,
                                absl::Duration latency) {
  signer_duration_.Add({{"method", std::string(method)}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
  if (!status.ok()) {
    signer_errors_
        .Add({{"method", std::string(method)},
              {"code", absl::StatusCodeToString(status.code())}})
        .Increment();
  }
}

void GatewayMetrics::CertificateIssued() { issued_.Increment(); }

void GatewayMetrics::RedisCall(absl::string_view op, const absl::Status& status,
                               absl::Duration latency) {
  redis_duration_.Add({{"op", std::string(op)}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
  // FailedPrecondition, InvalidArgument and NotFound are answers about the
  // data (a transactionID reused, an unknown serial), not Redis failures.
  if (!status.ok() && !absl::IsFailedPrecondition(status) &&
      !absl::IsInvalidArgument(status) && !absl::IsNotFound(status)) {
    redis_errors_
        .Add({{"op", std::string(op)}, {"kind", RedisErrorKind(status)}})
        .Increment();
  }
}

void GatewayMetrics::ReplayRefused(absl::string_view profile) {
  replays_.Add({{"profile", std::string(profile)}}).Increment();
}

void GatewayMetrics::ChallengeRefused(absl::string_view profile, absl::string_view reason) {
  challenge_refused_.Add({{"profile", std::string(profile)}, {"reason", std::string(reason)}})
      .Increment();
}

void GatewayMetrics::Retransmission(absl::string_view profile) {
  retransmissions_.Add({{"profile", std::string(profile)}}).Increment();
}

void GatewayMetrics::CertificateRenewed(absl::string_view profile) {
  renewed_.Add({{"profile", std::string(profile)}}).Increment();
}

void GatewayMetrics::RedisUnreplicated(absl::string_view operation) {
  unreplicated_.Add({{"operation", std::string(operation)}}).Increment();
}

void GatewayMetrics::RedisPrimaryChanged() { primary_changes_.Increment(); }

void GatewayMetrics::CrlRevocationsRestored(int64_t count) {
  crl_restored_.Increment(static_cast<double>(count));
}

void GatewayMetrics::CertificateRevoked(int reason) {
  // RFC 5280 section 5.3.1; 7 is unused.
  static constexpr const char* kReasons[] = {
      "unspecified",          "keyCompromise",      "cACompromise",
      "affiliationChanged",   "superseded",         "cessationOfOperation",
      "certificateHold",      "unspecified",        "removeFromCRL",
      "privilegeWithdrawn",   "aACompromise"};
  const char* name = reason >= 0 && reason <= 10 ? kReasons[reason] : "unspecified";
  revoked_.Add({{"reason", name}}).Increment();
}

void GatewayMetrics::RequestPending(absl::string_view profile) {
  pending_.Add({{"profile", std::string(profile)}}).Increment();
}

void GatewayMetrics::CertificateReindexed(absl::string_view profile) {
  reindexed_.Add({{"profile", std::string(profile)}}).Increment();
}

void GatewayMetrics::NoticeHandled(absl::string_view profile, absl::string_view event,
                                   absl::string_view result) {
  notices_
      .Add({{"profile", std::string(profile)},
            {"event", std::string(event)},
            {"result", std::string(result)}})
      .Increment();
}

void GatewayMetrics::NoticeQueue(const redis::OutboxStats& stats) {
  notice_queue_.Add({{"state", "queued"}}).Set(static_cast<double>(stats.queued));
  notice_queue_.Add({{"state", "pending"}}).Set(static_cast<double>(stats.pending));
  notice_queue_.Add({{"state", "dropped"}}).Set(static_cast<double>(stats.dropped));
  notice_queue_.Add({{"state", "given_up"}}).Set(static_cast<double>(stats.given_up));
}

void GatewayMetrics::ClaimParked(absl::string_view profile) {
  parked_.Add({{"profile", std::string(profile)}}).Increment();
}

void GatewayMetrics::ClaimTakenOver(absl::string_view profile, absl::string_view by) {
  taken_over_.Add({{"profile", std::string(profile)}, {"by", std::string(by)}}).Increment();
}

void GatewayMetrics::RateLimited(absl::string_view exceeded_key) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(exceeded_key, absl::MaxSplits(':', 2));
  absl::string_view scope = parts.size() > 1 ? parts[1] : "";
  if (scope != "client" && scope != "profile" && scope != "subject") {
    scope = "other";
  }
  rate_limited_
      .Add({{"profile", std::string(parts.empty() ? "" : parts[0])},
            {"scope", std::string(scope)}})
      .Increment();
}

void GatewayMetrics::AdminCall(absl::string_view method, absl::StatusCode code) {
  admin_calls_
      .Add({{"method", std::string(method)}, {"code", absl::StatusCodeToString(code)}})
      .Increment();
}

}  // namespace scep::gateway
