#include "common/codec/scep_types.h"

namespace scep::codec {

bool IsLegacyCipher(absl::string_view cipher) {
  return cipher == "des-cbc" || cipher == "des-ede3-cbc";
}

bool IsLegacyDigest(absl::string_view digest) {
  // Not MD5: a request signed with it is FAILURE badAlg even where legacy
  // clients are allowed (the reply would have to be signed with it too).
  return digest == "sha1";
}

bool IsKnownMessageType(MessageType type) {
  switch (type) {
    case MessageType::kCertRep:
    case MessageType::kRenewalReq:
    case MessageType::kPkcsReq:
    case MessageType::kCertPoll:
    case MessageType::kGetCert:
    case MessageType::kGetCrl:
      return true;
  }
  return false;
}

absl::string_view FailInfoName(FailInfo fail_info) {
  switch (fail_info) {
    case FailInfo::kBadAlg: return "badAlg";
    case FailInfo::kBadMessageCheck: return "badMessageCheck";
    case FailInfo::kBadRequest: return "badRequest";
    case FailInfo::kBadTime: return "badTime";
    case FailInfo::kBadCertId: return "badCertID";
  }
  return "unknown";
}

absl::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kCertRep: return "CertRep";
    case MessageType::kRenewalReq: return "RenewalReq";
    case MessageType::kPkcsReq: return "PKCSReq";
    case MessageType::kCertPoll: return "CertPoll";
    case MessageType::kGetCert: return "GetCert";
    case MessageType::kGetCrl: return "GetCRL";
  }
  return "unknown";
}

absl::string_view PkiStatusName(PkiStatus status) {
  switch (status) {
    case PkiStatus::kSuccess: return "SUCCESS";
    case PkiStatus::kFailure: return "FAILURE";
    case PkiStatus::kPending: return "PENDING";
  }
  return "unknown";
}

}  // namespace scep::codec
