#include "services/gateway/pki_operation.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/crypto/der.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using redis::Transaction;

std::string FreshNonce() {
  std::string nonce(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), 16) != 1) {
    std::abort();  // no randomness: nothing safe left to do
  }
  return nonce;
}

}  // namespace

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
  return PkiOutcome{503, absl::StrCat("service unavailable: ", what, "\n"),
                    "HTTP 503"};
}

PkiOutcome PkiOperation::Handle(const Profile& profile, absl::string_view der) {
  absl::StatusOr<codec::PkiMessage> msg = codec::ParsePkiMessage(der);
  if (!msg.ok()) {
    return PkiOutcome{400, absl::StrCat("malformed pkiMessage: ",
                                        msg.status().message(), "\n"),
                      "HTTP 400"};
  }
  // The reply mirrors the request's digest when the profile allows it.
  const bool digest_ok =
      msg->digest == "sha256" || msg->digest == "sha384" ||
      msg->digest == "sha512" ||
      (profile.allow_legacy && codec::IsLegacyDigest(msg->digest));
  Request req{*msg, digest_ok ? msg->digest : "sha256"};
  if (!msg->signature_valid) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "pkiMessage signature does not verify");
  }
  if (!digest_ok) {
    return Failure(req, FailInfo::kBadAlg,
                   absl::StrCat("digest ", msg->digest, " is not allowed"));
  }
  if (msg->attributes.message_type != codec::MessageType::kPkcsReq) {
    return Failure(req, FailInfo::kBadRequest,
                   "message type not supported by this server");
  }
  return HandlePkcsReq(profile, req);
}

PkiOutcome PkiOperation::UnavailableAfterNonce(const Request& req,
                                               absl::string_view what) {
  if (req.nonce_profile != nullptr) {
    (void)store_->ForgetNonce(req.nonce_profile->name,
                              req.msg.attributes.sender_nonce);
  }
  return Unavailable(what);
}

PkiOutcome PkiOperation::HandlePkcsReq(const Profile& profile, Request& req) {
  const codec::PkiMessage& msg = req.msg;
  absl::StatusOr<std::string> cipher = codec::EnvelopeCipher(msg.content);
  if (!cipher.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "pkcsPKIEnvelope is not a supported EnvelopedData");
  }
  if (codec::IsLegacyCipher(*cipher) && !profile.allow_legacy) {
    return Failure(req, FailInfo::kBadAlg,
                   absl::StrCat("cipher ", *cipher, " is not allowed"));
  }
  const codec::ScepAttributes& attrs = msg.attributes;
  absl::StatusOr<bool> fresh =
      store_->RecordNonce(profile.name, attrs.sender_nonce, options_.nonce_ttl);
  if (!fresh.ok()) return Unavailable("replay store");
  if (!*fresh) {
    return Failure(req, FailInfo::kBadRequest,
                   "senderNonce was seen before (replay)");
  }
  // From here, a dependency failure must undo the nonce so that the
  // device's identical retry is not refused as a replay.
  req.nonce_profile = &profile;
  auto unavailable = [&](absl::string_view what) {
    return UnavailableAfterNonce(req, what);
  };

  absl::StatusOr<std::string> plain = signer_->Decrypt(msg.content);
  if (absl::IsUnavailable(plain.status())) return unavailable("signer");
  if (!plain.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "cannot decrypt pkcsPKIEnvelope with the RA key");
  }
  absl::StatusOr<codec::Csr> csr = codec::ParseCsr(*plain);
  if (!csr.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   absl::StrCat("certificate request: ", csr.status().message()));
  }
  if (!csr->challenge_password.has_value() ||
      !SecretEquals(*csr->challenge_password, profile.challenge)) {
    return Failure(req, FailInfo::kBadRequest,
                   "challenge password missing or wrong");
  }

  absl::StatusOr<Transaction> txn = store_->ClaimTransaction(
      profile.name, attrs.transaction_id, csr->fingerprint, options_.pending_ttl);
  const absl::Time wait_until = absl::Now() + options_.pending_wait;
  while (txn.ok() && txn->state == Transaction::State::kPending &&
         txn->fingerprint == csr->fingerprint && absl::Now() < wait_until) {
    // A twin of this request is being issued right now: wait for its
    // certificate rather than issuing a second one.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    txn = store_->ClaimTransaction(profile.name, attrs.transaction_id,
                                   csr->fingerprint, options_.pending_ttl);
  }
  if (!txn.ok()) return unavailable("transaction store");
  if (txn->state != Transaction::State::kClaimed &&
      txn->fingerprint != csr->fingerprint) {
    return Failure(req, FailInfo::kBadRequest,
                   "transactionID already used for a different request");
  }
  if (txn->state == Transaction::State::kIssued) {
    // Retransmission (RFC 8894 section 3.3.1): same certificate again.
    return Success(req, *cipher, txn->certificate);
  }
  if (txn->state == Transaction::State::kPending) return Pending(req);

  absl::StatusOr<std::string> cert =
      signer_->Issue(*plain, profile.validity_days, profile.digest);
  if (!cert.ok()) {
    (void)store_->ReleaseTransaction(profile.name, attrs.transaction_id,
                                     csr->fingerprint);
    if (absl::IsUnavailable(cert.status())) return unavailable("signer");
    return Failure(req, FailInfo::kBadRequest,
                   absl::StrCat("cannot issue: ", cert.status().message()));
  }
  absl::Status stored =
      store_->CompleteTransaction(profile.name, attrs.transaction_id,
                                  csr->fingerprint, *cert, options_.issued_ttl);
  if (!stored.ok()) {
    // The certificate exists; hand it out rather than lose it. A later
    // retransmission may not find it (logged for the operator).
    std::cerr << "scep-gateway: warning: issued certificate not recorded for "
                 "its transaction: "
              << stored.message() << std::endl;
  }
  return Success(req, *cipher, *cert);
}

PkiOutcome PkiOperation::Success(const Request& req,
                                 const std::string& cipher,
                                 const std::string& cert_der) {
  absl::StatusOr<crypto::X509Ptr> cert =
      crypto::FromDer<crypto::X509Ptr>(cert_der, d2i_X509, "issued certificate");
  if (!cert.ok()) return PkiOutcome{500, "internal error\n", "HTTP 500"};
  absl::StatusOr<std::string> degenerate =
      codec::DegenerateCertificates({cert->get()});
  absl::StatusOr<std::string> envelope =
      degenerate.ok() ? codec::Envelope(*degenerate,
                                        req.msg.signer_certificate.get(), cipher)
                      : degenerate.status();
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
  attrs.message_type = codec::MessageType::kCertRep;
  attrs.transaction_id = req.msg.attributes.transaction_id;
  attrs.recipient_nonce = req.msg.attributes.sender_nonce;
  attrs.sender_nonce = FreshNonce();
  absl::StatusOr<std::string> der =
      signer_->SignCertRep(content, attrs, req.digest);
  if (absl::IsUnavailable(der.status())) {
    return UnavailableAfterNonce(req, "signer");
  }
  if (!der.ok()) return PkiOutcome{500, "internal error\n", "HTTP 500"};
  PkiOutcome outcome{200, *std::move(der), std::move(summary)};
  outcome.message_type =
      std::string(codec::MessageTypeName(req.msg.attributes.message_type));
  outcome.pki_status = std::string(codec::PkiStatusName(*attrs.pki_status));
  if (attrs.fail_info) {
    outcome.fail_info = std::string(codec::FailInfoName(*attrs.fail_info));
  }
  outcome.transaction_id = req.msg.attributes.transaction_id;
  return outcome;
}

}  // namespace scep::gateway
