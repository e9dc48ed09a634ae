// Where the RA key goes (issue 3's RA key placement): a key file, another
// token of the same module or of another module, and RA renewal with each.
// The CA and the token themselves: provisioner_test.cc.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "common/crypto/pem.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/provisioner_test_fixture.h"
#include "gtest/gtest.h"

namespace scep::pkcs11 {
namespace {

using testing::DaysFromNow;
using testing::ProvisionerTest;

TEST_F(ProvisionerTest, RaKeyFileKeepsTheRaKeyOutOfTheToken) {
  options_.ra_key_file = sandbox_->dir() + "/ra/ra-key.pem";
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->setup.ca_key_generated);
  EXPECT_TRUE(first->setup.ra_key_generated);
  struct stat st {};
  ASSERT_EQ(stat(options_.ra_key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(stat((options_.ra_key_file + ".tmp").c_str(), &st), 0);
  absl::StatusOr<crypto::EvpPkeyPtr> file_key =
      crypto::LoadPrivateKeyFile(options_.ra_key_file);
  ASSERT_TRUE(file_key.ok()) << file_key.status();
  EXPECT_EQ(EVP_PKEY_get_bits(file_key->get()), 2048);
  EXPECT_EQ(EVP_PKEY_eq(file_key->get(), X509_get0_pubkey(first->certificates.ra.get())), 1);
  EXPECT_EQ(X509_check_issued(first->certificates.ca.get(), first->certificates.ra.get()),
            X509_V_OK);
  // The token holds the CA key pair only.
  EXPECT_TRUE(absl::IsNotFound(InspectPrivateKey(Config(), kRaKeyLabel).status()));
  EXPECT_TRUE(InspectPrivateKey(Config(), kCaKeyLabel).ok());

  // Provisioning again keeps the file's key and certifies it again.
  options_.reuse_existing_token = true;
  absl::StatusOr<ProvisionResult> second = Provision(options_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->setup.ra_key_generated);
  EXPECT_EQ(EVP_PKEY_eq(file_key->get(), X509_get0_pubkey(second->certificates.ra.get())),
            1);
}

TEST_F(ProvisionerTest, RaKeyInAnotherTokenOfTheSameModule) {
  options_.ra_token_label = "scep-dev-ra";
  options_.ra_user_pin = "97531";
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->setup.token_created);
  EXPECT_TRUE(first->setup.ra_token_created);
  EXPECT_TRUE(first->setup.ra_key_generated);
  // The CA's token holds no RA key; the RA token no CA key.
  EXPECT_TRUE(absl::IsNotFound(InspectPrivateKey(Config(), kRaKeyLabel).status()));
  const TokenConfig ra_token{options_.module_path, "scep-dev-ra", "97531", {}};
  EXPECT_TRUE(absl::IsNotFound(InspectPrivateKey(ra_token, kCaKeyLabel).status()));
  absl::StatusOr<KeyAttributes> ra = InspectPrivateKey(ra_token, kRaKeyLabel);
  ASSERT_TRUE(ra.ok()) << ra.status();
  EXPECT_TRUE(ra->sensitive);
  EXPECT_FALSE(ra->extractable);
  // The RA certificate is for the RA token's key and issued by the CA.
  absl::StatusOr<std::unique_ptr<Token>> token =
      Token::Open(ProvisionedTokenConfig(options_));
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<crypto::EvpPkeyPtr> ra_public =
      (*token)->PublicKey("scep-dev-ra", kRaKeyLabel);
  ASSERT_TRUE(ra_public.ok()) << ra_public.status();
  EXPECT_EQ(EVP_PKEY_eq(ra_public->get(), X509_get0_pubkey(first->certificates.ra.get())), 1);
  EXPECT_EQ(X509_check_issued(first->certificates.ca.get(), first->certificates.ra.get()),
            X509_V_OK);
  token->reset();

  // Again, reusing both tokens: the keys are kept.
  options_.reuse_existing_token = true;
  absl::StatusOr<ProvisionResult> second = Provision(options_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->setup.ra_token_created);
  EXPECT_FALSE(second->setup.ra_key_generated);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(first->certificates.ra.get()),
                        X509_get0_pubkey(second->certificates.ra.get())),
            1);
}

// Another HSM, as far as the provisioner can tell: a copy of SoftHSMv2's
// library is loaded as a module of its own.
TEST_F(ProvisionerTest, RaKeyInATokenOfAnotherModule) {
  const std::string copy = sandbox_->dir() + "/libsofthsm2-other.so";
  std::filesystem::copy_file(SCEP_SOFTHSM2_MODULE, copy);
  options_.ra_token_label = "other-hsm-ra";
  options_.ra_module_path = copy;
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->setup.ra_key_generated);
  absl::StatusOr<std::unique_ptr<Token>> ra_token = Token::Open(RaModuleTokenConfig(options_));
  ASSERT_TRUE(ra_token.ok()) << ra_token.status();
  absl::StatusOr<crypto::EvpPkeyPtr> ra_public = (*ra_token)->PublicKey(kRaKeyLabel);
  ASSERT_TRUE(ra_public.ok()) << ra_public.status();
  EXPECT_EQ(EVP_PKEY_eq(ra_public->get(), X509_get0_pubkey(first->certificates.ra.get())), 1);
  EXPECT_TRUE(ProvisionedTokenConfig(options_).further_tokens.empty());

  absl::StatusOr<crypto::X509Ptr> renewed =
      RenewRaCertificate(options_, first->certificates.ca.get());
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(EVP_PKEY_eq(ra_public->get(), X509_get0_pubkey(renewed->get())), 1);

  ProvisionOptions same_label = options_;  // another HSM may use the same label
  same_label.ra_token_label = options_.token_label;
  EXPECT_TRUE(ValidateProvisionOptions(same_label).ok());
  ProvisionOptions no_label = options_;
  no_label.ra_token_label.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateProvisionOptions(no_label)));
}

TEST_F(ProvisionerTest, RaTokenOptionsAreChecked) {
  ProvisionOptions both = options_;
  both.ra_token_label = "scep-dev-ra";
  both.ra_key_file = sandbox_->dir() + "/ra-key.pem";
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateProvisionOptions(both)));
  ProvisionOptions same = options_;
  same.ra_token_label = options_.token_label;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateProvisionOptions(same)));
  ProvisionOptions long_label = options_;
  long_label.ra_token_label = std::string(33, 'r');
  EXPECT_FALSE(ValidateProvisionOptions(long_label).ok());
}

TEST_F(ProvisionerTest, RenewRaKeepsTheCaCertificateAndTheRaKey) {
  options_.ca_key = KeySpec::Ec(NID_secp384r1);
  options_.ca_validity_days = 100;
  options_.ra_validity_days = 30;
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  const X509* ca = first->certificates.ca.get();

  ProvisionOptions renew = options_;
  renew.so_pin.clear();
  renew.ca_key = KeySpec::Rsa(2048);  // ignored: the token's CA key decides
  renew.ra_validity_days = 365;       // capped at the CA's 100 days
  absl::StatusOr<crypto::X509Ptr> renewed = RenewRaCertificate(renew, ca);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  X509* ra = renewed->get();
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(ra), X509_get0_pubkey(first->certificates.ra.get())),
            1);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(ra),
                             X509_get0_serialNumber(first->certificates.ra.get())),
            0);
  EXPECT_EQ(X509_check_issued(const_cast<X509*>(ca), ra), X509_V_OK);
  EXPECT_EQ(X509_verify(ra, X509_get0_pubkey(ca)), 1);
  EXPECT_EQ(X509_get_signature_nid(ra), NID_ecdsa_with_SHA384);
  EXPECT_LE(X509_cmp_time(X509_get0_notAfter(ra), nullptr), 1);
  int days = 0, seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notAfter(ra), X509_get0_notAfter(ca)), 1);
  EXPECT_GE(days, 0) << "never past the CA";
  EXPECT_GE(DaysFromNow(X509_get0_notAfter(ra)), 98);

  // A CA certificate of another key is refused.
  ProvisionOptions other = options_;
  other.token_label = "other";
  absl::StatusOr<ProvisionResult> other_ca = Provision(other);
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  absl::StatusOr<crypto::X509Ptr> refused =
      RenewRaCertificate(renew, other_ca->certificates.ca.get());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
}

TEST_F(ProvisionerTest, RenewRaWithAKeyFileNeedsTheFile) {
  options_.ra_key_file = sandbox_->dir() + "/ra-key.pem";
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<crypto::X509Ptr> renewed =
      RenewRaCertificate(options_, first->certificates.ca.get());
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(renewed->get()),
                        X509_get0_pubkey(first->certificates.ra.get())),
            1);
  options_.ra_key_file += ".moved";
  renewed = RenewRaCertificate(options_, first->certificates.ca.get());
  EXPECT_TRUE(absl::IsFailedPrecondition(renewed.status())) << renewed.status();
}

TEST_F(ProvisionerTest, RaKeyFileMustHoldAnRsaKey) {
  options_.ra_key_file = sandbox_->dir() + "/ec-key.pem";
  crypto::EvpPkeyPtr ec(EVP_EC_gen("P-256"));
  ASSERT_NE(ec, nullptr);
  crypto::BioPtr bio(BIO_new_file(options_.ra_key_file.c_str(), "w"));
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), ec.get(), nullptr, nullptr, 0,
                                          nullptr, nullptr),
            1);
  bio.reset();
  absl::StatusOr<ProvisionResult> result = Provision(options_);
  EXPECT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
  EXPECT_NE(result.status().message().find("holds no RSA key"), std::string::npos);
}

}  // namespace
}  // namespace scep::pkcs11
