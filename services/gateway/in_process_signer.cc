#include "services/gateway/in_process_signer.h"

#include <fstream>
#include <sstream>

#include <openssl/provider.h>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/pem.h"
#include "common/crypto/providers.h"

namespace scep::gateway::testing {
namespace {

// OpenSSL's legacy provider (single DES of micromdm scepclient) for every
// test of the binary, in its own library context as the services load it,
// created once and freed at the very end (dropping it is a leak to LSan,
// scripts/test --sanitize).
class OpenSslProviders final : public ::testing::Environment {
 public:
  void SetUp() override { providers_ = std::make_unique<crypto::LegacyProviders>(); }
  void TearDown() override { providers_.reset(); }

 private:
  std::unique_ptr<crypto::LegacyProviders> providers_;
};

::testing::Environment* const kProviders =
    ::testing::AddGlobalTestEnvironment(new OpenSslProviders);

}  // namespace

std::string Testdata(const std::string& name) {
  return std::string(SCEP_TESTDATA_DIR) + "/" + name;
}

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(Testdata(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

InProcessSigner::InProcessSigner(const std::string& next_ca) {
  auto key = [](const char* f) {
    return signer::NewSoftwareKey(crypto::LoadPrivateKeyFile(Testdata(f)).value());
  };
  auto cert = [](const std::string& f) {
    return crypto::LoadCertificateFile(Testdata(f)).value();
  };
  signer::SignerOptions options;
  if (!next_ca.empty()) options.next_ca_certificate = cert(next_ca);
  core_ = signer::SignerCore::New(std::move(options), key("ca.key"), cert("ca.pem"),
                                  key("ra.key"), cert("ra.pem"))
              .value();
}

InProcessSigner::InProcessSigner(X509* previous_ca, EVP_PKEY* previous_key) {
  signer::SignerOptions options;
  options.previous_ca_certificates.emplace_back(X509_dup(previous_ca));
  core_ = signer::SignerCore::New(
              std::move(options),
              signer::NewSoftwareKey(crypto::LoadPrivateKeyFile(Testdata("ca.key")).value()),
              crypto::LoadCertificateFile(Testdata("ca.pem")).value(),
              signer::NewSoftwareKey(crypto::LoadPrivateKeyFile(Testdata("ra.key")).value()),
              crypto::LoadCertificateFile(Testdata("ra.pem")).value())
              .value();
  if (previous_key != nullptr) {
    EVP_PKEY_up_ref(previous_key);
    EXPECT_TRUE(core_
                    ->AcceptPreviousCaKey(crypto::CertificateSha256(previous_ca),
                                          signer::NewSoftwareKey(crypto::EvpPkeyPtr(previous_key)))
                    .ok());
  }
}

absl::StatusOr<CaCertificatesDer> InProcessSigner::GetCertificates() {
  if (down) return absl::UnavailableError("down");
  return CaCertificatesDer{core_->ca_certificate_der(), core_->ra_certificate_der(),
                           core_->next_ca_certificate_der(), core_->next_ca_message(),
                           core_->ca_chain_der(), {}, core_->previous_ca_der()};
}

absl::StatusOr<std::string> InProcessSigner::Decrypt(absl::string_view env) {
  if (down) return absl::UnavailableError("down");
  return core_->Decrypt(env);
}

absl::StatusOr<std::string> InProcessSigner::Issue(const IssueRequest& request) {
  if (before_issue) before_issue();
  if (down || issue_down) return absl::UnavailableError("down");
  signer::SignerCore::Policy policy;
  policy.validity_days = request.validity_days;
  policy.digest = request.digest;
  policy.subject = request.subject;
  policy.subject_alt_name = request.subject_alt_name;
  policy.key_usage = request.key_usage;
  policy.extended_key_usage = request.extended_key_usage;
  policy.crl_distribution_points = request.crl_distribution_points;
  policy.ca_issuers = request.ca_issuers;
  absl::StatusOr<std::string> cert = core_->Issue(request.csr, policy);
  if (cert.ok()) ++issued;
  return cert;
}

absl::StatusOr<std::string> InProcessSigner::SignCertRep(
    absl::string_view content, const codec::ScepAttributes& attrs,
    absl::string_view digest) {
  if (down) return absl::UnavailableError("down");
  return core_->SignCertRep(content, attrs, digest);
}

absl::StatusOr<std::string> InProcessSigner::SignCrl(const CrlRequest& request) {
  if (down) return absl::UnavailableError("down");
  ++crls_signed;
  signer::CrlParams params;
  for (const redis::RevokedSerial& r : request.revoked) {
    std::string hex = r.serial_hex.size() % 2 ? "0" + r.serial_hex : r.serial_hex;
    params.revoked.push_back({absl::HexStringToBytes(hex), r.revoked_at, r.reason});
  }
  params.number = request.number;
  params.this_update = request.this_update;
  params.next_update = request.next_update;
  return core_->SignCrl(params, "",
                        ignores_ca_selector ? "" : request.ca_certificate_sha256);
}

absl::StatusOr<std::string> InProcessSigner::SignOcsp(const OcspSignRequest& request) {
  if (down) return absl::UnavailableError("down");
  signer::OcspParams params;
  params.cert_id_digest = request.cert_id_digest;
  params.this_update = request.this_update;
  params.next_update = request.next_update;
  params.nonce = request.nonce;
  for (const OcspSingle& single : request.statuses) {
    params.statuses.push_back(
        {single.serial,
         single.kind == OcspSingle::Kind::kGood      ? signer::OcspStatus::Kind::kGood
         : single.kind == OcspSingle::Kind::kRevoked ? signer::OcspStatus::Kind::kRevoked
                                                     : signer::OcspStatus::Kind::kUnknown,
         single.revoked_at, single.reason});
  }
  ++ocsp_signed;
  return core_->SignOcsp(params, ignores_ca_selector ? "" : request.ca_certificate_sha256);
}

}  // namespace scep::gateway::testing
