// SignerService's issuance handlers: IssueCertificate, SignCertRep and
// IssueCertRep, with the audit trail and per-caller rate limit around
// every certificate the CA keys sign.

#include "services/signer/signer_service.h"

#include <optional>
#include <string>

#include <grpcpp/security/auth_context.h>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/public_keys.h"
#include "common/rpc/status_convert.h"
#include "services/signer/timed_key_access.h"

namespace scep::signer {
namespace {

absl::StatusOr<codec::ScepAttributes> FromProto(const v1::CertRepAttributes& in) {
  codec::ScepAttributes out;
  out.message_type = codec::MessageType::kCertRep;
  out.transaction_id = in.transaction_id();
  out.sender_nonce = in.sender_nonce();
  if (out.transaction_id.empty() || out.sender_nonce.empty()) {
    return absl::InvalidArgumentError("transactionID and senderNonce required");
  }
  if (!in.recipient_nonce().empty()) out.recipient_nonce = in.recipient_nonce();
  if (in.pki_status() == "0") {
    out.pki_status = codec::PkiStatus::kSuccess;
  } else if (in.pki_status() == "2") {
    out.pki_status = codec::PkiStatus::kFailure;
  } else if (in.pki_status() == "3") {
    out.pki_status = codec::PkiStatus::kPending;
  } else {
    return absl::InvalidArgumentError("pkiStatus must be 0, 2 or 3");
  }
  if (!in.fail_info().empty()) {
    if (in.fail_info().size() != 1 || in.fail_info()[0] < '0' ||
        in.fail_info()[0] > '4') {
      return absl::InvalidArgumentError("failInfo must be 0..4");
    }
    out.fail_info = static_cast<codec::FailInfo>(in.fail_info()[0] - '0');
  }
  if (!in.fail_info_text().empty()) out.fail_info_text = in.fail_info_text();
  return out;
}

SignerCore::Policy PolicyOf(const v1::IssueCertificateRequest& request) {
  SignerCore::Policy policy;
  policy.validity_days = static_cast<int>(request.validity_days());
  policy.digest = request.digest();
  policy.subject = request.subject();
  policy.subject_alt_name = request.subject_alt_name();
  policy.key_usage.assign(request.key_usage().begin(), request.key_usage().end());
  policy.extended_key_usage.assign(request.extended_key_usage().begin(),
                                   request.extended_key_usage().end());
  policy.crl_distribution_points.assign(request.crl_distribution_points().begin(),
                                        request.crl_distribution_points().end());
  policy.ca_issuers.assign(request.ca_issuers().begin(), request.ca_issuers().end());
  policy.ocsp_urls.assign(request.ocsp_urls().begin(), request.ocsp_urls().end());
  return policy;
}

// Who called: the mTLS client certificate's CN (or identity), else the
// peer address.
std::string CallerOf(grpc::CallbackServerContext* context) {
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const auto& values :
         {auth->FindPropertyValues("x509_common_name"), auth->GetPeerIdentity()}) {
      if (!values.empty()) return std::string(values.front().data(), values.front().size());
    }
  }
  return context->peer();
}

}  // namespace

absl::Status SignerService::Record(grpc::CallbackServerContext* context,
                                   const v1::IssueCertificateRequest& issue,
                                   absl::string_view transaction_id,
                                   const absl::StatusOr<crypto::X509Ptr>& cert) {
  const absl::string_view ca_label =
      issue.issuing_ca().empty() ? absl::string_view("default") : issue.issuing_ca();
  const std::string rule = cert.ok() ? std::string() : PolicyRuleOf(cert.status());
  if (!cert.ok() && rule.empty()) return absl::OkStatus();
  if (metrics_ != nullptr) {
    if (cert.ok()) {
      metrics_->CertificateIssued();
    } else {
      metrics_->IssuanceRefused(ca_label, rule);
    }
  }
  if (audit_ == nullptr) return absl::OkStatus();
  const std::string caller = CallerOf(context);
  const IssuanceContext where{ca_label, caller, transaction_id, issue.profile()};
  const bool written = cert.ok() ? audit_->Issued(where, cert->get())
                                 : audit_->Refused(where, rule, cert.status().message());
  if (written) return absl::OkStatus();
  if (metrics_ != nullptr) metrics_->AuditWriteError();
  if (!cert.ok() || !audit_required_) return absl::OkStatus();
  if (metrics_ != nullptr) metrics_->CertificateWithheld();
  return absl::UnavailableError(
      "the issuance audit trail cannot be written: certificate withheld");
}

absl::Status SignerService::CheckRate(grpc::CallbackServerContext* context,
                                      absl::string_view ca, absl::string_view transaction_id,
                                      absl::string_view profile) {
  if (rate_limit_ == nullptr) return absl::OkStatus();
  const std::string caller = CallerOf(context);
  bool log = false;
  if (rate_limit_->Allow(CallerKey(caller), &log)) return absl::OkStatus();
  const std::string reason = absl::StrCat("more than ", rate_limit_->per_minute(),
                                          " certificates a minute for this caller");
  if (metrics_ != nullptr) metrics_->IssuanceRateLimited();
  if (log && audit_ != nullptr) {
    const bool written = audit_->RateLimited(
        {ca.empty() ? absl::string_view("default") : ca, caller, transaction_id, profile},
        reason);
    if (!written && metrics_ != nullptr) metrics_->AuditWriteError();
  }
  return absl::ResourceExhaustedError(absl::StrCat("issuance rate limit: ", reason));
}

grpc::ServerUnaryReactor* SignerService::IssueCertificate(
    grpc::CallbackServerContext* context,
    const v1::IssueCertificateRequest* request,
    v1::IssueCertificateResponse* response) {
  SignerCore* const core = Find(request->issuing_ca());
  if (core == nullptr) return UnknownCa(context, "IssueCertificate", request->issuing_ca());
  return Offload(context, "IssueCertificate", "sign_certificate",
                 [this, context, core, request, response]() -> absl::Status {
    if (request->validity_days() > 3650) {
      return absl::InvalidArgumentError("validity_days out of range");
    }
    if (absl::Status rate = CheckRate(context, request->issuing_ca(), "", request->profile());
        !rate.ok()) {
      return rate;
    }
    absl::StatusOr<crypto::X509Ptr> cert = core->IssueX509(request->csr(), PolicyOf(*request));
    RETURN_IF_ERROR(Record(context, *request, "", cert));
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> der = crypto::ToDer(cert->get(), i2d_X509);
    if (!der.ok()) return der.status();
    response->set_certificate(*std::move(der));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SignerService::SignCertRep(
    grpc::CallbackServerContext* context, const v1::SignCertRepRequest* request,
    v1::SignCertRepResponse* response) {
  SignerCore* const core = Find(request->issuing_ca());
  if (core == nullptr) return UnknownCa(context, "SignCertRep", request->issuing_ca());
  return Offload(context, "SignCertRep", "sign_certrep",
                 [core, request, response]() -> absl::Status {
    absl::StatusOr<codec::ScepAttributes> attrs = FromProto(request->attributes());
    if (!attrs.ok()) return attrs.status();
    absl::StatusOr<std::string> der =
        core->SignCertRep(request->content(), *std::move(attrs), request->digest());
    if (!der.ok()) return der.status();
    response->set_pki_message(*std::move(der));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SignerService::IssueCertRep(
    grpc::CallbackServerContext* context, const v1::IssueCertRepRequest* request,
    v1::IssueCertRepResponse* response) {
  SignerCore* const core = Find(request->issue().issuing_ca());
  if (core == nullptr) {
    return UnknownCa(context, "IssueCertRep", request->issue().issuing_ca());
  }
  return Offload(context, "IssueCertRep", "sign_certificate",
                 [this, context, core, request, response]() -> absl::Status {
    const v1::IssueCertificateRequest& issue = request->issue();
    if (issue.validity_days() > 3650) {
      return absl::InvalidArgumentError("validity_days out of range");
    }
    absl::StatusOr<codec::ScepAttributes> attrs = FromProto(request->attributes());
    if (!attrs.ok()) return attrs.status();
    if (attrs->pki_status != codec::PkiStatus::kSuccess) {
      return absl::InvalidArgumentError("IssueCertRep answers SUCCESS only");
    }
    // Checked before the CA key signs anything.
    // Only its issuer, serial and RSA key are used (crypto/public_keys.h:
    // about 16 us instead of OpenSSL 3.0's 110 us decoder set-up).
    absl::StatusOr<crypto::X509Ptr> recipient =
        crypto::ParseCertificate(request->recipient_certificate());
    if (!recipient.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "recipient certificate: ", recipient.status().message()));
    }
    // A retry of this transaction (same transactionID, CSR and policy, from
    // the same sender) after its caller gave up gets the certificate
    // already signed. The sender's certificate is part of the key: a
    // same-key renewal in the transaction (certmonger) sends the very same
    // CSR, but signed with the certificate issued to it, and wants a new
    // one (until session 19 a renewal within 10 minutes got the old one).
    const std::string key = RecentIssuance::Key({request->attributes().transaction_id(),
                                                 issue.SerializeAsString(),
                                                 request->recipient_certificate()});
    absl::StatusOr<crypto::X509Ptr> cert;
    absl::StatusOr<std::string> cert_der;
    if (std::optional<std::string> cached = recent_.Find(key)) {
      cert = crypto::FromDer<crypto::X509Ptr>(*cached, d2i_X509, "certificate");
      cert_der = *std::move(cached);
    } else {
      if (absl::Status rate = CheckRate(context, issue.issuing_ca(),
                                        request->attributes().transaction_id(), issue.profile());
          !rate.ok()) {
        return rate;
      }
      cert = core->IssueX509(issue.csr(), PolicyOf(issue), recipient->get());
      // Withheld (not remembered either): the retry is signed and audited anew.
      RETURN_IF_ERROR(
          Record(context, issue, request->attributes().transaction_id(), cert));
      if (cert.ok()) {
        cert_der = crypto::ToDer(cert->get(), i2d_X509);
        if (cert_der.ok()) recent_.Remember(key, *cert_der);
      }
    }
    if (!cert.ok()) return cert.status();
    if (!cert_der.ok()) return cert_der.status();
    absl::StatusOr<std::string> der;
    {
      ScopedKeyOperation op("sign_certrep");
      der = core->CertRepDelivering(
          cert->get(), recipient->get(),
          request->cipher().empty() ? "aes-128-cbc" : request->cipher(),
          *std::move(attrs), request->digest());
    }
    if (!der.ok()) return der.status();
    response->set_certificate(*std::move(cert_der));
    response->set_pki_message(*std::move(der));
    response->set_serial_hex(codec::SerialHex(X509_get0_serialNumber(cert->get())));
    response->set_not_after(crypto::UnixSeconds(X509_get0_notAfter(cert->get())));
    return absl::OkStatus();
  });
}

}  // namespace scep::signer
