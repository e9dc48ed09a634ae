// Who may enroll: the challenge of a PKCSReq and the certificate that
// authenticates a renewal (RFC 8894 sections 3.3.1 and 3.3.1.2).

#include <algorithm>

#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/distinguished_name.h"
#include "services/gateway/pki_operation.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using redis::Transaction;

}  // namespace

bool PkiOperation::WithinRenewalWindow(const Profile& profile, X509* cert) {
  if (profile.renewal_window <= absl::ZeroDuration()) return true;
  time_t window_start = absl::ToTimeT(absl::Now() + profile.renewal_window);
  return X509_cmp_time(X509_get0_notAfter(cert), &window_start) <= 0;
}

std::optional<PkiOutcome> PkiOperation::CheckRenewalSigner(
    const Profile& profile, const Request& req, const CaSet& ca) {
  X509* cert = req.msg.signer_certificate.get();
  // Renewal is authenticated by the current certificate: it must be ours
  // (signed by our CA, or by one it replaced in a rollover), within its
  // validity, known and not revoked.
  if (!IssuedByThisCa(ca, cert)) {
    return Failure(req, FailInfo::kBadMessageCheck,
                   "renewal must be signed with a certificate issued by this CA");
  }
  const time_t now = absl::ToTimeT(absl::Now());
  time_t check = now;
  if (X509_cmp_time(X509_get0_notBefore(cert), &check) > 0 ||
      X509_cmp_time(X509_get0_notAfter(cert), &check) < 0) {
    return Failure(req, FailInfo::kBadTime, "the signing certificate is not valid now");
  }
  if (!WithinRenewalWindow(profile, cert)) {
    return Failure(req, FailInfo::kBadRequest,
                   "renewal is not allowed yet (outside the renewal window)");
  }
  const std::string serial = codec::SerialHex(X509_get0_serialNumber(cert));
  absl::StatusOr<std::optional<redis::CertificateRecord>> record = index_->Get(serial);
  if (!record.ok()) return UnavailableAfterNonce(req, "certificate index");
  if (!record->has_value()) return UnindexedRenewalSigner(profile, req, serial);
  if ((*record)->revoked) {
    return Failure(req, FailInfo::kBadRequest, "the signing certificate is revoked");
  }
  // A renewal skips the challenge and approval of the profile it asks: a
  // certificate of a low-assurance profile must not renew into another
  // profile's usages and validity unless that profile says so.
  if (!RenewsUnder(profile, (*record)->profile)) {
    return Failure(req, FailInfo::kBadRequest,
                   "the certificate was issued under another profile");
  }
  return std::nullopt;
}

bool PkiOperation::RenewsUnder(const Profile& profile, absl::string_view issued_under) const {
  const absl::string_view from = issued_under.empty() ? options_.default_profile : issued_under;
  return from == profile.name ||
         std::find(profile.renewal_from_profiles.begin(), profile.renewal_from_profiles.end(),
                   from) != profile.renewal_from_profiles.end();
}

std::optional<PkiOutcome> PkiOperation::UnindexedRenewalSigner(
    const Profile& profile, const Request& req, const std::string& serial_hex) {
  if (!options_.renewal_reindex) {
    return Failure(req, FailInfo::kBadCertId,
                   "the signing certificate is unknown to this server");
  }
  // Signed by our CA key, which signs nothing but what this service issued:
  // a certificate Redis lost, recorded again. But under which profile is
  // lost with it: recorded under the one asked only when the certificate
  // would renew there whichever profile of this CA issued it.
  const bool any_issuer_renews =
      !options_.ca_profiles.empty() &&
      std::all_of(options_.ca_profiles.begin(), options_.ca_profiles.end(),
                  [&](const std::string& issuer) { return RenewsUnder(profile, issuer); });
  if (!any_issuer_renews) {
    if (extras_.log != nullptr) {
      metrics::LogRecord line(metrics::LogLevel::kWarning, "certificate_not_reindexed");
      line.Str("profile", profile.name)
          .Str("serial", serial_hex)
          .Str("transaction_id", req.msg.attributes.transaction_id)
          .Str("reason", "another profile of this CA may have issued it");
      extras_.log->Log(line);
    }
    return Failure(req, FailInfo::kBadCertId,
                   "the signing certificate is unknown to this server");
  }
  // Revoked if the revocation list (restored from a CRL or a gateway's
  // memory) has its serial.
  absl::StatusOr<redis::CertificateRecord> recorded =
      issuer_.RecordAgain(profile, req.msg.signer_certificate.get());
  if (!recorded.ok()) return UnavailableAfterNonce(req, "certificate index");
  if (recorded->revoked) {
    return Failure(req, FailInfo::kBadRequest, "the signing certificate is revoked");
  }
  if (extras_.metrics != nullptr) extras_.metrics->CertificateReindexed(profile.name);
  if (extras_.log != nullptr) {
    metrics::LogRecord line(metrics::LogLevel::kWarning, "certificate_reindexed");
    line.Str("profile", profile.name)
        .Str("serial", serial_hex)
        .Str("transaction_id", req.msg.attributes.transaction_id);
    extras_.log->Log(line);
  }
  return std::nullopt;
}

namespace {

// A one-time challenge minted for `bound` (the administrator's text: RFC
// 2253 as `scepctl requests list` prints it, "CN=laptop-7, O=Fleet" in
// either order, or "/CN=laptop-7/O=Fleet") admits a request whose subject,
// or the subject the profile's template makes of it, has the same
// attributes, whatever their order, string type, case or spacing.
bool BoundSubjectMatches(const Profile& profile, const std::string& bound,
                         const std::string& requested_text, const X509_NAME* requested) {
  if (bound == requested_text) return true;
  absl::StatusOr<crypto::X509NamePtr> named = crypto::ParseDistinguishedName(bound);
  if (!named.ok()) return false;
  if (codec::SameAttributes(named->get(), requested)) return true;
  if (profile.subject.empty()) return false;
  absl::StatusOr<crypto::X509NamePtr> issued = ProfileIssuer::IssuedSubject(profile, requested);
  return issued.ok() && codec::SameAttributes(named->get(), issued->get());
}

}  // namespace

std::optional<PkiOutcome> PkiOperation::CheckChallenge(const Profile& profile,
                                                       Request& req,
                                                       const codec::Csr& csr) {
  // Counted by reason: a fleet refused for its challenge is a profile
  // pushed with a stale secret, or someone guessing it.
  auto refused = [&](absl::string_view reason, absl::string_view text) {
    if (extras_.metrics != nullptr) extras_.metrics->ChallengeRefused(profile.name, reason);
    return Failure(req, FailInfo::kBadRequest, text);
  };
  if (!csr.challenge_password.has_value() || csr.challenge_password->empty()) {
    return refused("missing", "challenge password missing");
  }
  const std::string& presented = *csr.challenge_password;
  const std::string subject =
      codec::SubjectText(X509_REQ_get_subject_name(csr.request.get()));
  switch (profile.challenge_mode) {
    case Profile::ChallengeMode::kStatic:
      if (!SecretEquals(presented, profile.challenge)) {
        return refused("wrong", "challenge password wrong");
      }
      return std::nullopt;
    case Profile::ChallengeMode::kOneTime: {
      if (extras_.challenges == nullptr) return UnavailableAfterNonce(req, "challenge store");
      // Claimed for this transaction, not used up yet: before session 27
      // it was (GETDEL), so a 503 after this point, or this gateway dying,
      // left the device's retry refused and the MDM minting a new one.
      absl::StatusOr<std::optional<std::string>> bound = extras_.challenges->Claim(
          profile.name, presented, req.msg.attributes.transaction_id, csr.fingerprint);
      if (!bound.ok()) return UnavailableAfterNonce(req, "challenge store");
      // Claimed for this transaction, or gone, or another's: in no case
      // good for a request made from this CSR's challenge.
      req.challenge_open = false;
      if (!bound->has_value()) {
        // An identical twin of this request (a proxy's second copy) may
        // have completed the transaction, and spent the challenge, since
        // this request looked the transaction up: a repeat, then, answered
        // from the transaction.
        absl::StatusOr<std::optional<Transaction>> now =
            store_->GetTransaction(profile.name, req.msg.attributes.transaction_id);
        if (!now.ok()) return UnavailableAfterNonce(req, "transaction store");
        req.repeats = now->has_value() && (*now)->fingerprint == csr.fingerprint;
        if (req.repeats) return std::nullopt;
        return refused("unknown", "challenge unknown, expired or already used");
      }
      if (!(*bound)->empty() &&
          !BoundSubjectMatches(profile, **bound, subject,
                               X509_REQ_get_subject_name(csr.request.get()))) {
        // Refused for good: the request asks for a subject the challenge
        // was not minted for. Used up, as a request that asks wrongly is
        // no device's retry to wait for.
        SpendChallenge(profile, req, csr);
        return refused("other_subject", "challenge is bound to another subject");
      }
      return std::nullopt;
    }
    case Profile::ChallengeMode::kExternal: {
      if (extras_.verifier == nullptr) return UnavailableAfterNonce(req, "verifier");
      // The CSR as the device sent it (kept for external profiles).
      std::string encoded;
      const std::string* der = &req.csr_der;
      if (der->empty()) {
        absl::StatusOr<std::string> again = crypto::ToDer(csr.request.get(), i2d_X509_REQ);
        if (!again.ok()) return InternalError();
        encoded = *std::move(again);
        der = &encoded;
      }
      absl::StatusOr<bool> allowed = extras_.verifier->Verify(
          profile, {req.msg.attributes.transaction_id, presented, *der, subject});
      if (!allowed.ok()) {
        // Why, for the administrator (an unreachable verifier, a TLS
        // certificate it does not trust...); the device gets 503.
        if (extras_.log != nullptr) {
          extras_.log->Log(metrics::LogRecord(metrics::LogLevel::kWarning, "verifier_unavailable")
                               .Str("profile", profile.name)
                               .Str("transaction_id", req.msg.attributes.transaction_id)
                               .Str("reason", allowed.status().message()));
        }
        return UnavailableAfterNonce(req, "challenge verifier");
      }
      // The verifier has seen it for this transaction: whether it is single
      // use is the verifier's to decide.
      req.challenge_open = false;
      if (!*allowed) {
        return refused("verifier", "challenge refused by the verifier");
      }
      return std::nullopt;
    }
  }
  return InternalError();
}

void PkiOperation::SpendChallenge(const Profile& profile, const Request& req,
                                  const codec::Csr& csr) {
  if (profile.challenge_mode != Profile::ChallengeMode::kOneTime || req.renewal ||
      extras_.challenges == nullptr || !csr.challenge_password.has_value() ||
      csr.challenge_password->empty()) {
    return;
  }
  (void)extras_.challenges->Spend(profile.name, *csr.challenge_password,
                                  req.msg.attributes.transaction_id, csr.fingerprint);
}

PkiOutcome PkiOperation::SpentAfter(const Profile& profile, const Request& req,
                                    const codec::Csr& csr, PkiOutcome outcome) {
  if (outcome.http_status == 200) SpendChallenge(profile, req, csr);
  return outcome;
}

bool PkiOperation::SignedWithIssued(const Request& req, const std::string& issued_der) {
  if (issued_der.empty() || req.msg.signer_certificate == nullptr) return false;
  absl::StatusOr<std::string> signer =
      crypto::ToDer(req.msg.signer_certificate.get(), i2d_X509);
  return signer.ok() && *signer == issued_der;
}

absl::StatusOr<bool> PkiOperation::PromotedRenewal(const Profile& profile, const Request& req,
                                                   const codec::Csr& csr, const CaSet& ca) {
  if (req.msg.attributes.message_type != codec::MessageType::kPkcsReq ||
      (csr.challenge_password.has_value() && !csr.challenge_password->empty()) ||
      !IssuedByThisCa(ca, req.msg.signer_certificate.get())) {
    return false;
  }
  ASSIGN_OR_RETURN(std::optional<Transaction> txn,
                   store_->GetTransaction(profile.name, req.msg.attributes.transaction_id));
  return !(txn.has_value() && txn->state == Transaction::State::kIssued &&
           SignedWithIssued(req, txn->certificate));
}

bool PkiOperation::RenewsInTransaction(const Profile& profile, const Request& req,
                                       const Transaction& txn) {
  return txn.state == Transaction::State::kIssued && SignedWithIssued(req, txn.certificate) &&
         WithinRenewalWindow(profile, req.msg.signer_certificate.get());
}

}  // namespace scep::gateway
