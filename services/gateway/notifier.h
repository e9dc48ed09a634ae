#ifndef SCEP_SERVICES_GATEWAY_NOTIFIER_H_
#define SCEP_SERVICES_GATEWAY_NOTIFIER_H_

// Delivers issuance notices (common/redis/notice_outbox.h) to the URL of
// their profile (`notify.url`): each as one JSON POST, at least once.
//
// A notice is done when its URL answers 2xx, given up when it answers 4xx
// other than 408/429 (the receiver refuses it; retrying would not help:
// moved to the outbox's given-up list, which an operator can queue again),
// and retried otherwise: it stays taken, and after `retry_after` any
// gateway's notifier takes it again (as it does with those of a gateway
// that died before delivering). A profile's receiver that failed is not
// tried again by this notifier for `retry_after`, so a receiver that is
// down costs one timeout per round, not one per notice (per profile:
// another profile's TLS settings may reach the same URL). A notice whose profile this
// gateway does not serve (a rolling update adding a profile) is left for
// a gateway that does. A notice older than `max_age` is given up (to the
// given-up list too) and logged.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics/json_log.h"
#include "common/redis/notice_outbox.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/profile.h"

namespace scep::gateway {

struct NotifierOptions {
  std::string worker = "gateway";  // this gateway's name in the queue (pod name + pid)
  absl::Duration retry_after = absl::Seconds(30);
  absl::Duration max_age = absl::Hours(72);
  absl::Duration idle_poll = absl::Milliseconds(250);  // between rounds with nothing to do
  absl::Duration stats_interval = absl::Seconds(10);   // queue gauges
  // How long a worker (a gateway's name in the queue) that holds no notice
  // stays known once it stops asking: then it is forgotten (a pod gone).
  absl::Duration forget_workers_after = absl::Hours(1);
  size_t batch = 32;
};

// Sends one notice body to `profile`'s notice URL: the HTTP status, or
// Unavailable when the receiver cannot be reached in time.
using NoticePoster =
    std::function<absl::StatusOr<int>(const Profile& profile, const std::string& json)>;

// The POST over HTTP or HTTPS (http_post.h; the profile's notice_tls),
// within the profile's timeout, on a kept-alive connection per receiver.
// With the profile's notice_secret the body is signed: header
// X-Scep-Signature-256: NoticeSignature(secret, body).
NoticePoster HttpNoticePoster();

// "sha256=" and the lower-case hex HMAC-SHA256 of `body` under `key` (the
// form GitHub's webhooks use, so receivers' existing checks apply).
std::string NoticeSignature(absl::string_view key, absl::string_view body);

// The JSON a notice is delivered as. Issued: {"event":"issued",
// "notice_id","profile","transaction_id","message_type","time","csr"
// (base64 DER),"certificate" (base64 DER),"serial" (hex),"subject",
// "issuer","not_before","not_after" (RFC 3339, UTC),"thumbprint_sha1",
// "thumbprint_sha256" (upper-case hex of the DER)}; failed: the first
// six, "csr", "fail_info" and "fail_info_text". InvalidArgument when an
// issued notice's certificate does not parse.
absl::StatusOr<std::string> NoticeJson(const redis::QueuedNotice& queued);

class Notifier {
 public:
  // Dependencies are not owned; `metrics` and `log` may be null.
  Notifier(NotifierOptions options, redis::NoticeOutbox* outbox, const ProfileSet* profiles,
           NoticePoster poster, GatewayMetrics* metrics, metrics::JsonLogger* log);
  ~Notifier();  // Stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Runs rounds on a thread of its own until stopped. RequestStop() returns
  // at once; the notice being delivered (if any) is finished, the rest of
  // its round stay taken, for other gateways after retry_after (a round of
  // slow receivers would hold a terminating pod past its grace period).
  // Stop() requests it and waits for the thread.
  void Start();
  void RequestStop();
  void Stop();

  // One round: takes up to `batch` notices and delivers, gives up or
  // leaves each; how many it took. Unavailable when the queue cannot be
  // reached.
  absl::StatusOr<size_t> RunOnce();

 private:
  void Loop();
  bool Stopping();
  // Delivers `queued`; true when the caller is to mark it done (delivered,
  // or malformed); one given up is moved to the given-up list here.
  bool Deliver(const redis::QueuedNotice& queued);
  void Count(const redis::Notice& notice, absl::string_view result);
  void RefreshStats();

  const NotifierOptions options_;
  redis::NoticeOutbox* const outbox_;
  const ProfileSet* const profiles_;
  const NoticePoster poster_;
  GatewayMetrics* const metrics_;
  metrics::JsonLogger* const log_;
  // Receivers ("<profile> <url>") that failed, and until when they are
  // left alone.
  absl::flat_hash_map<std::string, absl::Time> resting_;  // used by the loop only
  absl::Time next_stats_ = absl::InfinitePast();
  absl::Time next_forget_ = absl::InfinitePast();
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_NOTIFIER_H_
