#include "common/redis/request_keys.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/ssl_error.h"
#include "common/redis/store_keys.h"

namespace scep::redis {
namespace {

absl::StatusOr<std::string> Sha256Hex(absl::string_view value,
                                      absl::string_view what) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(value.data(), value.size(), digest, &digest_len, EVP_sha256(),
                 nullptr) != 1) {
    return crypto::SslInternal(absl::StrCat("SHA-256 of ", what));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), digest_len));
}

}  // namespace

absl::StatusOr<std::string> RequestKey(absl::string_view profile,
                                       absl::string_view transaction_id) {
  RETURN_IF_ERROR(ValidateProfile(profile));
  RETURN_IF_ERROR(RequireNonEmpty(transaction_id, "transactionID"));
  if (transaction_id.size() <= kMaxHexIdentifierBytes) {
    return absl::StrCat("scep:", profile, ":req:",
                        absl::BytesToHexString(transaction_id));
  }
  ASSIGN_OR_RETURN(std::string digest, Sha256Hex(transaction_id, "transactionID"));
  return absl::StrCat("scep:", profile, ":req:sha256-", digest);
}

absl::StatusOr<std::string> RequestIndexKey(absl::string_view profile) {
  if (profile.empty()) return std::string(kAllRequestsIndexKey);
  RETURN_IF_ERROR(ValidateProfile(profile));
  return absl::StrCat("scep:", profile, ":reqs");
}

absl::StatusOr<std::string> ChallengeKey(absl::string_view profile,
                                         absl::string_view challenge) {
  RETURN_IF_ERROR(ValidateProfile(profile));
  RETURN_IF_ERROR(RequireNonEmpty(challenge, "challenge"));
  ASSIGN_OR_RETURN(std::string digest, Sha256Hex(challenge, "challenge"));
  return absl::StrCat("scep:", profile, ":challenge:", digest);
}

std::string ChallengeClaimKey(absl::string_view challenge_key) {
  return absl::StrCat(challenge_key, ":claim");
}

absl::StatusOr<std::string> ChallengeHolder(absl::string_view transaction_id,
                                            absl::string_view fingerprint) {
  RETURN_IF_ERROR(RequireNonEmpty(transaction_id, "transactionID"));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "request fingerprint"));
  // Length-prefixed: no other pair of values gives the same text.
  return Sha256Hex(absl::StrCat(transaction_id.size(), ":", transaction_id, fingerprint),
                   "challenge holder");
}

absl::StatusOr<IndexCursor> ParsePageToken(absl::string_view token) {
  IndexCursor cursor;
  if (token.empty()) return cursor;
  const size_t colon = token.find(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(token.substr(0, colon), &cursor.score) ||
      colon + 1 == token.size()) {
    return absl::InvalidArgumentError("malformed page token");
  }
  cursor.member = std::string(token.substr(colon + 1));
  cursor.start = false;
  return cursor;
}

std::string PageToken(int64_t score, absl::string_view member) {
  return absl::StrCat(score, ":", member);
}

absl::Status ValidatePageSize(int page_size) {
  if (page_size < 1 || page_size > kMaxRequestPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page size must be 1 to ", kMaxRequestPageSize));
  }
  return absl::OkStatus();
}

}  // namespace scep::redis
