#include "services/gateway/notifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/public_keys.h"
#include "common/crypto/ssl_ptr.h"
#include "services/gateway/http_post.h"

namespace scep::gateway {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string Thumbprint(const std::string& der, const EVP_MD* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(der.data(), der.size(), digest, &length, md, nullptr) != 1) return "";
  return absl::AsciiStrToUpper(absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length)));
}

bool Refused(int status) {
  return status >= 400 && status < 500 && status != 408 && status != 429;
}

}  // namespace

absl::StatusOr<std::string> NoticeJson(const redis::QueuedNotice& queued) {
  const redis::Notice& n = queued.notice;
  std::string json = absl::StrCat(
      "{\"event\":", JsonQuoted(redis::EventName(n.event)),
      ",\"notice_id\":", JsonQuoted(redis::NoticeId(queued.id, n)),
      ",\"profile\":", JsonQuoted(n.profile),
      ",\"transaction_id\":", JsonQuoted(n.transaction_id),
      ",\"message_type\":", JsonQuoted(n.message_type), ",\"time\":", JsonQuoted(Rfc3339(n.time)));
  if (!n.csr.empty()) absl::StrAppend(&json, ",\"csr\":", JsonQuoted(absl::Base64Escape(n.csr)));
  if (n.event == redis::Notice::Event::kFailed) {
    absl::StrAppend(&json, ",\"fail_info\":", JsonQuoted(n.fail_info),
                    ",\"fail_info_text\":", JsonQuoted(n.fail_info_text), "}");
    return json;
  }
  // The enrollment path's quick parser: d2i_X509's key decoding was over
  // half of what delivering a notice cost the gateway (bench/README.md,
  // session 21).
  absl::StatusOr<crypto::X509Ptr> cert = crypto::ParseCertificate(n.certificate);
  if (!cert.ok()) return cert.status();
  X509* x = cert->get();
  absl::StrAppend(
      &json, ",\"certificate\":", JsonQuoted(absl::Base64Escape(n.certificate)),
      ",\"serial\":", JsonQuoted(codec::SerialHex(X509_get0_serialNumber(x))),
      ",\"subject\":", JsonQuoted(codec::SubjectText(X509_get_subject_name(x))),
      ",\"issuer\":", JsonQuoted(codec::SubjectText(X509_get_issuer_name(x))),
      ",\"not_before\":",
      JsonQuoted(Rfc3339(absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notBefore(x))))),
      ",\"not_after\":",
      JsonQuoted(Rfc3339(absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(x))))),
      ",\"thumbprint_sha1\":", JsonQuoted(Thumbprint(n.certificate, EVP_sha1())),
      ",\"thumbprint_sha256\":", JsonQuoted(Thumbprint(n.certificate, EVP_sha256())), "}");
  return json;
}

std::string NoticeSignature(absl::string_view key, absl::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
           &length) == nullptr) {
    return "";
  }
  return absl::StrCat("sha256=", absl::BytesToHexString(absl::string_view(
                                     reinterpret_cast<const char*>(mac), length)));
}

NoticePoster HttpNoticePoster() {
  auto client = std::make_shared<KeptAliveHttpClient>();
  return [client](const Profile& profile, const std::string& json) -> absl::StatusOr<int> {
    absl::StatusOr<HttpUrl> url = ParseHttpUrl(profile.notice_url, "notify.url");
    if (!url.ok()) return url.status();
    const std::string signature =
        profile.notice_secret.empty()
            ? std::string()
            : absl::StrCat("X-Scep-Signature-256: ", NoticeSignature(profile.notice_secret, json),
                           "\r\n");
    absl::StatusOr<HttpAnswer> answer =
        client->Post(*url, json, absl::Now() + profile.notice_timeout, "notice receiver",
                     signature, profile.notice_tls.get());
    if (!answer.ok()) return answer.status();
    return answer->status;
  };
}

Notifier::Notifier(NotifierOptions options, redis::NoticeOutbox* outbox,
                   const ProfileSet* profiles, NoticePoster poster, GatewayMetrics* metrics,
                   metrics::JsonLogger* log)
    : options_(std::move(options)), outbox_(outbox), profiles_(profiles),
      poster_(std::move(poster)), metrics_(metrics), log_(log) {}

Notifier::~Notifier() { Stop(); }

void Notifier::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Notifier::RequestStop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

void Notifier::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

bool Notifier::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void Notifier::Loop() {
  for (;;) {
    absl::StatusOr<size_t> taken = RunOnce();
    const bool idle = !taken.ok() || *taken == 0;
    absl::MutexLock lock(&mu_);
    if (idle) {
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.idle_poll);
    }
    if (stopping_) return;
  }
}

void Notifier::Count(const redis::Notice& notice, absl::string_view result) {
  if (metrics_ != nullptr) {
    metrics_->NoticeHandled(notice.profile, redis::EventName(notice.event), result);
  }
}

void Notifier::RefreshStats() {
  const absl::Time now = absl::Now();
  if (now < next_stats_) return;
  next_stats_ = now + options_.stats_interval;
  absl::StatusOr<redis::OutboxStats> stats = outbox_->Stats();
  if (stats.ok() && metrics_ != nullptr) metrics_->NoticeQueue(*stats);
  if (now < next_forget_) return;
  next_forget_ = now + options_.forget_workers_after / 4;
  absl::StatusOr<size_t> forgotten =
      outbox_->ForgetIdleWorkers(options_.worker, options_.forget_workers_after);
  if (forgotten.ok() && *forgotten > 0 && log_ != nullptr) {
    log_->Log(metrics::LogRecord(metrics::LogLevel::kInfo, "notice_workers_forgotten")
                  .Int("workers", static_cast<int64_t>(*forgotten)));
  }
}

absl::StatusOr<size_t> Notifier::RunOnce() {
  RefreshStats();
  absl::StatusOr<std::vector<redis::QueuedNotice>> taken =
      outbox_->Take(options_.worker, options_.batch, options_.retry_after);
  if (!taken.ok()) return taken.status();
  for (const redis::QueuedNotice& queued : *taken) {
    if (Stopping()) break;  // the rest stay taken (RequestStop)
    if (Deliver(queued)) (void)outbox_->Done(queued.id);
  }
  return taken->size();
}

bool Notifier::Deliver(const redis::QueuedNotice& queued) {
  const redis::Notice& notice = queued.notice;
  auto give_up = [&](absl::string_view result, absl::string_view why) {
    Count(notice, result);
    if (log_ != nullptr) {
      log_->Log(metrics::LogRecord(metrics::LogLevel::kError, "notice_given_up")
                    .Str("notice_id", redis::NoticeId(queued.id, notice))
                    .Str("profile", notice.profile)
                    .Str("event", redis::EventName(notice.event))
                    .Str("transaction_id", notice.transaction_id)
                    .Str("reason", why));
    }
    // Refused or expired: kept on the given-up list for an operator to
    // queue again (scepctl notices requeue); malformed: nothing to keep.
    // A list Redis cannot take now leaves the notice taken: it comes
    // back after retry_after and is given up again.
    if (result == "malformed") return true;
    (void)outbox_->GiveUp(queued, result, why);
    return false;
  };
  if (notice.profile.empty()) return give_up("malformed", "malformed notice in the queue");
  const absl::Time now = absl::Now();
  if (now - queued.queued > options_.max_age) {
    return give_up("expired", "not delivered within --notice_max_age_hours");
  }
  const Profile* profile = profiles_->Find(notice.profile);
  if (profile == nullptr || profile->notice_url.empty()) {
    // Not served here (yet, or any more): during a rolling update another
    // gateway may serve it. Left for one that does, given up at max_age.
    Count(notice, "not_served");
    return false;
  }
  // A receiver as this profile reaches it: another profile's TLS settings
  // or URL may work while this one's fail.
  const std::string receiver = absl::StrCat(profile->name, " ", profile->notice_url);
  if (auto it = resting_.find(receiver); it != resting_.end()) {
    if (now < it->second) return false;  // taken again after retry_after
    resting_.erase(it);
  }
  absl::StatusOr<std::string> json = NoticeJson(queued);
  if (!json.ok()) return give_up("malformed", json.status().message());
  absl::StatusOr<int> status = poster_(*profile, *json);
  if (status.ok() && *status >= 200 && *status < 300) {
    Count(notice, "delivered");
    return true;
  }
  if (status.ok() && Refused(*status)) {
    return give_up("refused", absl::StrCat("receiver answered HTTP ", *status));
  }
  Count(notice, "retry");
  resting_[receiver] = now + options_.retry_after;
  if (log_ != nullptr) {
    log_->Log(metrics::LogRecord(metrics::LogLevel::kWarning, "notice_delivery_failed")
                  .Str("notice_id", redis::NoticeId(queued.id, notice))
                  .Str("profile", notice.profile)
                  .Str("transaction_id", notice.transaction_id)
                  .Str("reason", status.ok() ? absl::StrCat("receiver answered HTTP ", *status)
                                             : std::string(status.status().message()))
                  .Int("retry_in_seconds", absl::ToInt64Seconds(options_.retry_after)));
  }
  return false;
}

}  // namespace scep::gateway
