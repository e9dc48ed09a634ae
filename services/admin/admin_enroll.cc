// AdminCore::Enroll: a certificate for a CSR under a profile's policy,
// without SCEP, safe to retry with an idempotency key (request_id).

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"
#include "services/admin/admin_core.h"

namespace scep::admin {
namespace {

using metrics::LogLevel;
using metrics::LogRecord;
using redis::Transaction;

constexpr size_t kMaxRequestIdLength = 128;

absl::Status CheckRequestId(absl::string_view id) {
  bool printable = !id.empty() && id.size() <= kMaxRequestIdLength;
  for (char c : id) printable = printable && absl::ascii_isgraph(static_cast<unsigned char>(c));
  if (printable) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "request_id must be 1..128 printable ASCII characters without spaces");
}

// Idempotent admin enrollments are transactions of the enrollment store in
// a scope of their own: profile names are [a-z0-9-_], so "admin.{profile}"
// never meets a device's transactionID.
std::string EnrollScope(const gateway::Profile& profile) {
  return absl::StrCat("admin.", profile.name);
}

}  // namespace

absl::StatusOr<std::string> RequestIdFingerprint(const codec::Csr& csr) {
  unsigned char* info = nullptr;
  const int info_len = i2d_re_X509_REQ_tbs(csr.request.get(), &info);
  if (info_len <= 0) return crypto::SslInternal("encoding the CSR");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  const int hashed = EVP_Digest(info, static_cast<size_t>(info_len), md, &md_len,
                                EVP_sha256(), nullptr);
  OPENSSL_free(info);
  if (hashed != 1) return crypto::SslInternal("hashing the CSR");
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), md_len));
}

absl::StatusOr<v1::EnrollResponse> AdminCore::Enroll(const v1::EnrollRequest& request,
                                                     const std::string& actor) {
  if (request.profile().empty()) return absl::InvalidArgumentError("profile is required");
  ASSIGN_OR_RETURN(const gateway::Profile* profile,
                   FindProfile(request.profile(), absl::StatusCode::kNotFound));
  if (!request.request_id().empty()) RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  absl::StatusOr<codec::Csr> csr = codec::ParseCsr(request.csr());
  if (!csr.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("csr: ", csr.status().message()));
  }
  ASSIGN_OR_RETURN(AdminCaDeps ca, CaOf(*profile));
  // The profile's policy refusing the CSR is bad input, not a denied caller.
  auto issue = [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> issued = ca.issuer->Issue(*profile, *csr);
    if (absl::IsPermissionDenied(issued.status())) {
      return absl::InvalidArgumentError(issued.status().message());
    }
    return issued;
  };
  if (request.request_id().empty()) {
    ASSIGN_OR_RETURN(std::string certificate, issue());
    return Enrolled(*profile, std::move(certificate), request.request_id(), actor,
                    /*repeated=*/false);
  }

  const std::string scope = EnrollScope(*profile);
  const std::string& id = request.request_id();
  // The whole CSR, not only its subject and key (Csr::fingerprint): the
  // same request_id with other SANs or extensions is another request.
  ASSIGN_OR_RETURN(const std::string fingerprint, RequestIdFingerprint(*csr));
  ASSIGN_OR_RETURN(Transaction txn,
                   deps_.transactions->ClaimTransaction(scope, id, fingerprint,
                                                        options_.enroll_claim_ttl));
  if (txn.fingerprint != fingerprint) {
    return absl::AlreadyExistsError("request_id was used for another CSR");
  }
  switch (txn.state) {
    case Transaction::State::kIssued:
      if (txn.certificate.empty()) {
        return absl::NotFoundError(
            "the certificate of this request_id is no longer in the certificate index");
      }
      return Enrolled(*profile, std::move(txn.certificate), id, actor, /*repeated=*/true);
    case Transaction::State::kPending:
      return absl::UnavailableError(
          "a call with this request_id is still issuing; retry later");
    case Transaction::State::kRejected:
      return absl::FailedPreconditionError("request_id was refused before");
    case Transaction::State::kClaimed:
      break;
  }
  absl::StatusOr<std::string> certificate = issue();
  if (!certificate.ok()) {
    // Nothing issued, or a certificate the index did not record (withheld,
    // never handed out): a retry with this request_id may issue.
    (void)deps_.transactions->ReleaseTransaction(scope, id, fingerprint);
    return certificate.status();
  }
  ASSIGN_OR_RETURN(crypto::X509Ptr cert, crypto::FromDer<crypto::X509Ptr>(
                                             *certificate, d2i_X509, "certificate"));
  // Issue() recorded it in the certificate index: the transaction keeps the
  // serial only.
  const std::string serial = codec::SerialHex(X509_get0_serialNumber(cert.get()));
  absl::Status stored = deps_.transactions->CompleteIndexedTransaction(
      scope, id, fingerprint, *certificate, serial, options_.issued_ttl);
  if (absl::IsFailedPrecondition(stored)) {
    // This call stalled past its claim and a repeat issued meanwhile: one
    // certificate per request_id, the recorded one.
    ASSIGN_OR_RETURN(std::optional<Transaction> now,
                     deps_.transactions->GetTransaction(scope, id));
    if (now.has_value() && now->state == Transaction::State::kIssued &&
        !now->certificate.empty()) {
      return Enrolled(*profile, std::move(now->certificate), id, actor, /*repeated=*/true);
    }
    return absl::AbortedError("request_id was completed by another call; retry");
  }
  if (!stored.ok()) {
    // Redis did not take the completion (down: it waits in this process's
    // journal; or --redis_wait_replicas unconfirmed: a failover may lose
    // it). Handed out now, a retry with this request_id that found no
    // record would get a second certificate. Withheld, as the SCEP path
    // does: the retry gets this one once the completion is in Redis (the
    // claim is kept until then), or past the claim a new one.
    Audit(LogRecord(LogLevel::kWarning, "audit")
              .Str("action", "enroll_withheld")
              .Str("actor", actor)
              .Str("profile", profile->name)
              .Str("request_id", id)
              .Str("serial", serial)
              .Str("error", stored.message()));
    return absl::UnavailableError(absl::StrCat(
        "certificate ", serial, " withheld: its request_id was not recorded (",
        stored.message(), "); retry with the same request_id"));
  }
  return Enrolled(*profile, *std::move(certificate), id, actor, /*repeated=*/false);
}

absl::StatusOr<v1::EnrollResponse> AdminCore::Enrolled(const gateway::Profile& profile,
                                                       std::string certificate,
                                                       const std::string& request_id,
                                                       const std::string& actor,
                                                       bool repeated) const {
  ASSIGN_OR_RETURN(crypto::X509Ptr cert, crypto::FromDer<crypto::X509Ptr>(
                                             certificate, d2i_X509, "certificate"));
  v1::EnrollResponse response;
  response.set_serial_hex(codec::SerialHex(X509_get0_serialNumber(cert.get())));
  response.set_repeated_request(repeated);
  LogRecord audit(LogLevel::kInfo, "audit");
  audit.Str("action", repeated ? "enroll_repeated" : "enroll")
      .Str("actor", actor)
      .Str("profile", profile.name)
      .Str("subject", codec::SubjectText(X509_get_subject_name(cert.get())))
      .Str("serial", response.serial_hex());
  if (!request_id.empty()) audit.Str("request_id", request_id);
  Audit(std::move(audit));
  response.set_certificate(std::move(certificate));
  return response;
}

}  // namespace scep::admin
