#include "common/redis/notice_outbox.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace scep::redis {

absl::string_view EventName(Notice::Event event) {
  return event == Notice::Event::kIssued ? "issued" : "failed";
}

std::vector<std::string> NoticeFields(const Notice& notice) {
  std::vector<std::string> fields = {
      "e", std::string(EventName(notice.event)),
      "p", notice.profile,
      "t", notice.transaction_id,
      "m", notice.message_type,
      "r", notice.csr,
      "ts", absl::StrCat(absl::ToUnixMillis(notice.time))};
  if (notice.event == Notice::Event::kIssued) {
    fields.insert(fields.end(), {"c", notice.certificate});
  } else {
    fields.insert(fields.end(), {"f", notice.fail_info, "x", notice.fail_info_text});
  }
  if (!notice.first_id.empty()) fields.insert(fields.end(), {"i", notice.first_id});
  return fields;
}

std::vector<std::string> GivenUpFields(const QueuedNotice& queued, absl::string_view result,
                                       absl::string_view reason) {
  Notice notice = queued.notice;
  notice.first_id = NoticeId(queued.id, queued.notice);
  std::vector<std::string> fields = NoticeFields(notice);
  fields.insert(fields.end(), {"gr", std::string(result), "gw", std::string(reason), "gq",
                               absl::StrCat(absl::ToUnixMillis(queued.queued))});
  return fields;
}

absl::StatusOr<Notice> NoticeFromFields(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  Notice notice;
  bool has_event = false;
  int64_t ms = 0;
  for (const auto& [field, value] : fields) {
    if (field == "e") {
      has_event = value == "issued" || value == "failed";
      notice.event = value == "issued" ? Notice::Event::kIssued : Notice::Event::kFailed;
    } else if (field == "p") {
      notice.profile = value;
    } else if (field == "t") {
      notice.transaction_id = value;
    } else if (field == "m") {
      notice.message_type = value;
    } else if (field == "r") {
      notice.csr = value;
    } else if (field == "c") {
      notice.certificate = value;
    } else if (field == "f") {
      notice.fail_info = value;
    } else if (field == "x") {
      notice.fail_info_text = value;
    } else if (field == "i") {
      notice.first_id = value;
    } else if (field == "ts") {
      if (!absl::SimpleAtoi(value, &ms)) return absl::DataLossError("notice time malformed");
    }
  }
  if (!has_event || notice.profile.empty()) {
    return absl::DataLossError("notice without event or profile");
  }
  if (notice.event == Notice::Event::kIssued && notice.certificate.empty()) {
    return absl::DataLossError("issued notice without its certificate");
  }
  notice.time = absl::FromUnixMillis(ms);
  return notice;
}

std::string QueueNoticeLua(int first) {
  return absl::StrFormat(R"lua(
if redis.call('XLEN', '%s') < tonumber(ARGV[%d]) then
  redis.call('XADD', '%s', '*', unpack(ARGV, %d))
else
  redis.call('INCR', '%s')
end
)lua",
                         kNoticeStreamKey, first, kNoticeStreamKey, first + 1,
                         kNoticeDroppedKey);
}

absl::Status MemoryNoticeOutbox::Add(const Notice& notice) {
  absl::MutexLock lock(&mu_);
  if (entries_.size() >= max_queued_) {
    ++dropped_;
    return absl::OkStatus();
  }
  Entry entry;
  entry.queued.id = absl::StrCat(next_id_++);
  entry.queued.queued = absl::Now();
  entry.queued.notice = notice;
  entries_.push_back(std::move(entry));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<QueuedNotice>> MemoryNoticeOutbox::Take(
    absl::string_view worker, size_t max, absl::Duration retry_after) {
  (void)worker;
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  std::vector<QueuedNotice> out;
  for (int pass = 0; pass < 2; ++pass) {  // stale ones first, then new
    for (Entry& entry : entries_) {
      if (out.size() >= max) return out;
      const bool take = pass == 0 ? entry.taken && now - entry.taken_at >= retry_after
                                  : !entry.taken;
      if (!take) continue;
      entry.taken = true;
      entry.taken_at = now;
      out.push_back(entry.queued);
    }
  }
  return out;
}

absl::Status MemoryNoticeOutbox::Done(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->queued.id == id) {
      entries_.erase(it);
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status MemoryNoticeOutbox::GiveUp(const QueuedNotice& queued, absl::string_view result,
                                        absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->queued.id == queued.id) {
      entries_.erase(it);
      break;
    }
  }
  GivenUpNotice given_up;
  given_up.id = absl::StrCat(next_id_++);
  given_up.given_up = absl::Now();
  given_up.result = std::string(result);
  given_up.reason = std::string(reason);
  given_up.queued = queued.queued;
  given_up.notice = queued.notice;
  given_up.notice.first_id = NoticeId(queued.id, queued.notice);
  given_up_.push_back(std::move(given_up));
  if (given_up_.size() > kGivenUpMax) given_up_.pop_front();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GivenUpNotice>> MemoryNoticeOutbox::GivenUp(absl::string_view profile,
                                                                       size_t max) {
  absl::MutexLock lock(&mu_);
  std::vector<GivenUpNotice> out;
  for (auto it = given_up_.rbegin(); it != given_up_.rend() && out.size() < max; ++it) {
    if (profile.empty() || it->notice.profile == profile) out.push_back(*it);
  }
  return out;
}

absl::StatusOr<size_t> MemoryNoticeOutbox::Requeue(const std::vector<std::string>& ids) {
  absl::MutexLock lock(&mu_);
  size_t requeued = 0;
  for (const std::string& id : ids) {
    if (entries_.size() >= max_queued_) break;
    for (auto it = given_up_.begin(); it != given_up_.end(); ++it) {
      if (it->id != id) continue;
      Entry entry;
      entry.queued.id = absl::StrCat(next_id_++);
      entry.queued.queued = absl::Now();
      entry.queued.notice = std::move(it->notice);
      entries_.push_back(std::move(entry));
      given_up_.erase(it);
      ++requeued;
      break;
    }
  }
  return requeued;
}

absl::StatusOr<OutboxStats> MemoryNoticeOutbox::Stats() {
  absl::MutexLock lock(&mu_);
  OutboxStats stats;
  stats.queued = static_cast<int64_t>(entries_.size());
  for (const Entry& entry : entries_) stats.pending += entry.taken ? 1 : 0;
  stats.dropped = dropped_;
  stats.given_up = static_cast<int64_t>(given_up_.size());
  return stats;
}

}  // namespace scep::redis
