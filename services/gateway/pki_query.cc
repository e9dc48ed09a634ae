// CertPoll, GetCert and GetCRL (RFC 8894 sections 3.3.3 and 3.3.4).

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/codec/csr.h"
#include "common/crypto/der.h"
#include "services/gateway/crl_cache.h"
#include "services/gateway/pki_operation.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using redis::Transaction;

// The issuer a CertPoll, GetCert or GetCRL names: the CA's name (RFC 8894
// 3.3.3, 3.3.4), or the RA's, which strongSwan and sscep (whose -c is often
// the RA certificate it encrypts to) send instead.
bool NamesThisCa(const X509_NAME* issuer, const CaSet& ca) {
  return X509_NAME_cmp(issuer, X509_get_subject_name(ca.ca.get())) == 0 ||
         X509_NAME_cmp(issuer, X509_get_subject_name(ca.ra.get())) == 0;
}

// GetCert may also ask for a certificate of a CA this one replaced in a
// rollover, by that CA's name (its certificates are still in the index).
bool NamesThisOrPreviousCa(const X509_NAME* issuer, const CaSet& ca) {
  return NamesThisCa(issuer, ca) ||
         std::any_of(ca.previous_cas.begin(), ca.previous_cas.end(),
                     [issuer](const crypto::X509Ptr& previous) {
                       return X509_NAME_cmp(issuer, X509_get_subject_name(previous.get())) == 0;
                     });
}

}  // namespace

PkiOutcome PkiOperation::HandleCertPoll(const Profile& profile, Request& req,
                                        const std::string& plain,
                                        const CaSet& ca) {
  absl::StatusOr<codec::IssuerAndSubject> ids = codec::DecodeIssuerAndSubject(plain);
  if (!ids.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "CertPoll content is not an IssuerAndSubject");
  }
  absl::StatusOr<std::optional<Transaction>> txn =
      store_->GetTransaction(profile.name, req.msg.attributes.transaction_id);
  if (!txn.ok()) return UnavailableAfterNonce(req, "transaction store");
  if (!txn->has_value()) {
    return Failure(req, FailInfo::kBadCertId, "no such transaction");
  }
  if ((*txn)->state == Transaction::State::kPending) {
    if (std::optional<PkiOutcome> finished = FinishParked(profile, req, *ids, ca)) {
      return *std::move(finished);
    }
    return Pending(req);
  }
  if ((*txn)->state == Transaction::State::kRejected) {
    return Failure(req, FailInfo::kBadRequest, kRejectedText);
  }
  absl::StatusOr<crypto::X509Ptr> cert = crypto::FromDer<crypto::X509Ptr>(
      (*txn)->certificate, d2i_X509, "issued certificate");
  if (!cert.ok()) return InternalError();
  // The poll names what it waits for; it must be this transaction's: this
  // CA (or its RA), and the request's subject, which under a subject
  // template is not the certificate's: either is accepted.
  const X509_NAME* issued_subject = X509_get_subject_name(cert->get());
  absl::StatusOr<bool> requested =
      ProfileIssuer::IssuesSubject(profile, ids->subject.get(), issued_subject);
  const bool subject_matches = X509_NAME_cmp(ids->subject.get(), issued_subject) == 0 ||
                               (requested.ok() && *requested);
  if (!subject_matches || !NamesThisCa(ids->issuer.get(), ca)) {
    return Failure(req, FailInfo::kBadCertId,
                   "issuer and subject do not match the transaction");
  }
  return SuccessWithCertificate(req, (*txn)->certificate);
}

std::optional<PkiOutcome> PkiOperation::FinishParked(const Profile& profile, Request& req,
                                                     const codec::IssuerAndSubject& ids,
                                                     const CaSet& ca) {
  // Only the requester finishes its request: the poll names this CA (or
  // its RA) and, with the subject it names and the key it is signed with,
  // the request's fingerprint. Anyone else is answered PENDING.
  if (!NamesThisCa(ids.issuer.get(), ca)) return std::nullopt;
  absl::StatusOr<std::string> fingerprint = codec::RequestFingerprint(
      ids.subject.get(), X509_get_X509_PUBKEY(req.msg.signer_certificate.get()));
  if (!fingerprint.ok()) return std::nullopt;
  const std::string& tid = req.msg.attributes.transaction_id;
  absl::StatusOr<std::optional<redis::ParkedClaim>> parked = store_->TakeOverParkedClaim(
      profile.name, tid, *fingerprint, options_.pending_ttl);
  if (!parked.ok()) return UnavailableAfterNonce(req, "transaction store");
  if (!parked->has_value()) return std::nullopt;  // not parked, or its holder is at work
  if (extras_.metrics != nullptr) extras_.metrics->ClaimTakenOver(profile.name, "poll");
  absl::StatusOr<codec::Csr> csr =
      codec::ParseCsr((*parked)->request, req.msg.signer_certificate.get(),
                      codec::CsrSignature::kUnlessSignedWithItsKey);
  // A request that can never be issued as it is (unusable, or outside the
  // profile's policy since it was parked) is rejected: further polls and
  // resends are answered from the transaction instead of asking again.
  if (!csr.ok() || csr->fingerprint != *fingerprint) {
    (void)store_->RejectTransaction(profile.name, tid, options_.parked_ttl);
    return Failure(req, FailInfo::kBadRequest, "the request kept for polling is unusable");
  }
  if (absl::Status policy = ProfileIssuer::CheckPolicy(profile, *csr); !policy.ok()) {
    (void)store_->RejectTransaction(profile.name, tid, options_.parked_ttl);
    SpendChallenge(profile, req, *csr);
    return Failure(req, FailInfo::kBadRequest, policy.message());
  }
  return SpentAfter(profile, req, *csr, IssueClaimed(profile, req, *csr, /*renews=*/false));
}

PkiOutcome PkiOperation::HandleGetCert(const Profile& profile, Request& req,
                                       const std::string& plain,
                                       const CaSet& ca) {
  absl::StatusOr<codec::IssuerAndSerial> ids = codec::DecodeIssuerAndSerial(plain);
  if (!ids.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "GetCert content is not an IssuerAndSerialNumber");
  }
  if (!NamesThisOrPreviousCa(ids->issuer.get(), ca)) {
    return Failure(req, FailInfo::kBadCertId, "issuer is not this CA");
  }
  absl::StatusOr<std::optional<redis::CertificateRecord>> record =
      index_->Get(codec::SerialHex(ids->serial.get()));
  if (!record.ok()) return UnavailableAfterNonce(req, "certificate index");
  // Serials are unique across CAs, names need not be: the certificate must
  // come from this profile's CA.
  if (!record->has_value() || (*record)->issuing_ca != profile.issuing_ca) {
    return Failure(req, FailInfo::kBadCertId, "no certificate with that serial");
  }
  return SuccessWithCertificate(req, (*record)->certificate);
}

absl::StatusOr<std::shared_ptr<const std::string>> PkiOperation::Crl() {
  return crl_cache_.Get();
}

void PkiOperation::CrlKeptServed(const SignedCrl& kept, const absl::Status& why) const {
  if (extras_.log == nullptr) return;
  metrics::LogRecord record(metrics::LogLevel::kWarning, "crl_kept_served");
  record.Int("kept_crl_number", static_cast<int64_t>(kept.number))
      .Int("kept_crl_next_update", absl::ToUnixSeconds(kept.next_update))
      .Str("error", why.ToString());
  extras_.log->Log(record);
}

void PkiOperation::CrlRestored(const CrlCache::Restore& restore) const {
  if (restore.restored.ok() && extras_.metrics != nullptr) {
    extras_.metrics->CrlRevocationsRestored(*restore.restored);
  }
  if (extras_.log == nullptr) return;
  // An error either way: Redis lost data it should have kept (see
  // README, "Redis persistence").
  metrics::LogRecord record(metrics::LogLevel::kError, "crl_revocations_lost");
  record.Int("kept_crl_generation", restore.kept_generation)
      .Int("kept_crl_number", static_cast<int64_t>(restore.kept_number))
      .Int("redis_generation", restore.found.generation)
      .Int("redis_crl_number", static_cast<int64_t>(restore.found.cached_number));
  if (restore.restored.ok()) {
    record.Int("restored", *restore.restored);
  } else {
    record.Str("error", restore.restored.status().ToString());
  }
  extras_.log->Log(record);
}

PkiOutcome PkiOperation::HandleGetCrl(Request& req, const std::string& plain,
                                      const CaSet& ca) {
  absl::StatusOr<codec::IssuerAndSerial> ids = codec::DecodeIssuerAndSerial(plain);
  if (!ids.ok()) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "GetCRL content is not an IssuerAndSerialNumber");
  }
  if (!NamesThisCa(ids->issuer.get(), ca)) {
    return Failure(req, FailInfo::kBadCertId, "issuer is not this CA");
  }
  absl::StatusOr<std::shared_ptr<const std::string>> crl = crl_cache_.Get();
  if (absl::IsUnavailable(crl.status())) {
    return UnavailableAfterNonce(req, "CRL");
  }
  if (!crl.ok()) return InternalError();
  absl::StatusOr<crypto::X509CrlPtr> parsed =
      crypto::FromDer<crypto::X509CrlPtr>(**crl, d2i_X509_CRL, "CRL");
  if (!parsed.ok()) return InternalError();
  absl::StatusOr<std::string> payload = codec::DegenerateCrl(parsed->get());
  if (!payload.ok()) return InternalError();
  return SuccessWithPayload(req, *payload);
}

}  // namespace scep::gateway
