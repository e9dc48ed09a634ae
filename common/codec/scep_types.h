#ifndef SCEP_COMMON_CODEC_SCEP_TYPES_H_
#define SCEP_COMMON_CODEC_SCEP_TYPES_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace scep::codec {

// messageType values, RFC 8894 section 3.2.1.2. A parsed message may hold
// another value (ParsePkiMessage keeps the number it was sent): see
// IsKnownMessageType.
enum class MessageType {
  kCertRep = 3,
  kRenewalReq = 17,
  kPkcsReq = 19,
  kCertPoll = 20,
  kGetCert = 21,
  kGetCrl = 22,
};

// pkiStatus values, RFC 8894 section 3.2.1.3.
enum class PkiStatus { kSuccess = 0, kFailure = 2, kPending = 3 };

// failInfo values, RFC 8894 section 3.2.1.4.
enum class FailInfo {
  kBadAlg = 0,
  kBadMessageCheck = 1,
  kBadRequest = 2,
  kBadTime = 3,
  kBadCertId = 4,
};

// The SCEP authenticated attributes of a pkiMessage. Strings hold the
// attribute's raw octets (transactionID is a PrintableString, the nonces
// 16-octet OCTET STRINGs).
struct ScepAttributes {
  MessageType message_type = MessageType::kPkcsReq;
  std::string transaction_id;
  std::string sender_nonce;
  std::optional<std::string> recipient_nonce;
  std::optional<PkiStatus> pki_status;
  std::optional<FailInfo> fail_info;
  std::optional<std::string> fail_info_text;  // RFC 8894 section 3.2.1.4
};

// A content-encryption or digest algorithm by its OpenSSL name
// ("aes-128-cbc", "sha256", ...). `legacy` marks DES, 3DES and SHA-1.
bool IsLegacyCipher(absl::string_view cipher);
bool IsLegacyDigest(absl::string_view digest);

// Whether `type` is one of the enumerators above (a message of another
// type parses, and is refused by its receiver).
bool IsKnownMessageType(MessageType type);

// Names for failInfoText, logs and metric labels (RFC 8894 spelling);
// "unknown" for a value that is not an enumerator.
absl::string_view FailInfoName(FailInfo fail_info);
absl::string_view MessageTypeName(MessageType type);
absl::string_view PkiStatusName(PkiStatus status);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_SCEP_TYPES_H_
