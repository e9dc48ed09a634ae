#include "common/redis/store_keys.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/ssl_error.h"

namespace scep::redis {
namespace {

absl::StatusOr<std::string> Identifier(absl::string_view value,
                                       absl::string_view what) {
  RETURN_IF_ERROR(RequireNonEmpty(value, what));
  if (value.size() <= kMaxHexIdentifierBytes) {
    return absl::BytesToHexString(value);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(value.data(), value.size(), digest, &digest_len, EVP_sha256(),
                 nullptr) != 1) {
    return crypto::SslInternal(absl::StrCat("SHA-256 of ", what));
  }
  return absl::StrCat("sha256-",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(digest), digest_len)));
}

absl::StatusOr<std::string> Key(absl::string_view profile,
                                absl::string_view kind, absl::string_view value,
                                absl::string_view what) {
  RETURN_IF_ERROR(ValidateProfile(profile));
  ASSIGN_OR_RETURN(std::string id, Identifier(value, what));
  return absl::StrCat("scep:", profile, ":", kind, ":", id);
}

}  // namespace

absl::Status ValidateProfile(absl::string_view profile) {
  if (profile.empty() || profile.size() > kMaxProfileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "profile name must be 1 to ", kMaxProfileBytes, " characters"));
  }
  for (char c : profile) {
    // Printable ASCII except space (0x20) and ':' (the key separator).
    if (c <= 0x20 || c >= 0x7f || c == ':') {
      return absl::InvalidArgumentError(
          "profile name must be printable ASCII without ':' or spaces");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NonceKey(absl::string_view profile,
                                     absl::string_view nonce) {
  return Key(profile, "nonce", nonce, "senderNonce");
}

absl::StatusOr<std::string> TransactionKey(absl::string_view profile,
                                           absl::string_view transaction_id) {
  return Key(profile, "txn", transaction_id, "transactionID");
}

absl::StatusOr<int64_t> TtlMillis(absl::Duration ttl, absl::string_view what) {
  if (ttl == absl::InfiniteDuration() || ttl < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be finite and at least 1ms"));
  }
  return absl::ToInt64Milliseconds(absl::Ceil(ttl, absl::Milliseconds(1)));
}

absl::Status RequireNonEmpty(absl::string_view value, absl::string_view what) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must not be empty"));
  }
  return absl::OkStatus();
}

}  // namespace scep::redis
