#include "services/gateway/signer_client.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/rpc/call_deadline.h"
#include "common/rpc/message_limits.h"
#include "common/rpc/status_convert.h"

namespace scep::gateway {
namespace {

namespace v1 = ::scep::signer::v1;

absl::Status Convert(const grpc::Status& status, absl::string_view call) {
  if (status.ok()) return absl::OkStatus();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
      return absl::UnavailableError(
          absl::StrCat("signer ", call, ": ", status.error_message()));
    default:
      return rpc::FromGrpcStatus(status);
  }
}

// Retries only UNAVAILABLE (signer pod gone, connection refused, draining):
// the call did not run, or running it again is harmless because the
// gateway holds the transaction claim. RESOURCE_EXHAUSTED (overloaded) is
// not retried: the device gets 503 + Retry-After instead of adding load.
std::string RetryServiceConfig(int max_attempts) {
  if (max_attempts < 2) return "{}";
  return absl::Substitute(R"json({
  "methodConfig": [{
    "name": [{"service": "scep.signer.v1.Signer"}],
    "retryPolicy": {
      "maxAttempts": $0,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }],
  "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
})json",
                          std::min(max_attempts, 5));
}

absl::Status CheckReadable(absl::string_view flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", flag, " file ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> SignerCredentials(
    const GrpcSignerOptions& o) {
  const bool tls = !o.tls_ca.empty() || !o.tls_cert.empty() || !o.tls_key.empty();
  if (o.insecure_plaintext) {
    if (tls) {
      return absl::FailedPreconditionError(
          "signer TLS files and insecure plaintext are mutually exclusive");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (!tls) {
    return absl::FailedPreconditionError(
        "no TLS for the signer connection: set the signer TLS CA (and client "
        "certificate and key for mTLS), or plaintext explicitly for local use");
  }
  if (o.tls_ca.empty()) {
    return absl::FailedPreconditionError("signer TLS needs a CA file");
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return absl::FailedPreconditionError(
        "signer TLS client certificate and key go together");
  }
  if (absl::Status s = CheckReadable("signer TLS CA", o.tls_ca); !s.ok()) return s;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  const auto refresh = static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(o.tls_refresh)));
  if (o.tls_cert.empty()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.tls_ca, refresh);
  } else {
    for (const auto& [flag, path] : {std::pair{"signer TLS certificate", &o.tls_cert},
                                     std::pair{"signer TLS key", &o.tls_key}}) {
      if (absl::Status s = CheckReadable(flag, *path); !s.ok()) return s;
    }
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.tls_key, o.tls_cert, o.tls_ca, refresh);
  }
  grpc::experimental::TlsChannelCredentialsOptions tls_options;
  tls_options.set_certificate_provider(provider);
  tls_options.watch_root_certs();
  if (!o.tls_cert.empty()) tls_options.watch_identity_key_cert_pairs();
  tls_options.set_verify_server_certs(true);
  std::shared_ptr<grpc::ChannelCredentials> creds =
      grpc::experimental::TlsCredentials(tls_options);
  if (creds == nullptr) {
    return absl::FailedPreconditionError("cannot build signer TLS credentials");
  }
  return creds;
}

void FillIssue(const IssueRequest& request, const std::string& issuing_ca,
               v1::IssueCertificateRequest* req) {
  req->set_csr(request.csr);
  req->set_issuing_ca(issuing_ca);
  req->set_validity_days(static_cast<uint32_t>(request.validity_days));
  req->set_digest(request.digest);
  req->set_subject(request.subject);
  req->set_subject_alt_name(request.subject_alt_name);
  for (const std::string& ku : request.key_usage) req->add_key_usage(ku);
  for (const std::string& eku : request.extended_key_usage) {
    req->add_extended_key_usage(eku);
  }
  for (const std::string& uri : request.crl_distribution_points) {
    req->add_crl_distribution_points(uri);
  }
  for (const std::string& uri : request.ca_issuers) req->add_ca_issuers(uri);
  for (const std::string& uri : request.ocsp_urls) req->add_ocsp_urls(uri);
  req->set_profile(request.profile);
}

void FillAttributes(const codec::ScepAttributes& attributes, v1::CertRepAttributes* a) {
  a->set_transaction_id(attributes.transaction_id);
  a->set_sender_nonce(attributes.sender_nonce);
  if (attributes.recipient_nonce) a->set_recipient_nonce(*attributes.recipient_nonce);
  if (attributes.pki_status) {
    a->set_pki_status(std::to_string(static_cast<int>(*attributes.pki_status)));
  }
  if (attributes.fail_info) {
    a->set_fail_info(std::to_string(static_cast<int>(*attributes.fail_info)));
  }
  if (attributes.fail_info_text) a->set_fail_info_text(*attributes.fail_info_text);
}

class GrpcSignerClient final : public SignerClient {
 public:
  GrpcSignerClient(std::unique_ptr<v1::Signer::StubInterface> stub,
                   absl::Duration deadline, std::string issuing_ca)
      : stub_(std::move(stub)), deadline_(deadline), issuing_ca_(std::move(issuing_ca)) {}

  absl::StatusOr<CaCertificatesDer> GetCertificates() override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::GetCertificatesRequest req;
    req.set_issuing_ca(issuing_ca_);
    v1::GetCertificatesResponse resp;
    absl::Status s = Convert(
        stub_->GetCertificates(&ctx, req, &resp),
        "GetCertificates");
    if (!s.ok()) return s;
    const v1::IssuanceBounds& bounds = resp.issuance_bounds();
    return CaCertificatesDer{
        resp.ca_certificate(),
        resp.ra_certificate(),
        resp.next_ca_certificate(),
        resp.next_ca_message(),
        {resp.ca_chain().begin(), resp.ca_chain().end()},
        {static_cast<int>(bounds.max_validity_days()),
         {bounds.allowed_key_usage().begin(), bounds.allowed_key_usage().end()},
         {bounds.allowed_extended_key_usage().begin(), bounds.allowed_extended_key_usage().end()},
         {bounds.allowed_digests().begin(), bounds.allowed_digests().end()}},
        {resp.previous_ca_certificates().begin(), resp.previous_ca_certificates().end()}};
  }

  absl::StatusOr<std::string> Decrypt(absl::string_view enveloped) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::DecryptEnvelopeRequest req;
    req.set_enveloped_data(enveloped.data(), enveloped.size());
    req.set_issuing_ca(issuing_ca_);
    v1::DecryptEnvelopeResponse resp;
    absl::Status s =
        Convert(stub_->DecryptEnvelope(&ctx, req, &resp), "DecryptEnvelope");
    if (!s.ok()) return s;
    return std::move(*resp.mutable_plaintext());
  }

  absl::StatusOr<std::string> Issue(const IssueRequest& request) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::IssueCertificateRequest req;
    FillIssue(request, issuing_ca_, &req);
    v1::IssueCertificateResponse resp;
    absl::Status s =
        Convert(stub_->IssueCertificate(&ctx, req, &resp), "IssueCertificate");
    if (!s.ok()) return s;
    return std::move(*resp.mutable_certificate());
  }

  absl::StatusOr<std::string> SignCertRep(
      absl::string_view content, const codec::ScepAttributes& attributes,
      absl::string_view digest) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::SignCertRepRequest req;
    req.set_content(content.data(), content.size());
    req.set_issuing_ca(issuing_ca_);
    req.set_digest(digest.data(), digest.size());
    FillAttributes(attributes, req.mutable_attributes());
    v1::SignCertRepResponse resp;
    absl::Status s = Convert(stub_->SignCertRep(&ctx, req, &resp), "SignCertRep");
    if (!s.ok()) return s;
    return std::move(*resp.mutable_pki_message());
  }

  absl::StatusOr<std::string> SignCrl(const CrlRequest& request) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::SignCrlRequest req;
    req.set_issuing_ca(issuing_ca_);
    for (const redis::RevokedSerial& entry : request.revoked) {
      v1::RevokedCertificate* r = req.add_revoked();
      r->set_serial(absl::HexStringToBytes(
          entry.serial_hex.size() % 2 ? "0" + entry.serial_hex : entry.serial_hex));
      r->set_revocation_time(absl::ToUnixSeconds(entry.revoked_at));
      r->set_reason(entry.reason);
    }
    req.set_crl_number(request.number);
    req.set_this_update(absl::ToUnixSeconds(request.this_update));
    req.set_next_update(absl::ToUnixSeconds(request.next_update));
    req.set_ca_certificate_sha256(request.ca_certificate_sha256);
    v1::SignCrlResponse resp;
    absl::Status s = Convert(stub_->SignCrl(&ctx, req, &resp), "SignCrl");
    if (!s.ok()) return s;
    return std::move(*resp.mutable_crl());
  }

  absl::StatusOr<std::string> SignOcsp(const OcspSignRequest& request) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::SignOcspRequest req;
    req.set_issuing_ca(issuing_ca_);
    req.set_cert_id_digest(request.cert_id_digest);
    for (const OcspSingle& single : request.statuses) {
      v1::OcspSingleStatus* status = req.add_statuses();
      status->set_serial(single.serial);
      status->set_status(single.kind == OcspSingle::Kind::kGood      ? v1::OcspSingleStatus::GOOD
                         : single.kind == OcspSingle::Kind::kRevoked ? v1::OcspSingleStatus::REVOKED
                                                                     : v1::OcspSingleStatus::UNKNOWN);
      status->set_revocation_time(absl::ToUnixSeconds(single.revoked_at));
      status->set_reason(single.reason);
    }
    req.set_this_update(absl::ToUnixSeconds(request.this_update));
    req.set_next_update(absl::ToUnixSeconds(request.next_update));
    req.set_nonce(request.nonce);
    req.set_ca_certificate_sha256(request.ca_certificate_sha256);
    v1::SignOcspResponse resp;
    absl::Status s = Convert(stub_->SignOcsp(&ctx, req, &resp), "SignOcsp");
    if (!s.ok()) return s;
    return std::move(*resp.mutable_ocsp_response());
  }

  absl::StatusOr<IssuedCertRep> IssueCertRep(const IssueRequest& issue,
                                             const CertRepRequest& reply) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::IssueCertRepRequest req;
    FillIssue(issue, issuing_ca_, req.mutable_issue());
    FillAttributes(reply.attributes, req.mutable_attributes());
    req.set_digest(reply.digest);
    req.set_recipient_certificate(reply.recipient_certificate);
    req.set_cipher(reply.cipher);
    v1::IssueCertRepResponse resp;
    absl::Status s = Convert(stub_->IssueCertRep(&ctx, req, &resp), "IssueCertRep");
    if (!s.ok()) return s;
    IssuedCertRep out;
    out.certificate = std::move(*resp.mutable_certificate());
    out.pki_message = std::move(*resp.mutable_pki_message());
    out.serial_hex = resp.serial_hex();
    out.not_after = absl::FromUnixSeconds(resp.not_after());
    return out;
  }

 private:
  void SetDeadline(grpc::ClientContext& ctx) const {
    // Within the deadline of the admin API call this one serves, if any.
    ctx.set_deadline(absl::ToChronoTime(rpc::WithinCallDeadline(absl::Now() + deadline_)));
  }

  const std::unique_ptr<v1::Signer::StubInterface> stub_;
  const absl::Duration deadline_;
  const std::string issuing_ca_;
};

}  // namespace

absl::StatusOr<IssuedCertRep> SignerClient::IssueCertRep(const IssueRequest& issue,
                                                         const CertRepRequest& reply) {
  absl::StatusOr<std::string> cert_der = Issue(issue);
  if (!cert_der.ok()) return cert_der.status();
  absl::StatusOr<crypto::X509Ptr> cert =
      crypto::FromDer<crypto::X509Ptr>(*cert_der, d2i_X509, "issued certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<crypto::X509Ptr> recipient = crypto::FromDer<crypto::X509Ptr>(
      reply.recipient_certificate, d2i_X509, "recipient certificate");
  if (!recipient.ok()) return recipient.status();
  absl::StatusOr<std::string> degenerate = codec::DegenerateCertificates({cert->get()});
  if (!degenerate.ok()) return degenerate.status();
  absl::StatusOr<std::string> envelope = codec::Envelope(
      *degenerate, recipient->get(), reply.cipher.empty() ? "aes-128-cbc" : reply.cipher);
  if (!envelope.ok()) return envelope.status();
  absl::StatusOr<std::string> der = SignCertRep(*envelope, reply.attributes, reply.digest);
  if (!der.ok()) return der.status();
  IssuedCertRep out;
  out.certificate = *std::move(cert_der);
  out.pki_message = *std::move(der);
  out.serial_hex = codec::SerialHex(X509_get0_serialNumber(cert->get()));
  out.not_after =
      absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(cert->get())));
  return out;
}

std::unique_ptr<SignerClient> NewGrpcSignerClient(
    std::unique_ptr<v1::Signer::StubInterface> stub, absl::Duration deadline,
    std::string issuing_ca) {
  return std::make_unique<GrpcSignerClient>(std::move(stub), deadline,
                                            std::move(issuing_ca));
}

std::string PrepareGrpcClientPolling() {
  constexpr char kVariable[] = "GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS";
  setenv(kVariable, std::to_string(kBackupPollIntervalMs).c_str(), /*overwrite=*/0);
  const char* value = getenv(kVariable);
  return value != nullptr ? value : "";
}

absl::StatusOr<std::unique_ptr<SignerClient>> NewGrpcSignerClient(
    const GrpcSignerOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      SignerCredentials(options);
  if (!credentials.ok()) return credentials.status();
  if (options.keepalive != absl::ZeroDuration() &&
      (options.keepalive < kMinSignerKeepalive ||
       options.keepalive_timeout < absl::Milliseconds(100))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signer keepalive must be 0 (off) or at least ",
        absl::FormatDuration(kMinSignerKeepalive),
        ", with a timeout of at least 100ms"));
  }
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetMaxReceiveMessageSize(rpc::kMaxSignerMessageBytes);  // large CRLs
  if (options.keepalive != absl::ZeroDuration()) {
    // A PING per interval whether calls are out or not, so a connection to
    // a signer that went silent is found dead (and avoided) within
    // keepalive + timeout, busy or idle.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.keepalive)));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_timeout)));
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    args.SetInt(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.keepalive)));
  }
  // Reconnect quickly after a signer restart instead of backing off for
  // minutes while devices get 503s (see also PrepareGrpcClientPolling).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A signer pod replaced (rollout, node drain) is a new address: look the
  // name up again within a second of losing a connection, not gRPC's
  // default 30 s, during which every call would fail against the old one.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  args.SetServiceConfigJSON(RetryServiceConfig(options.max_attempts));
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  auto channel = grpc::CreateCustomChannel(options.target, *credentials, args);
  return NewGrpcSignerClient(v1::Signer::NewStub(channel), options.deadline,
                             options.issuing_ca);
}

}  // namespace scep::gateway
