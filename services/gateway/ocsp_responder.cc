#include "services/gateway/ocsp_responder.h"

#include <openssl/bn.h>
#include <openssl/ocsp.h>

#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/codec/identifiers.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::gateway {
namespace {

using OcspRequestPtr = crypto::SslPtr<OCSP_REQUEST, OCSP_REQUEST_free>;
using OcspCertIdPtr = crypto::SslPtr<OCSP_CERTID, OCSP_CERTID_free>;
using OcspResponsePtr = crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;

constexpr int kMaxCertIds = 16;
constexpr size_t kMaxCached = 100000;
// RFC 8954 section 2.1: Nonce ::= OCTET STRING (SIZE(1..32)); its DER is
// at most 34 octets (what the signer takes).
constexpr int kMaxNonceOctets = 32;
constexpr int kMaxNonceValue = 34;

// The extnValue of `request`'s nonce extension, as sent; "" without one.
// InvalidArgument for two nonces or one outside 1..32 octets (RFC 8954
// section 2.1 asks for malformedRequest). The nonce is taken as the
// OCTET STRING RFC 8954 defines or, from clients that send the octets
// bare, as they are.
absl::StatusOr<std::string> RequestNonce(OCSP_REQUEST* request) {
  const int at = OCSP_REQUEST_get_ext_by_NID(request, NID_id_pkix_OCSP_Nonce, -1);
  if (at < 0) return std::string();
  if (OCSP_REQUEST_get_ext_by_NID(request, NID_id_pkix_OCSP_Nonce, at) >= 0) {
    return absl::InvalidArgumentError("two OCSP nonces");
  }
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(request, at));
  const unsigned char* data = ASN1_STRING_get0_data(value);
  const int length = ASN1_STRING_length(value);
  int octets = length;
  const unsigned char* p = data;
  crypto::Asn1StringPtr inner(d2i_ASN1_OCTET_STRING(nullptr, &p, length));
  if (inner != nullptr && p == data + length) {
    octets = ASN1_STRING_length(inner.get());
  } else {
    crypto::DrainSslErrors();
  }
  if (octets < 1 || octets > kMaxNonceOctets || length > kMaxNonceValue) {
    return absl::InvalidArgumentError("an OCSP nonce has 1 to 32 octets (RFC 8954)");
  }
  return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(length));
}

// Big-endian magnitude of a positive serial; "" for a negative or
// oversized one.
std::string SerialBytes(const ASN1_INTEGER* serial) {
  crypto::BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr || BN_is_negative(bn.get()) || BN_num_bytes(bn.get()) > 20 ||
      BN_is_zero(bn.get())) {
    return "";
  }
  std::string out(static_cast<size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// Whether DER certificate `der` names `ca` as its issuer (name and key
// identifier): after a CA rollover the index holds the certificates of the
// current and the previous CAs under one CA name. A record whose DER does
// not parse is taken as the CA's (its name already matched).
bool IssuedBy(X509* ca, const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  crypto::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr) {
    crypto::DrainSslErrors();
    return true;
  }
  return X509_check_issued(ca, cert.get()) == X509_V_OK;
}

}  // namespace

OcspResponder::OcspResponder(std::vector<OcspIssuer> issuers, OcspResponderOptions options)
    : issuers_(std::move(issuers)), options_(std::move(options)) {}

std::string OcspResponder::Unsigned(int status) {
  OcspResponsePtr response(OCSP_response_create(status, nullptr));
  absl::StatusOr<std::string> der =
      response == nullptr ? absl::InternalError("OCSPResponse")
                          : crypto::ToDer(response.get(), i2d_OCSP_RESPONSE);
  return der.ok() ? *std::move(der) : std::string();
}

absl::StatusOr<std::string> OcspResponder::DecodeGetRequest(absl::string_view encoded) {
  std::string base64;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%' && i + 2 < encoded.size()) {
      std::string hex(encoded.substr(i + 1, 2));
      if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
        return absl::InvalidArgumentError("bad %-escape in the OCSP request");
      }
      base64.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
      i += 2;
    } else {
      base64.push_back(encoded[i]);
    }
  }
  std::string der;
  if (!absl::Base64Unescape(base64, &der) || der.empty()) {
    return absl::InvalidArgumentError("the OCSP request is not base64");
  }
  return der;
}

absl::StatusOr<OcspResponder::Answer> OcspResponder::Respond(
    absl::string_view request, std::string* malformed,
    const std::function<absl::Status()>& before_signing, Nonce nonce_mode) {
  auto refuse = [&](absl::string_view why) {
    *malformed = Unsigned(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
    return absl::InvalidArgumentError(why);
  };
  OcspRequestPtr parsed;
  {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(request.data());
    parsed.reset(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request.size())));
    if (parsed == nullptr || p != reinterpret_cast<const unsigned char*>(request.data()) +
                                      request.size()) {
      crypto::DrainSslErrors();
      return refuse("not a DER OCSPRequest");
    }
  }
  const int count = OCSP_request_onereq_count(parsed.get());
  if (count < 1 || count > kMaxCertIds) return refuse("an OCSP request asks for 1 to 16 certificates");
  std::string nonce;
  if (nonce_mode == Nonce::kEcho) {
    absl::StatusOr<std::string> found = RequestNonce(parsed.get());
    if (!found.ok()) return refuse(found.status().message());
    nonce = *std::move(found);
  }

  // Which of our CAs: every CertID must name the same one (and after a CA
  // rollover the same CA certificate, current or previous).
  const OcspIssuer* issuer = nullptr;
  std::shared_ptr<const CaSet> issuer_set;  // keeps `answering` alive
  X509* answering = nullptr;  // the CA certificate answering
  std::string digest;
  std::vector<const ASN1_INTEGER*> serials;
  for (int i = 0; i < count; ++i) {
    OCSP_CERTID* id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(parsed.get(), i));
    ASN1_OBJECT* md_obj = nullptr;
    ASN1_INTEGER* serial = nullptr;
    if (OCSP_id_get0_info(nullptr, &md_obj, nullptr, &serial, id) != 1) {
      return refuse("unreadable CertID");
    }
    const int md_nid = OBJ_obj2nid(md_obj);
    const EVP_MD* md = md_nid == NID_sha1 ? EVP_sha1() : md_nid == NID_sha256 ? EVP_sha256()
                                                                              : nullptr;
    if (md == nullptr) return refuse("CertID hash must be SHA-1 or SHA-256");
    const std::string this_digest = md_nid == NID_sha1 ? "sha1" : "sha256";
    if (!digest.empty() && digest != this_digest) return refuse("CertIDs with different hashes");
    digest = this_digest;
    const OcspIssuer* match = nullptr;
    X509* match_cert = nullptr;
    std::shared_ptr<const CaSet> match_set;
    auto names = [&](X509* cert) {
      OcspCertIdPtr ours(OCSP_cert_to_id(md, nullptr, cert));
      return ours != nullptr && OCSP_id_issuer_cmp(ours.get(), id) == 0;
    };
    for (const OcspIssuer& candidate : issuers_) {
      absl::StatusOr<std::shared_ptr<const CaSet>> ca = candidate.certificates->Get();
      if (!ca.ok()) return ca.status();
      if (names((*ca)->ca.get())) {
        match_cert = (*ca)->ca.get();
      } else if (options_.previous_cas != nullptr) {
        for (const crypto::X509Ptr& previous : (*ca)->previous_cas) {
          if (names(previous.get())) {
            match_cert = previous.get();
            break;
          }
        }
      }
      if (match_cert != nullptr) {
        match = &candidate;
        match_set = *std::move(ca);
        break;
      }
    }
    if (match == nullptr || (issuer != nullptr && match != issuer) ||
        (answering != nullptr && X509_cmp(match_cert, answering) != 0)) {
      // Not a CA of ours (or a mix): not authoritative (RFC 6960 2.3).
      return Answer{Unsigned(OCSP_RESPONSE_STATUS_UNAUTHORIZED), false, absl::ZeroDuration()};
    }
    issuer = match;
    if (answering == nullptr) {
      answering = match_cert;
      issuer_set = std::move(match_set);
    }
    serials.push_back(serial);
  }

  const bool previous = answering != issuer_set->ca.get();
  SignerClient* signer = previous ? options_.previous_cas->SignerFor(issuer->name,
                                                                     issuer->signer, answering)
                                  : issuer->signer;
  OcspSignRequest sign;
  sign.cert_id_digest = digest;
  // Reused answers are per CA certificate: a previous CA's are its own.
  std::string key = absl::StrCat(issuer->name, "/",
                                 previous ? crypto::CaKeyId(answering) : "", "/", digest);
  for (const ASN1_INTEGER* serial : serials) {
    OcspSingle single;
    single.serial = SerialBytes(serial);
    if (single.serial.empty()) return refuse("CertID serial out of range");
    absl::StrAppend(&key, "/", codec::SerialHex(serial));
    sign.statuses.push_back(std::move(single));
  }
  absl::StatusOr<int64_t> generation = issuer->index->RevocationGeneration();
  const absl::Time now = options_.clock();
  const absl::Duration reuse = std::min(options_.reuse, options_.validity / 2);
  auto reused = [&]() -> std::optional<Answer> {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    // Redis down: the generation cannot be read, so an answer inside its
    // reuse time is served unchecked (no revocation can be made meanwhile;
    // one made just before can be missed until the reuse time ends, as
    // with the kept CRL).
    if (it != cache_.end() && (!generation.ok() || it->second.generation == *generation) &&
        now - it->second.produced < reuse) {
      return Answer{it->second.der, true, reuse - (now - it->second.produced)};
    }
    return std::nullopt;
  };
  // An answer echoing a nonce is for that request alone: signed afresh,
  // never reused. When it cannot be (the client's limit of fresh
  // signatures, the signer busy or down), the reused answer without the
  // nonce is the next best: RFC 8954 section 2.1 lets a responder leave
  // the nonce out, and most relying parties accept that.
  if (nonce.empty() || absl::IsUnavailable(generation.status())) {
    if (std::optional<Answer> answer = reused()) return *std::move(answer);
  }
  if (!generation.ok()) return generation.status();
  if (before_signing) {
    if (absl::Status allowed = before_signing(); !allowed.ok()) {
      if (!nonce.empty() && absl::IsResourceExhausted(allowed)) {
        if (std::optional<Answer> answer = reused()) return *std::move(answer);
      }
      return allowed;
    }
  }
  for (size_t i = 0; i < serials.size(); ++i) {
    absl::StatusOr<std::optional<redis::CertificateRecord>> record =
        issuer->index->Get(codec::SerialHex(serials[i]));
    if (!record.ok()) return record.status();
    OcspSingle& single = sign.statuses[i];
    if (!record->has_value() || (*record)->issuing_ca != issuer->name ||
        !IssuedBy(answering, (*record)->certificate)) {
      single.kind = OcspSingle::Kind::kUnknown;
    } else if ((*record)->revoked) {
      single.kind = OcspSingle::Kind::kRevoked;
      single.revoked_at = (*record)->revoked_at;
      single.reason = (*record)->reason;
    } else {
      single.kind = OcspSingle::Kind::kGood;
    }
  }
  sign.this_update = now;
  sign.next_update = now + options_.validity;
  sign.nonce = nonce;
  absl::StatusOr<std::string> der = signer->SignOcsp(sign);
  if (!der.ok()) {
    if (!nonce.empty() && absl::IsUnavailable(der.status())) {
      if (std::optional<Answer> answer = reused()) return *std::move(answer);
    }
    return der.status();
  }
  if (!nonce.empty()) return Answer{*std::move(der), true, absl::ZeroDuration(), true};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_[key] = Cached{*generation, *der, now};
  }
  return Answer{*std::move(der), true, reuse};
}

}  // namespace scep::gateway
