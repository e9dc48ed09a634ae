// SignerCore and RA / CA rollover: a previous RA certificate or key still
// decrypts, and GetNextCACert's message carries the next CA (and RA).

#include <openssl/x509v3.h>

#include <vector>

#include "absl/strings/match.h"
#include "common/codec/envelope.h"
#include "common/codec/pki_message.h"
#include "gtest/gtest.h"
#include "services/signer/issuer.h"
#include "services/signer/signer_core.h"
#include "services/signer/signer_core_test_fixture.h"

namespace scep::signer::testing {
namespace {

// An RA certificate for `key` like ra.pem (same subject), serial `serial`,
// issued by the fixture CA.
crypto::X509Ptr RaCertificateFor(EVP_PKEY* key, long serial) {
  crypto::X509Ptr cert(X509_dup(Cert("ra.pem").get()));
  EXPECT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial), 1);
  EXPECT_EQ(X509_set_pubkey(cert.get(), key), 1);
  crypto::EvpPkeyPtr ca_key = crypto::LoadPrivateKeyFile(Testdata("ca.key")).value();
  EXPECT_GT(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), 0);
  return cert;
}

TEST(SignerCoreTest, PreviousRaCertificateOfTheSameKeyIsAcceptedAfterRenewal) {
  crypto::EvpPkeyPtr ra_key = crypto::LoadPrivateKeyFile(Testdata("ra.key")).value();
  auto renewed_core = [&] {
    return SignerCore::New(SignerOptions{}, Key("ca.key"), Cert("ca.pem"), Key("ra.key"),
                           RaCertificateFor(ra_key.get(), 777))
        .value();
  };
  crypto::X509Ptr old_ra = Cert("ra.pem");
  std::string to_old = codec::Envelope("csr-old", old_ra.get(), "aes-128-cbc").value();
  // Without it, a device holding the old certificate cannot enroll.
  EXPECT_EQ(renewed_core()->Decrypt(to_old).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::unique_ptr<SignerCore> core = renewed_core();
  ASSERT_TRUE(core->AcceptPreviousRa(Cert("ra.pem"), nullptr).ok());
  EXPECT_EQ(core->Decrypt(to_old).value_or(""), "csr-old");
  crypto::X509Ptr new_ra = ParseCert(core->ra_certificate_der());
  EXPECT_EQ(core->Decrypt(codec::Envelope("csr-new", new_ra.get(), "aes-256-cbc").value())
                .value_or(""),
            "csr-new");
  // The published RA certificate is still the new one.
  EXPECT_EQ(ASN1_INTEGER_get(X509_get0_serialNumber(new_ra.get())), 777);
}

TEST(SignerCoreTest, PreviousRaKeyDecryptsAfterKeyRollover) {
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  ASSERT_NE(new_key, nullptr);
  EVP_PKEY_up_ref(new_key.get());
  auto core = SignerCore::New(SignerOptions{}, Key("ca.key"), Cert("ca.pem"),
                              NewSoftwareKey(crypto::EvpPkeyPtr(new_key.get())),
                              RaCertificateFor(new_key.get(), 778))
                  .value();
  // The previous certificate is not of the new key: its own key is needed.
  EXPECT_EQ(core->AcceptPreviousRa(Cert("ra.pem"), nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(core->AcceptPreviousRa(Cert("ra.pem"), Key("ca.key")).code(),
            absl::StatusCode::kFailedPrecondition);
  crypto::X509Ptr old_ra = Cert("ra.pem");
  std::string to_old = codec::Envelope("csr-old", old_ra.get(), "aes-128-cbc").value();
  EXPECT_FALSE(core->Decrypt(to_old).ok());
  ASSERT_TRUE(core->AcceptPreviousRa(Cert("ra.pem"), Key("ra.key")).ok());
  EXPECT_EQ(core->Decrypt(to_old).value_or(""), "csr-old");
  crypto::X509Ptr new_ra = ParseCert(core->ra_certificate_der());
  EXPECT_EQ(core->Decrypt(codec::Envelope("csr-new", new_ra.get(), "aes-128-cbc").value())
                .value_or(""),
            "csr-new");
  // Malformed input is still refused, whichever RA it might be for.
  EXPECT_EQ(core->Decrypt("not DER").status().code(), absl::StatusCode::kInvalidArgument);
}

// The certificates in `core`'s GetNextCACert answer, whose RA signature
// must verify (an empty list when it does not).
std::vector<crypto::X509Ptr> NextCaCertificates(const SignerCore& core) {
  auto cms = crypto::FromDer<crypto::CmsPtr>(core.next_ca_message(), d2i_CMS_ContentInfo,
                                             "msg");
  if (!cms.ok()) return {};
  crypto::BioPtr out(BIO_new(BIO_s_mem()));
  if (CMS_verify(cms->get(), nullptr, nullptr, nullptr, out.get(),
                 CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
    return {};
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  auto certs = codec::ParseDegenerateCertificates(std::string(data, len));
  return certs.ok() ? *std::move(certs) : std::vector<crypto::X509Ptr>{};
}

TEST(SignerCoreTest, NextCaMessageIsRaSignedAndCarriesTheNextCa) {
  SignerOptions options;
  options.next_ca_certificate = Cert("strongswan-issued.pem");  // any cert
  auto core = SignerCore::New(std::move(options), Key("ca.key"), Cert("ca.pem"),
                              Key("ra.key"), Cert("ra.pem")).value();
  ASSERT_FALSE(core->next_ca_message().empty());
  std::vector<crypto::X509Ptr> certs = NextCaCertificates(*core);
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(X509_cmp(certs[0].get(), Cert("strongswan-issued.pem").get()), 0);
  EXPECT_TRUE(NewFixtureCore()->next_ca_message().empty());
}

TEST(SignerCoreTest, NextCaMessageCarriesTheNextRaWhenTheNextCaIssuedIt) {
  // The fixture CA issued the fixture RA: as a next CA and next RA pair.
  SignerOptions options;
  options.next_ca_certificate = Cert("ca.pem");
  options.next_ra_certificate = Cert("ra.pem");
  auto core = SignerCore::New(std::move(options), Key("ca.key"), Cert("ca.pem"),
                              Key("ra.key"), Cert("ra.pem")).value();
  std::vector<crypto::X509Ptr> certs = NextCaCertificates(*core);
  ASSERT_EQ(certs.size(), 2u);  // a SET: in DER order, not in ours
  for (const char* name : {"ca.pem", "ra.pem"}) {
    crypto::X509Ptr want = Cert(name);
    EXPECT_TRUE(X509_cmp(certs[0].get(), want.get()) == 0 ||
                X509_cmp(certs[1].get(), want.get()) == 0)
        << name;
  }

  // An RA certificate another CA issued, or one without a next CA: refused.
  SignerOptions foreign;
  foreign.next_ca_certificate = Cert("strongswan-issued.pem");
  foreign.next_ra_certificate = Cert("ra.pem");
  absl::StatusOr<std::unique_ptr<SignerCore>> refused = SignerCore::New(
      std::move(foreign), Key("ca.key"), Cert("ca.pem"), Key("ra.key"), Cert("ra.pem"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "not issued by the next CA"))
      << refused.status();
  SignerOptions alone;
  alone.next_ra_certificate = Cert("ra.pem");
  EXPECT_EQ(SignerCore::New(std::move(alone), Key("ca.key"), Cert("ca.pem"), Key("ra.key"),
                            Cert("ra.pem"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// After a CA rollover the CA certificates the CA replaced are published
// (GetCertificates), so that their certificates still renew; an RA
// certificate or the current CA certificate is refused at start.
TEST(SignerCoreTest, PreviousCaCertificatesArePublishedAndChecked) {
  auto core_with = [](crypto::X509Ptr previous) {
    SignerOptions options;
    options.previous_ca_certificates.push_back(std::move(previous));
    return SignerCore::New(std::move(options), Key("ca.key"), Cert("ca.pem"), Key("ra.key"),
                           Cert("ra.pem"));
  };
  crypto::EvpPkeyPtr old_key(EVP_RSA_gen(2048));
  crypto::X509Ptr old_ca(X509_dup(Cert("ca.pem").get()));
  X509_NAME* name = X509_get_subject_name(old_ca.get());
  ASSERT_EQ(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>("Before"), -1,
                                       -1, 0),
            1);
  ASSERT_EQ(X509_set_issuer_name(old_ca.get(), name), 1);
  ASSERT_EQ(X509_set_pubkey(old_ca.get(), old_key.get()), 1);
  ASSERT_GT(X509_sign(old_ca.get(), old_key.get(), EVP_sha256()), 0);
  absl::StatusOr<std::unique_ptr<SignerCore>> core = core_with(crypto::X509Ptr(X509_dup(old_ca.get())));
  ASSERT_TRUE(core.ok()) << core.status();
  ASSERT_EQ((*core)->previous_ca_der().size(), 1u);
  EXPECT_EQ(X509_cmp(ParseCert((*core)->previous_ca_der()[0]).get(), old_ca.get()), 0);
  EXPECT_TRUE(SignerCore::New(SignerOptions{}, Key("ca.key"), Cert("ca.pem"), Key("ra.key"),
                              Cert("ra.pem"))
                  .value()
                  ->previous_ca_der()
                  .empty());
  absl::StatusOr<std::unique_ptr<SignerCore>> not_a_ca = core_with(Cert("ra.pem"));
  EXPECT_EQ(not_a_ca.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(not_a_ca.status().message(), "not a CA certificate"));
  absl::StatusOr<std::unique_ptr<SignerCore>> current = core_with(Cert("ca.pem"));
  EXPECT_EQ(current.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(current.status().message(), "is the current CA"));
}

}  // namespace
}  // namespace scep::signer::testing
