// PKCSReq and RenewalReq (RFC 8894 sections 3.3.1 and 3.3.1.2).

#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "services/gateway/pki_operation.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using codec::MessageType;
using redis::Transaction;

}  // namespace

std::optional<PkiOutcome> PkiOperation::CheckRenewalSigner(
    const Profile& profile, const Request& req, const CaSet& ca) {
  X509* cert = req.msg.signer_certificate.get();
  // Renewal is authenticated by the current certificate: it must be ours
  // (signed by our CA), within its validity, known and not revoked.
  if (X509_check_issued(ca.ca.get(), cert) != X509_V_OK ||
      X509_verify(cert, X509_get0_pubkey(ca.ca.get())) != 1) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "renewal must be signed with a certificate issued by this CA");
  }
  const time_t now = absl::ToTimeT(absl::Now());
  time_t check = now;
  if (X509_cmp_time(X509_get0_notBefore(cert), &check) > 0 ||
      X509_cmp_time(X509_get0_notAfter(cert), &check) < 0) {
    return Failure(req, FailInfo::kBadTime, "the signing certificate is not valid now");
  }
  if (profile.renewal_window > absl::ZeroDuration()) {
    time_t window_start = absl::ToTimeT(absl::FromTimeT(now) + profile.renewal_window);
    if (X509_cmp_time(X509_get0_notAfter(cert), &window_start) > 0) {
      return Failure(req, FailInfo::kBadRequest,
                     "renewal is not allowed yet (outside the renewal window)");
    }
  }
  const std::string serial = codec::SerialHex(X509_get0_serialNumber(cert));
  absl::StatusOr<std::optional<redis::CertificateRecord>> record = index_->Get(serial);
  if (!record.ok()) return UnavailableAfterNonce(req, "certificate index");
  if (!record->has_value()) {
    return Failure(req, FailInfo::kBadCertId,
                   "the signing certificate is unknown to this server");
  }
  if ((*record)->revoked) {
    return Failure(req, FailInfo::kBadRequest, "the signing certificate is revoked");
  }
  return std::nullopt;
}

PkiOutcome PkiOperation::HandleEnrollment(const Profile& profile, Request& req,
                                          const CaSet& ca) {
  const bool renewal = req.msg.attributes.message_type == MessageType::kRenewalReq;
  if (renewal) {
    std::optional<PkiOutcome> refused = CheckRenewalSigner(profile, req, ca);
    if (refused.has_value()) return *std::move(refused);
  }
  absl::StatusOr<std::string> plain = signer_->Decrypt(req.msg.content);
  if (absl::IsUnavailable(plain.status())) return UnavailableAfterNonce(req, "signer");
  if (!plain.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "cannot decrypt pkcsPKIEnvelope with the RA key");
  }
  absl::StatusOr<codec::Csr> csr = codec::ParseCsr(*plain);
  if (!csr.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   absl::StrCat("certificate request: ", csr.status().message()));
  }
  EVP_PKEY* device_key = X509_REQ_get0_pubkey(csr->request.get());
  const int key_type = EVP_PKEY_base_id(device_key);
  const int bits = EVP_PKEY_get_bits(device_key);
  if (!(key_type == EVP_PKEY_RSA && bits >= 2048) &&
      !(key_type == EVP_PKEY_EC && (bits == 256 || bits == 384))) {
    return Failure(req, FailInfo::kBadRequest,
                   "device key must be RSA of at least 2048 bits or ECDSA P-256/P-384");
  }
  if (renewal) {
    // A renewal keeps the identity; the key may change.
    if (X509_NAME_cmp(X509_REQ_get_subject_name(csr->request.get()),
                      X509_get_subject_name(req.msg.signer_certificate.get())) != 0) {
      return Failure(req, FailInfo::kBadRequest,
                     "renewal must keep the subject of the current certificate");
    }
  } else if (!csr->challenge_password.has_value() ||
             !SecretEquals(*csr->challenge_password, profile.challenge)) {
    return Failure(req, FailInfo::kBadRequest, "challenge password missing or wrong");
  }
  return IssueOnce(profile, req, *plain, csr->fingerprint);
}

PkiOutcome PkiOperation::IssueOnce(const Profile& profile, const Request& req,
                                   const std::string& csr_der,
                                   const std::string& fingerprint) {
  const std::string& tid = req.msg.attributes.transaction_id;
  absl::StatusOr<Transaction> txn = store_->ClaimTransaction(
      profile.name, tid, fingerprint, options_.pending_ttl);
  const absl::Time wait_until = absl::Now() + options_.pending_wait;
  while (txn.ok() && txn->state == Transaction::State::kPending &&
         txn->fingerprint == fingerprint && absl::Now() < wait_until) {
    // A twin of this request is being issued right now: wait for its
    // certificate rather than issuing a second one.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    txn = store_->ClaimTransaction(profile.name, tid, fingerprint,
                                   options_.pending_ttl);
  }
  if (!txn.ok()) return UnavailableAfterNonce(req, "transaction store");
  if (txn->state == Transaction::State::kRejected) {
    return Failure(req, FailInfo::kBadRequest, "the request was rejected");
  }
  if (txn->state != Transaction::State::kClaimed && txn->fingerprint != fingerprint) {
    return Failure(req, FailInfo::kBadRequest,
                   "transactionID already used for a different request");
  }
  if (txn->state == Transaction::State::kIssued) {
    // Retransmission (RFC 8894 section 3.3.1): the same certificate again.
    return SuccessWithCertificate(req, txn->certificate);
  }
  if (txn->state == Transaction::State::kPending) return Pending(req);

  absl::StatusOr<std::string> cert =
      signer_->Issue(csr_der, profile.validity_days, profile.digest);
  if (!cert.ok()) {
    (void)store_->ReleaseTransaction(profile.name, tid, fingerprint);
    if (absl::IsUnavailable(cert.status())) return UnavailableAfterNonce(req, "signer");
    return Failure(req, FailInfo::kBadRequest,
                   absl::StrCat("cannot issue: ", cert.status().message()));
  }
  absl::Status stored = store_->CompleteTransaction(profile.name, tid, fingerprint,
                                                    *cert, options_.issued_ttl);
  absl::StatusOr<crypto::X509Ptr> parsed =
      crypto::FromDer<crypto::X509Ptr>(*cert, d2i_X509, "issued certificate");
  if (stored.ok() && parsed.ok()) {
    redis::CertificateRecord record;
    record.certificate = *cert;
    record.profile = profile.name;
    int days = 0, secs = 0;
    ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(parsed->get()));
    stored = index_->Put(codec::SerialHex(X509_get0_serialNumber(parsed->get())),
                         record,
                         absl::Hours(24) * days + absl::Seconds(secs) +
                             options_.index_grace);
  }
  if (!stored.ok()) {
    // The certificate exists; hand it out rather than lose it. A later
    // retransmission or renewal may not find it (logged for the operator).
    std::cerr << "scep-gateway: warning: issued certificate not fully "
                 "recorded: "
              << stored.message() << std::endl;
  }
  return SuccessWithCertificate(req, *cert);
}

}  // namespace scep::gateway
