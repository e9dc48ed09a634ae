#include "services/signer/recent_issuance.h"

#include <openssl/evp.h>

#include <cstdint>

namespace scep::signer {

std::string RecentIssuance::Key(std::initializer_list<absl::string_view> parts) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (absl::string_view part : parts) {
    const uint64_t size = part.size();
    EVP_DigestUpdate(ctx, &size, sizeof(size));
    EVP_DigestUpdate(ctx, part.data(), part.size());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, digest, &length);
  EVP_MD_CTX_free(ctx);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

void RecentIssuance::ExpireLocked(absl::Time now) {
  while (!order_.empty() &&
         (order_.front().first + max_age_ < now || order_.size() > max_entries_)) {
    by_key_.erase(order_.front().second);
    order_.pop_front();
  }
}

std::optional<std::string> RecentIssuance::Find(const std::string& key, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

void RecentIssuance::Remember(const std::string& key, std::string certificate_der,
                              absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!by_key_.emplace(key, std::move(certificate_der)).second) return;
  order_.emplace_back(now, key);
  ExpireLocked(now);
}

}  // namespace scep::signer
