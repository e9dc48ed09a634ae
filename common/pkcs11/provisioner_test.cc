// The provisioner: the CA and RA it issues per key type, a reused token,
// several tokens in one store, the PEM files, and the RA certificate's
// validity. Where the RA key goes: provisioner_ra_test.cc; keys another
// tool put in a reused token: provisioner_reuse_test.cc.

#include "common/pkcs11/provisioner.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/crypto/distinguished_name.h"
#include "common/crypto/pem.h"
#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/provisioner_test_fixture.h"
#include "gtest/gtest.h"

namespace scep::pkcs11 {
namespace {

using testing::DaysFromNow;
using testing::IsCritical;
using testing::kPin;
using testing::ProvisionerTest;

class ProvisionKeyTypeTest : public ProvisionerTest,
                             public ::testing::WithParamInterface<const char*> {
};

TEST_P(ProvisionKeyTypeTest, IssuesValidCaAndRaCertificates) {
  absl::StatusOr<KeySpec> spec = KeySpec::Parse(GetParam());
  ASSERT_TRUE(spec.ok());
  options_.ca_key = *spec;
  absl::StatusOr<ProvisionResult> result = Provision(options_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->setup.token_created);
  EXPECT_TRUE(result->setup.ca_key_generated);
  EXPECT_TRUE(result->setup.ra_key_generated);
  X509* ca = result->certificates.ca.get();
  X509* ra = result->certificates.ra.get();

  // CA: self-signed v3 CA certificate.
  EXPECT_EQ(X509_get_version(ca), X509_VERSION_3);
  EXPECT_EQ(X509_verify(ca, X509_get0_pubkey(ca)), 1);
  EXPECT_EQ(X509_check_issued(ca, ca), X509_V_OK);
  EXPECT_EQ(crypto::FormatDistinguishedName(X509_get_subject_name(ca)),
            "CN=SCEP Dev CA, O=Example");
  EXPECT_EQ(X509_check_ca(ca), 1);
  EXPECT_TRUE(IsCritical(ca, NID_basic_constraints));
  EXPECT_TRUE(IsCritical(ca, NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(ca) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN),
            static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  ASSERT_NE(X509_get0_subject_key_id(ca), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(ca), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(ca),
                                  X509_get0_authority_key_id(ca)),
            0);
  EXPECT_NEAR(DaysFromNow(X509_get0_notAfter(ca)), 3650, 1);
  crypto::BignumPtr serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), nullptr));
  EXPECT_FALSE(BN_is_negative(serial.get()));
  EXPECT_GE(BN_num_bits(serial.get()), 64);
  const int expected_digest =
      spec->SignatureDigest() == EVP_sha256() ? NID_sha256 : NID_sha384;
  int digest_nid = NID_undef;
  ASSERT_EQ(X509_get_signature_info(ca, &digest_nid, nullptr, nullptr, nullptr),
            1);
  EXPECT_EQ(digest_nid, expected_digest);

  // The CA certificate certifies the token's key.
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(Config());
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<crypto::EvpPkeyPtr> ca_public = (*token)->PublicKey(kCaKeyLabel);
  ASSERT_TRUE(ca_public.ok());
  EXPECT_EQ(EVP_PKEY_eq(ca_public->get(), X509_get0_pubkey(ca)), 1);
  absl::StatusOr<crypto::EvpPkeyPtr> ra_public = (*token)->PublicKey(kRaKeyLabel);
  ASSERT_TRUE(ra_public.ok());
  EXPECT_EQ(EVP_PKEY_eq(ra_public->get(), X509_get0_pubkey(ra)), 1);
  token->reset();

  // RA: an end-entity certificate chaining to the CA.
  EXPECT_EQ(X509_check_ca(ra), 0);
  EXPECT_EQ(X509_check_issued(ca, ra), X509_V_OK);
  EXPECT_TRUE(IsCritical(ra, NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(ra) & (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_EQ(X509_get_key_usage(ra) & KU_KEY_CERT_SIGN, 0u);
  EXPECT_NEAR(DaysFromNow(X509_get0_notAfter(ra)), 730, 1);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(ca),
                                  X509_get0_authority_key_id(ra)),
            0);
  crypto::X509StorePtr store(X509_STORE_new());
  ASSERT_EQ(X509_STORE_add_cert(store.get(), ca), 1);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(
      X509_STORE_CTX_new(), X509_STORE_CTX_free);
  ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), ra, nullptr), 1);
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));

  // Keys never leave the token.
  for (const char* label : {kCaKeyLabel, kRaKeyLabel}) {
    absl::StatusOr<KeyAttributes> attributes = InspectPrivateKey(Config(), label);
    ASSERT_TRUE(attributes.ok()) << attributes.status();
    EXPECT_TRUE(attributes->sensitive) << label;
    EXPECT_FALSE(attributes->extractable) << label;
    EXPECT_TRUE(attributes->never_extractable) << label;
  }
  EXPECT_EQ(InspectPrivateKey(Config(), kCaKeyLabel)->spec, *spec);
  EXPECT_EQ(InspectPrivateKey(Config(), kRaKeyLabel)->type, "RSA-2048");
  // The CA key only signs; the RA key opens request envelopes too.
  EXPECT_FALSE(Allows(kCaKeyLabel, /*public_half=*/false)) << GetParam();
  EXPECT_FALSE(Allows(kCaKeyLabel, /*public_half=*/true)) << GetParam();
  EXPECT_TRUE(Allows(kRaKeyLabel, /*public_half=*/false));
  EXPECT_TRUE(Allows(kRaKeyLabel, /*public_half=*/true));
}

INSTANTIATE_TEST_SUITE_P(CaKeys, ProvisionKeyTypeTest,
                         ::testing::Values("rsa:2048", "rsa:3072", "ec:p256",
                                           "ec:p384"));

TEST_F(ProvisionerTest, ExistingTokenIsAlreadyExists) {
  ASSERT_TRUE(Provision(options_).ok());
  absl::StatusOr<ProvisionResult> again = Provision(options_);
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
}

TEST_F(ProvisionerTest, ReuseKeepsExistingKeys) {
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  options_.reuse_existing_token = true;
  absl::StatusOr<ProvisionResult> second = Provision(options_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->setup.token_created);
  EXPECT_FALSE(second->setup.ca_key_generated);
  EXPECT_FALSE(second->setup.ra_key_generated);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(first->certificates.ca.get()),
                        X509_get0_pubkey(second->certificates.ca.get())),
            1);
}

TEST_F(ProvisionerTest, ReuseKeepsAnExistingCaCertificate) {
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  options_.reuse_existing_token = true;
  absl::StatusOr<ProvisionResult> second = Provision(options_, first->certificates.ca.get());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(X509_cmp(first->certificates.ca.get(), second->certificates.ca.get()), 0)
      << "the fingerprint MDM profiles pin stays";
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(first->certificates.ra.get()),
                             X509_get0_serialNumber(second->certificates.ra.get())),
            0);
  EXPECT_EQ(X509_check_issued(first->certificates.ca.get(), second->certificates.ra.get()),
            X509_V_OK);

  ProvisionOptions other = options_;
  other.token_label = "other";
  other.reuse_existing_token = false;
  absl::StatusOr<ProvisionResult> other_ca = Provision(other);
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  absl::StatusOr<ProvisionResult> refused = Provision(options_, other_ca->certificates.ca.get());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
}

TEST_F(ProvisionerTest, FurtherIssuingCaJoinsTheToken) {
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  options_.reuse_existing_token = true;
  options_.ca_key_label = "scep-ca-wifi";
  options_.ra_key_label = "scep-ra-wifi";
  options_.ca_subject = "CN=Wi-Fi CA";
  absl::StatusOr<ProvisionResult> second = Provision(options_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->setup.token_created);
  EXPECT_TRUE(second->setup.ca_key_generated);
  EXPECT_TRUE(second->setup.ra_key_generated);
  // A CA of its own: another key, and its RA chains to it.
  EXPECT_NE(EVP_PKEY_eq(X509_get0_pubkey(first->certificates.ca.get()),
                        X509_get0_pubkey(second->certificates.ca.get())),
            1);
  EXPECT_EQ(X509_check_issued(second->certificates.ca.get(),
                              second->certificates.ra.get()),
            X509_V_OK);
  // Every key pair keeps its own CKA_ID and the first CA still works.
  EXPECT_NE(KeyIdForLabel("scep-ca-wifi"), KeyIdForLabel("scep-ra-wifi"));
  EXPECT_EQ(KeyIdForLabel(kCaKeyLabel), std::string(1, '\x01'));
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(Config());
  ASSERT_TRUE(token.ok()) << token.status();
  for (const auto& [label, cert] :
       {std::pair{kCaKeyLabel, first->certificates.ca.get()},
        std::pair{"scep-ca-wifi", second->certificates.ca.get()},
        std::pair{"scep-ra-wifi", second->certificates.ra.get()}}) {
    absl::StatusOr<crypto::EvpPkeyPtr> pub = (*token)->PublicKey(label);
    ASSERT_TRUE(pub.ok()) << label << ": " << pub.status();
    EXPECT_EQ(EVP_PKEY_eq(pub->get(), X509_get0_pubkey(cert)), 1) << label;
  }
  options_.ra_key_label = options_.ca_key_label;
  EXPECT_TRUE(absl::IsInvalidArgument(Provision(options_).status()));
}

TEST_F(ProvisionerTest, ReuseRejectsKeyOfAnotherType) {
  ASSERT_TRUE(Provision(options_).ok());
  options_.reuse_existing_token = true;
  options_.ca_key = KeySpec::Ec(NID_X9_62_prime256v1);
  absl::StatusOr<ProvisionResult> result = Provision(options_);
  EXPECT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
}

TEST_F(ProvisionerTest, WrongUserPinOnReuseDoesNotLeakPin) {
  ASSERT_TRUE(Provision(options_).ok());
  options_.reuse_existing_token = true;
  options_.user_pin = "55443322";
  absl::StatusOr<ProvisionResult> result = Provision(options_);
  ASSERT_TRUE(absl::IsPermissionDenied(result.status())) << result.status();
  EXPECT_EQ(result.status().message().find("55443322"), absl::string_view::npos);
  EXPECT_NE(result.status().message().find("CKR_PIN_INCORRECT"),
            absl::string_view::npos);
}

TEST_F(ProvisionerTest, InvalidOptionsLeaveNoToken) {
  options_.ra_key = KeySpec::Ec(NID_X9_62_prime256v1);
  EXPECT_TRUE(absl::IsInvalidArgument(Provision(options_).status()));
  options_.ra_key = KeySpec::Rsa(2048);
  options_.ca_subject = "XYZ=nope";
  EXPECT_TRUE(absl::IsInvalidArgument(Provision(options_).status()));
  options_.ca_subject = "CN=ok";
  // What IssueCertificate would refuse only after the token and its keys
  // were created.
  options_.ca_validity_days = 99999;
  absl::Status too_long = Provision(options_).status();
  EXPECT_TRUE(absl::IsInvalidArgument(too_long)) << too_long;
  EXPECT_NE(too_long.message().find("CA validity"), std::string::npos) << too_long;
  options_.ca_validity_days = 3650;
  options_.so_pin.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(Provision(options_).status()));
  absl::StatusOr<bool> exists =
      TokenExists(options_.module_path, options_.token_label);
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_FALSE(*exists);
}

TEST_F(ProvisionerTest, SeveralTokensInOneStore) {
  ASSERT_TRUE(Provision(options_).ok());
  options_.token_label = "second";
  options_.ca_key = KeySpec::Ec(NID_secp384r1);
  absl::StatusOr<ProvisionResult> second = Provision(options_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*TokenExists(options_.module_path, "scep-dev"));
  EXPECT_TRUE(*TokenExists(options_.module_path, "second"));
  EXPECT_EQ(InspectPrivateKey(Config(), kCaKeyLabel)->type, "EC-P384");
}

TEST_F(ProvisionerTest, WritesPemFiles) {
  absl::StatusOr<ProvisionResult> result = Provision(options_);
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string dir = sandbox_->dir() + "/out/pki";
  ASSERT_TRUE(WriteServiceCertificates(result->certificates, dir).ok());
  absl::StatusOr<crypto::X509Ptr> ca = ReadCertificatePem(dir + "/ca.pem");
  absl::StatusOr<crypto::X509Ptr> ra = ReadCertificatePem(dir + "/ra.pem");
  ASSERT_TRUE(ca.ok() && ra.ok());
  EXPECT_EQ(X509_cmp(ca->get(), result->certificates.ca.get()), 0);
  EXPECT_EQ(X509_cmp(ra->get(), result->certificates.ra.get()), 0);
  absl::StatusOr<std::string> fingerprint = Sha256Fingerprint(ca->get());
  ASSERT_TRUE(fingerprint.ok());
  EXPECT_EQ(fingerprint->size(), 32u * 3 - 1);
  EXPECT_EQ(fingerprint->find_first_not_of("0123456789ABCDEF:"),
            std::string::npos);
  EXPECT_TRUE(absl::IsNotFound(ReadCertificatePem(dir + "/none.pem").status()));
}

// The RA certificate never outlives its CA, nor starts before it, whatever
// the seconds between the two computations or when an imported CA was
// signed.
TEST(IssueCertificateTest, StaysWithinTheIssuersValidity) {
  crypto::EvpPkeyPtr ca_key(EVP_RSA_gen(2048));
  crypto::EvpPkeyPtr ra_key(EVP_RSA_gen(2048));
  ASSERT_NE(ca_key, nullptr);
  ASSERT_NE(ra_key, nullptr);
  absl::StatusOr<crypto::X509Ptr> ca = IssueCertificate(
      {CertificateRole::kCa, "CN=Short CA", 2, ca_key.get()}, nullptr, ca_key.get(),
      EVP_sha256());
  ASSERT_TRUE(ca.ok()) << ca.status();
  // Valid from now only, as a CA an openssl root signed a moment ago.
  ASSERT_NE(X509_gmtime_adj(X509_getm_notBefore(ca->get()), 0), nullptr);
  ASSERT_GT(X509_sign(ca->get(), ca_key.get(), EVP_sha256()), 0);

  absl::StatusOr<crypto::X509Ptr> ra = IssueCertificate(
      {CertificateRole::kRa, "CN=RA", 30, ra_key.get()}, ca->get(), ca_key.get(), EVP_sha256());
  ASSERT_TRUE(ra.ok()) << ra.status();
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(ra->get()), X509_get0_notAfter(ca->get())), 0);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notBefore(ra->get()), X509_get0_notBefore(ca->get())),
            0);
  EXPECT_EQ(X509_verify(ra->get(), ca_key.get()), 1);

  // Within the CA's validity both stay as asked.
  absl::StatusOr<crypto::X509Ptr> inner = IssueCertificate(
      {CertificateRole::kRa, "CN=RA", 1, ra_key.get()}, ca->get(), ca_key.get(), EVP_sha256());
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_LT(ASN1_TIME_compare(X509_get0_notAfter(inner->get()), X509_get0_notAfter(ca->get())),
            0);
}

TEST(KeySpecTest, ParsesSupportedTypes) {
  EXPECT_EQ(KeySpec::Parse("rsa:2048")->Name(), "RSA-2048");
  EXPECT_EQ(KeySpec::Parse("RSA:4096")->Name(), "RSA-4096");
  EXPECT_EQ(KeySpec::Parse("ec:p256")->Name(), "EC-P256");
  EXPECT_EQ(KeySpec::Parse("ec:p384")->Name(), "EC-P384");
  EXPECT_EQ(KeySpec::Parse("ec:p384")->SignatureDigest(), EVP_sha384());
  EXPECT_EQ(KeySpec::Parse("rsa:3072")->SignatureDigest(), EVP_sha256());
  for (const char* bad : {"rsa:1024", "rsa", "ec:p521", "dsa:2048", ""}) {
    EXPECT_TRUE(absl::IsInvalidArgument(KeySpec::Parse(bad).status())) << bad;
  }
}

}  // namespace
}  // namespace scep::pkcs11
