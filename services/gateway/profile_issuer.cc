#include "services/gateway/profile_issuer.h"

#include <arpa/inet.h>
#include <openssl/objects.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/codec/identifiers.h"
#include "common/crypto/asn1_text.h"
#include "common/crypto/der.h"
#include "common/crypto/device_key_type.h"
#include "common/crypto/distinguished_name.h"
#include "common/crypto/san_syntax.h"

namespace scep::gateway {
namespace {

// '*' matches any run of characters (DNS labels included); case-insensitive.
// `text` has passed CheckSubjectAltNameSyntax.
bool GlobMatch(absl::string_view pattern, absl::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern[0] == '*') {
    for (size_t i = 0; i <= text.size(); ++i) {
      if (GlobMatch(pattern.substr(1), text.substr(i))) return true;
    }
    return false;
  }
  return !text.empty() &&
         absl::ascii_tolower(pattern[0]) == absl::ascii_tolower(text[0]) &&
         GlobMatch(pattern.substr(1), text.substr(1));
}

std::string AsText(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     ASN1_STRING_length(s));
}

// ("dns", "host.example") for a GeneralName; type "" when unsupported.
std::pair<std::string, std::string> Describe(const GENERAL_NAME* name) {
  switch (name->type) {
    case GEN_DNS: return {"dns", AsText(name->d.dNSName)};
    case GEN_EMAIL: return {"email", AsText(name->d.rfc822Name)};
    case GEN_URI: return {"uri", AsText(name->d.uniformResourceIdentifier)};
    case GEN_IPADD: {
      // Dotted quad, or RFC 5952 text for IPv6 ("2001:db8::7"), so a
      // policy pattern such as "2001:db8:*" can name a range.
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const int length = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = "";
      if ((length != 4 && length != 16) ||
          inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text,
                    sizeof(text)) == nullptr) {
        return {"ip", "<malformed>"};
      }
      return {"ip", text};
    }
    case GEN_OTHERNAME:
      if (OBJ_obj2nid(name->d.otherName->type_id) == NID_ms_upn &&
          name->d.otherName->value->type == V_ASN1_UTF8STRING) {
        return {"upn", AsText(name->d.otherName->value->value.utf8string)};
      }
      return {"", ""};
    default:
      return {"", ""};
  }
}

absl::StatusOr<crypto::X509NamePtr> BuildSubject(const Profile& profile,
                                                 const X509_NAME* requested) {
  crypto::X509NamePtr subject(X509_NAME_new());
  for (const auto& [type, value] : profile.subject) {
    std::string text = value;
    if (value.size() > 2 && value.front() == '{' && value.back() == '}') {
      const std::string attr = value.substr(1, value.size() - 2);
      int nid = OBJ_txt2nid(attr.c_str());
      int idx = nid == NID_undef ? -1 : X509_NAME_get_index_by_NID(requested, nid, -1);
      if (idx < 0) {
        return absl::PermissionDeniedError(
            absl::StrCat("request has no ", attr, " for the subject template"));
      }
      // As UTF-8: a BMPString (Windows) or TeletexString copied as bytes
      // would put NULs or mojibake in the certificate.
      absl::StatusOr<std::string> utf8 = crypto::Utf8Text(
          X509_NAME_ENTRY_get_data(X509_NAME_get_entry(requested, idx)),
          absl::StrCat("the request's ", attr));
      if (!utf8.ok()) return absl::PermissionDeniedError(utf8.status().message());
      text = *std::move(utf8);
    }
    if (X509_NAME_add_entry_by_txt(subject.get(), type.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(text.data()),
                                   static_cast<int>(text.size()), -1, 0) != 1) {
      return absl::InternalError(absl::StrCat("subject template RDN ", type));
    }
  }
  return subject;
}

}  // namespace

absl::StatusOr<bool> ProfileIssuer::IssuesSubject(const Profile& profile,
                                                  const X509_NAME* requested,
                                                  const X509_NAME* subject) {
  if (profile.subject.empty()) return X509_NAME_cmp(requested, subject) == 0;
  ASSIGN_OR_RETURN(crypto::X509NamePtr issued, BuildSubject(profile, requested));
  return X509_NAME_cmp(issued.get(), subject) == 0;
}

absl::StatusOr<crypto::X509NamePtr> ProfileIssuer::IssuedSubject(const Profile& profile,
                                                                 const X509_NAME* requested) {
  if (!profile.subject.empty()) return BuildSubject(profile, requested);
  crypto::X509NamePtr copy(X509_NAME_dup(requested));
  if (copy == nullptr) return absl::InternalError("copying the subject");
  return copy;
}

absl::Status ProfileIssuer::CheckPolicy(const Profile& profile,
                                        const codec::Csr& csr) {
  X509_REQ* req = csr.request.get();
  EVP_PKEY* key = csr.public_key.get();
  // By curve name, not size: secp256k1 and brainpoolP256r1 were ec-p256.
  absl::StatusOr<std::string> key_type =
      crypto::DeviceKeyType(key, X509_REQ_get_X509_PUBKEY(req));
  if (!key_type.ok()) return absl::PermissionDeniedError(key_type.status().message());
  if (*key_type == "rsa" && EVP_PKEY_get_bits(key) < profile.min_rsa_bits) {
    return absl::PermissionDeniedError(absl::StrCat(
        "RSA key of ", EVP_PKEY_get_bits(key), " bits; the profile requires ",
        profile.min_rsa_bits));
  }
  if (std::find(profile.key_types.begin(), profile.key_types.end(), *key_type) ==
      profile.key_types.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("key type ", *key_type, " is not allowed by the profile"));
  }
  const X509_NAME* name = X509_REQ_get_subject_name(req);
  // A CN with a NUL or another control character reads differently to a
  // relying party that uses it as a host name or shows it.
  if (absl::Status text = crypto::CheckSubjectText(name); !text.ok()) {
    return absl::PermissionDeniedError(text.message());
  }
  if (const int size = i2d_X509_NAME(name, nullptr); size > profile.max_subject_bytes) {
    return absl::PermissionDeniedError(absl::StrCat("subject of ", size,
                                                    " bytes; the profile allows ",
                                                    profile.max_subject_bytes));
  }
  if (!profile.allowed_rdns.empty()) {
    for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
      const char* sn = OBJ_nid2sn(OBJ_obj2nid(
          X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, i))));
      if (std::find(profile.allowed_rdns.begin(), profile.allowed_rdns.end(),
                    sn != nullptr ? sn : "") == profile.allowed_rdns.end()) {
        return absl::PermissionDeniedError(
            absl::StrCat("subject attribute ", sn != nullptr ? sn : "?",
                         " is not allowed by the profile"));
      }
    }
  }
  // The names the signer copies are the ones checked here: a request
  // with two subjectAltName extensions, or one that does not decode, is
  // refused rather than read as asking for none.
  absl::StatusOr<crypto::GeneralNamesPtr> requested = codec::RequestedSubjectAltName(req);
  if (!requested.ok()) return absl::PermissionDeniedError(requested.status().message());
  crypto::GeneralNamesPtr requested_sans = *std::move(requested);
  if (requested_sans != nullptr &&
      sk_GENERAL_NAME_num(requested_sans.get()) > profile.max_sans) {
    return absl::PermissionDeniedError(
        absl::StrCat("too many subjectAltNames (", sk_GENERAL_NAME_num(requested_sans.get()),
                     "; the profile allows ", profile.max_sans, ")"));
  }
  // Before any pattern: GlobMatch compares bytes, and its '*' matched a NUL
  // ("www.bank.com\0.devices.example.com" under "*.devices.example.com").
  for (int i = 0; requested_sans != nullptr && i < sk_GENERAL_NAME_num(requested_sans.get());
       ++i) {
    absl::Status syntax =
        crypto::CheckSubjectAltNameSyntax(sk_GENERAL_NAME_value(requested_sans.get(), i));
    if (!syntax.ok()) return absl::PermissionDeniedError(syntax.message());
  }
  if (!profile.san_policy.empty()) {
    crypto::GeneralNamesPtr sans = std::move(requested_sans);
    for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      auto [type, value] = Describe(sk_GENERAL_NAME_value(sans.get(), i));
      bool allowed = false;
      for (const auto& [policy_type, patterns] : profile.san_policy) {
        if (policy_type != type) continue;
        for (const std::string& pattern : patterns) {
          allowed = allowed || GlobMatch(pattern, value);
        }
      }
      if (!allowed) {
        return absl::PermissionDeniedError(absl::StrCat(
            "subjectAltName ", type.empty() ? "of an unsupported type" : type + ":" + value,
            " is outside the profile's SAN policy"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<IssueRequest> ProfileIssuer::SignerRequest(const Profile& profile,
                                                          const codec::Csr& csr) const {
  IssueRequest request;
  if (!csr.der.empty()) {
    request.csr = csr.der;
  } else {
    ASSIGN_OR_RETURN(request.csr, crypto::ToDer(csr.request.get(), i2d_X509_REQ));
  }
  request.validity_days = profile.validity_days;
  request.digest = profile.digest;
  request.key_usage = profile.key_usage;
  request.extended_key_usage = profile.extended_key_usage;
  request.crl_distribution_points = profile.crl_distribution_points;
  request.ca_issuers = profile.ca_issuers;
  request.ocsp_urls = profile.ocsp_urls;
  request.profile = profile.name;
  if (!profile.subject.empty()) {
    ASSIGN_OR_RETURN(crypto::X509NamePtr subject,
                     BuildSubject(profile, X509_REQ_get_subject_name(csr.request.get())));
    ASSIGN_OR_RETURN(request.subject, crypto::ToDer(subject.get(), i2d_X509_NAME));
  }
  return request;
}

absl::Status ProfileIssuer::Record(const Profile& profile, const std::string& cert_der,
                                   const std::string& serial_hex, absl::Time not_after) {
  redis::CertificateRecord record;
  record.certificate = cert_der;
  record.profile = profile.name;
  record.issuing_ca = profile.issuing_ca;
  const absl::Duration lifetime = std::max(absl::ZeroDuration(), not_after - absl::Now());
  return index_->Put(serial_hex, record, lifetime + index_grace_);
}

absl::StatusOr<redis::CertificateRecord> ProfileIssuer::RecordAgain(const Profile& profile,
                                                                   X509* cert) {
  const std::string serial_hex = codec::SerialHex(X509_get0_serialNumber(cert));
  redis::CertificateRecord record;
  ASSIGN_OR_RETURN(record.certificate, crypto::ToDer(cert, i2d_X509));
  record.profile = profile.name;
  record.issuing_ca = profile.issuing_ca;
  const absl::Duration lifetime = std::max(
      absl::ZeroDuration(),
      absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(cert))) - absl::Now());
  // The index writes it revoked if the list has it; asked after the write,
  // the list's answer covers a revocation restored meanwhile too.
  RETURN_IF_ERROR(index_->Put(serial_hex, record, lifetime + index_grace_));
  ASSIGN_OR_RETURN(std::optional<redis::RevokedSerial> listed, index_->GetRevoked(serial_hex));
  if (listed.has_value()) {
    record.revoked = true;
    record.reason = listed->reason;
    record.revoked_at = listed->revoked_at;
  }
  return record;
}

absl::StatusOr<std::string> ProfileIssuer::Issue(const Profile& profile,
                                                 const codec::Csr& csr) {
  RETURN_IF_ERROR(CheckPolicy(profile, csr));
  ASSIGN_OR_RETURN(IssueRequest request, SignerRequest(profile, csr));
  ASSIGN_OR_RETURN(std::string cert_der, signer_->Issue(request));
  // The signer's certificate, unreadable here, could not be indexed either:
  // "cannot happen", and not something to hand out.
  ASSIGN_OR_RETURN(crypto::X509Ptr cert,
                   crypto::FromDer<crypto::X509Ptr>(cert_der, d2i_X509, "issued certificate"));
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert.get()));
  const std::string serial_hex = codec::SerialHex(X509_get0_serialNumber(cert.get()));
  if (absl::Status indexed = Record(profile, cert_der, serial_hex,
                                    absl::Now() + absl::Hours(24) * days + absl::Seconds(secs));
      !indexed.ok()) {
    return absl::UnavailableError(absl::StrCat("certificate ", serial_hex,
                                               " withheld: the certificate index did not "
                                               "record it: ", indexed.message()));
  }
  return cert_der;
}

absl::StatusOr<IssuedCertRep> ProfileIssuer::IssueWithReply(const Profile& profile,
                                                            const codec::Csr& csr,
                                                            const CertRepRequest& reply) {
  ASSIGN_OR_RETURN(IssueRequest request, SignerRequest(profile, csr));
  ASSIGN_OR_RETURN(IssuedCertRep issued, signer_->IssueCertRep(request, reply));
  issued.indexed = Record(profile, issued.certificate, issued.serial_hex, issued.not_after);
  return issued;
}

}  // namespace scep::gateway
