#include "services/gateway/pki_operation.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "common/codec/envelope.h"
#include "common/crypto/der.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using codec::MessageType;

std::string FreshNonce() {
  std::string nonce(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), 16) != 1) {
    std::abort();  // no randomness: nothing safe left to do
  }
  return nonce;
}

PkiOutcome HttpOutcome(int status, std::string body, std::string summary) {
  PkiOutcome outcome;
  outcome.http_status = status;
  outcome.body = std::move(body);
  outcome.summary = std::move(summary);
  return outcome;
}

}  // namespace

std::string MessageId(const codec::PkiMessage& msg) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(msg.signature.data()), msg.signature.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), 16);
}

bool SecretEquals(absl::string_view presented, absl::string_view expected) {
  // Hashing first makes the comparison independent of both lengths.
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()),
         presented.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()),
         expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof(a)) == 0 && !expected.empty();
}

PkiOutcome Unavailable(absl::string_view what) {
  return HttpOutcome(503, absl::StrCat("service unavailable: ", what, "\n"),
                     "HTTP 503");
}

PkiOutcome BadRequest(absl::string_view what) {
  return HttpOutcome(400, absl::StrCat(what, "\n"), "HTTP 400");
}

PkiOutcome InternalError() {
  return HttpOutcome(500, "internal error\n", "HTTP 500");
}

PkiOutcome PkiOperation::Handle(const Profile& profile, absl::string_view der) {
  absl::StatusOr<codec::PkiMessage> msg = codec::ParsePkiMessage(der);
  if (!msg.ok()) {
    return BadRequest(absl::StrCat("malformed pkiMessage: ", msg.status().message()));
  }
  // The reply mirrors the request's digest when the profile allows it.
  const bool digest_ok =
      msg->digest == "sha256" || msg->digest == "sha384" ||
      msg->digest == "sha512" ||
      (profile.allow_legacy && codec::IsLegacyDigest(msg->digest));
  Request req{*msg, digest_ok ? msg->digest : "sha256", "", MessageId(*msg)};
  if (!msg->signature_valid) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "pkiMessage signature does not verify");
  }
  if (!digest_ok) {
    return Failure(req, FailInfo::kBadAlg,
                   absl::StrCat("digest ", msg->digest, " is not allowed"));
  }
  const MessageType type = msg->attributes.message_type;
  if (type == MessageType::kCertRep) {
    return Failure(req, FailInfo::kBadRequest, "a CertRep is not a request");
  }
  if (!codec::IsKnownMessageType(type)) {
    // RFC 8894 section 3.2.1.4: badRequest, a transaction not supported;
    // answered before anything is decrypted.
    return Failure(req, FailInfo::kBadRequest,
                   absl::StrCat("messageType ", static_cast<int>(type), " not supported"));
  }
  absl::StatusOr<std::shared_ptr<const CaSet>> ca = certificates_->Get();
  if (!ca.ok()) return Unavailable("CA certificates not loaded");
  absl::StatusOr<std::string> cipher = codec::EnvelopeCipher(msg->content);
  if (absl::IsInvalidArgument(cipher.status())) {
    // BER with indefinite lengths (BouncyCastle's jscep, Apple's client):
    // re-encoded as DER once, for the walks here and for the signer.
    if (absl::StatusOr<std::string> der = codec::EnvelopeAsDer(msg->content); der.ok()) {
      cipher = codec::EnvelopeCipher(*der);
      if (cipher.ok()) msg->content = *std::move(der);  // req.msg is *msg
    }
  }
  if (absl::IsUnimplemented(cipher.status())) {
    // A well-formed envelope of a cipher we do not decrypt (RC2, Camellia,
    // AES-GCM's AuthEnvelopedData): RFC 8894 section 3.2.1.4, badAlg.
    return Failure(req, FailInfo::kBadAlg, cipher.status().message());
  }
  if (!cipher.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "pkcsPKIEnvelope is not a supported EnvelopedData");
  }
  if (codec::IsLegacyCipher(*cipher) && !profile.allow_legacy) {
    return Failure(req, FailInfo::kBadAlg,
                   absl::StrCat("cipher ", *cipher, " is not allowed"));
  }
  req.cipher = *cipher;
  // A PKCSReq records its nonce once decrypted: on the common path together
  // with the transaction claim, one Redis round trip instead of two. A
  // replay is refused all the same, after one RA decryption, which any new
  // self-signed request costs too.
  if (type == MessageType::kPkcsReq) {
    return WithFailureNotice(profile, req, HandleEnrollment(profile, req, **ca));
  }
  if (std::optional<PkiOutcome> refused = RecordNonce(profile, req)) {
    return *std::move(refused);
  }
  if (type == MessageType::kRenewalReq) {
    return WithFailureNotice(profile, req, HandleEnrollment(profile, req, **ca));
  }
  absl::StatusOr<std::string> plain = signer_->Decrypt(msg->content);
  if (absl::IsUnavailable(plain.status())) return UnavailableAfterNonce(req, "signer");
  if (!plain.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "cannot decrypt pkcsPKIEnvelope with the RA key");
  }
  switch (type) {
    case MessageType::kCertPoll: return HandleCertPoll(profile, req, *plain, **ca);
    case MessageType::kGetCert: return HandleGetCert(profile, req, *plain, **ca);
    case MessageType::kGetCrl: return HandleGetCrl(req, *plain, **ca);
    default: break;
  }
  return Failure(req, FailInfo::kBadRequest, "message type not supported");
}

std::optional<PkiOutcome> PkiOperation::RecordNonce(const Profile& profile,
                                                    Request& req) {
  absl::StatusOr<redis::NonceUse> use =
      store_->RecordNonce(profile.name, req.msg.attributes.sender_nonce,
                          req.message_id, options_.nonce_ttl);
  if (!use.ok()) return Unavailable("replay store");
  if (*use == redis::NonceUse::kReplay) {
    return Failure(req, FailInfo::kBadRequest, kReplayText);
  }
  req.retransmission = *use == redis::NonceUse::kRetransmission;
  req.nonce_profile = &profile;
  return std::nullopt;
}

PkiOutcome PkiOperation::Refuse(const Profile& profile, Request& req,
                                FailInfo fail_info, absl::string_view text) {
  if (req.nonce_profile == nullptr) {
    if (std::optional<PkiOutcome> refused = RecordNonce(profile, req)) {
      return *std::move(refused);
    }
  }
  return Failure(req, fail_info, text);
}

PkiOutcome PkiOperation::UnavailableAfterNonce(const Request& req,
                                               absl::string_view what) {
  if (req.nonce_profile != nullptr) {
    (void)store_->ForgetNonce(req.nonce_profile->name,
                              req.msg.attributes.sender_nonce);
  }
  return Unavailable(what);
}

PkiOutcome PkiOperation::SuccessWithCertificate(const Request& req,
                                                const std::string& cert_der) {
  if (cert_der.empty()) {
    // An issued transaction whose certificate left the certificate index
    // (it expired before the transaction record did).
    return Failure(req, FailInfo::kBadCertId,
                   "the certificate of this transaction is no longer available");
  }
  absl::StatusOr<crypto::X509Ptr> cert =
      crypto::FromDer<crypto::X509Ptr>(cert_der, d2i_X509, "issued certificate");
  if (!cert.ok()) return InternalError();
  absl::StatusOr<std::string> degenerate =
      codec::DegenerateCertificates({cert->get()});
  if (!degenerate.ok()) return InternalError();
  return SuccessWithPayload(req, *degenerate);
}

PkiOutcome PkiOperation::SuccessWithPayload(const Request& req,
                                            const std::string& degenerate) {
  // Encrypted to the certificate that signed the request (RFC 8894
  // section 3.3.2), with the request's own content cipher.
  absl::StatusOr<std::string> envelope = codec::Envelope(
      degenerate, req.msg.signer_certificate.get(),
      req.cipher.empty() ? "aes-128-cbc" : req.cipher);
  if (!envelope.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "cannot encrypt to the request's signer certificate");
  }
  codec::ScepAttributes attrs;
  attrs.pki_status = codec::PkiStatus::kSuccess;
  return Sign(req, *envelope, std::move(attrs), "SUCCESS");
}

PkiOutcome PkiOperation::Failure(const Request& req, FailInfo fail_info,
                                 absl::string_view text) {
  codec::ScepAttributes attrs;
  attrs.pki_status = codec::PkiStatus::kFailure;
  attrs.fail_info = fail_info;
  attrs.fail_info_text = std::string(text);
  return Sign(req, "", std::move(attrs),
              absl::StrCat("FAILURE ", codec::FailInfoName(fail_info), ": ", text));
}

PkiOutcome PkiOperation::Pending(const Request& req) {
  codec::ScepAttributes attrs;
  attrs.pki_status = codec::PkiStatus::kPending;
  return Sign(req, "", std::move(attrs), "PENDING");
}

PkiOutcome PkiOperation::Sign(const Request& req, const std::string& content,
                              codec::ScepAttributes attrs, std::string summary) {
  attrs.message_type = MessageType::kCertRep;
  attrs.transaction_id = req.msg.attributes.transaction_id;
  attrs.recipient_nonce = req.msg.attributes.sender_nonce;
  attrs.sender_nonce = FreshNonce();
  absl::StatusOr<std::string> der =
      signer_->SignCertRep(content, attrs, req.digest);
  if (absl::IsUnavailable(der.status())) {
    return UnavailableAfterNonce(req, "signer");
  }
  if (!der.ok()) return InternalError();
  return Signed(req, *std::move(der), attrs, std::move(summary));
}

PkiOutcome PkiOperation::Signed(const Request& req, std::string der,
                                const codec::ScepAttributes& attrs,
                                std::string summary) const {
  PkiOutcome outcome = HttpOutcome(200, std::move(der), std::move(summary));
  outcome.message_type =
      std::string(codec::MessageTypeName(req.msg.attributes.message_type));
  outcome.pki_status = std::string(codec::PkiStatusName(*attrs.pki_status));
  if (attrs.fail_info) {
    outcome.fail_info = std::string(codec::FailInfoName(*attrs.fail_info));
  }
  if (attrs.fail_info_text) outcome.fail_info_text = *attrs.fail_info_text;
  outcome.transaction_id = req.msg.attributes.transaction_id;
  outcome.retransmission = req.retransmission;
  return outcome;
}

absl::StatusOr<CertRepRequest> PkiOperation::SuccessReply(const Request& req) const {
  CertRepRequest reply;
  reply.attributes.message_type = MessageType::kCertRep;
  reply.attributes.transaction_id = req.msg.attributes.transaction_id;
  reply.attributes.recipient_nonce = req.msg.attributes.sender_nonce;
  reply.attributes.sender_nonce = FreshNonce();
  reply.attributes.pki_status = codec::PkiStatus::kSuccess;
  reply.digest = req.digest;
  // Encrypted to the certificate that signed the request (RFC 8894
  // section 3.3.2), with the request's own content cipher.
  reply.cipher = req.cipher.empty() ? "aes-128-cbc" : req.cipher;
  absl::StatusOr<std::string> recipient =
      crypto::ToDer(req.msg.signer_certificate.get(), i2d_X509);
  if (!recipient.ok()) return recipient.status();
  reply.recipient_certificate = *std::move(recipient);
  return reply;
}

}  // namespace scep::gateway
