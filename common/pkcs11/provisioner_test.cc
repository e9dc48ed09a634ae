#include "common/pkcs11/provisioner.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include "common/crypto/pem.h"
#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/session.h"
#include "common/crypto/distinguished_name.h"
#include "common/pkcs11/softhsm_sandbox.h"
#include "gtest/gtest.h"

namespace scep::pkcs11 {
namespace {

constexpr char kPin[] = "246810";
constexpr char kSoPin[] = "13579";

bool IsCritical(const X509* cert, int nid) {
  int index = X509_get_ext_by_NID(cert, nid, -1);
  return index >= 0 &&
         X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

// Whole days from now until `time` (negative when in the past).
int DaysFromNow(const ASN1_TIME* time) {
  int days = 0;
  int seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, time);
  return days;
}

class ProvisionerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SoftHsmSandbox>> sandbox =
        SoftHsmSandbox::New();
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    options_.module_path = SCEP_SOFTHSM2_MODULE;
    options_.token_label = "scep-dev";
    options_.user_pin = kPin;
    options_.so_pin = kSoPin;
    options_.ca_subject = "CN=SCEP Dev CA,O=Example";
    options_.ra_subject = "CN=SCEP Dev RA,O=Example";
  }

  TokenConfig Config() const {
    return {options_.module_path, options_.token_label, options_.user_pin, {}};
  }

  // CKA_DECRYPT of the private key `label`, or of its public half's
  // CKA_ENCRYPT when `public_half`, read with raw Cryptoki.
  bool Allows(const std::string& label, bool public_half) {
    absl::StatusOr<std::unique_ptr<Module>> module = Module::Load(options_.module_path);
    EXPECT_TRUE(module.ok() && (*module)->Initialize().ok());
    if (!module.ok()) return true;
    absl::StatusOr<std::optional<CK_SLOT_ID>> slot = (*module)->FindToken(options_.token_label);
    EXPECT_TRUE(slot.ok() && slot->has_value());
    absl::StatusOr<Session> session = Session::Open(**module, **slot, /*read_write=*/false);
    EXPECT_TRUE(session.ok() &&
                session->Login(CKU_USER, options_.user_pin, options_.token_label).ok());
    absl::StatusOr<std::optional<CK_OBJECT_HANDLE>> key =
        session->FindObject(public_half ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY, label);
    EXPECT_TRUE(key.ok() && key->has_value()) << label;
    absl::StatusOr<bool> allowed =
        session->GetBool(**key, public_half ? CKA_ENCRYPT : CKA_DECRYPT);
    EXPECT_TRUE(allowed.ok()) << allowed.status();
    return allowed.value_or(true);
  }

  std::unique_ptr<SoftHsmSandbox> sandbox_;
  ProvisionOptions options_;
};

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

// Adds an RSA-2048 key pair labelled `label` (CKA_ID `id`) to token
// `token_label` with raw Cryptoki, as another tool would: `sensitive` and
// `extractable` as given.
void AddKeyPair(const std::string& token_label, const std::string& label, const std::string& id,
                bool sensitive, bool extractable) {
  absl::StatusOr<std::unique_ptr<Module>> module = Module::Load(SCEP_SOFTHSM2_MODULE);
  ASSERT_TRUE(module.ok()) << module.status();
  ASSERT_TRUE((*module)->Initialize().ok());
  absl::StatusOr<std::optional<CK_SLOT_ID>> slot = (*module)->FindToken(token_label);
  ASSERT_TRUE(slot.ok() && slot->has_value());
  absl::StatusOr<Session> session = Session::Open(**module, **slot, /*read_write=*/true);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE(session->Login(CKU_USER, kPin, token_label).ok());
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL sens = sensitive ? CK_TRUE : CK_FALSE;
  CK_BBOOL extr = extractable ? CK_TRUE : CK_FALSE;
  CK_ULONG bits = 2048;
  CK_BYTE exponent[] = {1, 0, 1};
  std::string label_copy = label;
  std::string id_copy = id;
  CK_ATTRIBUTE pub[] = {
      {CKA_TOKEN, &yes, 1},
      {CKA_LABEL, label_copy.data(), label_copy.size()},
      {CKA_ID, id_copy.data(), id_copy.size()},
      {CKA_MODULUS_BITS, &bits, sizeof(bits)},
      {CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)},
      {CKA_VERIFY, &yes, 1},
      {CKA_ENCRYPT, &yes, 1},
  };
  CK_ATTRIBUTE priv[] = {
      {CKA_TOKEN, &yes, 1},
      {CKA_LABEL, label_copy.data(), label_copy.size()},
      {CKA_ID, id_copy.data(), id_copy.size()},
      {CKA_PRIVATE, &yes, 1},
      {CKA_SENSITIVE, &sens, 1},
      {CKA_EXTRACTABLE, &extr, 1},
      {CKA_SIGN, &yes, 1},
      {CKA_DECRYPT, &yes, 1},
  };
  CK_MECHANISM mechanism = {CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE pub_handle = CK_INVALID_HANDLE, priv_handle = CK_INVALID_HANDLE;
  ASSERT_EQ(session->functions()->C_GenerateKeyPair(
                session->handle(), &mechanism, pub, std::size(pub), priv, std::size(priv),
                &pub_handle, &priv_handle),
            static_cast<CK_RV>(CKR_OK));
  if (!sensitive) {
    // Made sensitive and non-extractable afterwards: its value was readable
    // before, which CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE tell.
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE later[] = {{CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1}};
    ASSERT_EQ(session->functions()->C_SetAttributeValue(session->handle(), priv_handle, later,
                                                        std::size(later)),
              static_cast<CK_RV>(CKR_OK));
  }
}

TEST_F(ProvisionerTest, ReuseRefusesKeysThatMayExistOutsideTheToken) {
  ASSERT_TRUE(Provision(options_).ok());
  options_.reuse_existing_token = true;
  AddKeyPair(options_.token_label, "scep-ca-exposed", "exposed", /*sensitive=*/false,
             /*extractable=*/true);
  options_.ca_key_label = "scep-ca-exposed";
  options_.ra_key_label = "scep-ra-exposed";
  absl::StatusOr<ProvisionResult> result = Provision(options_);
  ASSERT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
  EXPECT_NE(result.status().message().find("'scep-ca-exposed'"), std::string::npos)
      << result.status();
  EXPECT_NE(result.status().message().find("CKA_ALWAYS_SENSITIVE"), std::string::npos)
      << result.status();
  // Refused before the RA key of that CA was generated.
  EXPECT_TRUE(absl::IsNotFound(InspectPrivateKey(Config(), "scep-ra-exposed").status()));

  AddKeyPair(options_.token_label, "scep-ca-plain", "plain", /*sensitive=*/true,
             /*extractable=*/true);
  options_.ca_key_label = "scep-ca-plain";
  result = Provision(options_);
  ASSERT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
  EXPECT_NE(result.status().message().find("CKA_EXTRACTABLE is true"), std::string::npos)
      << result.status();
}

TEST_F(ProvisionerTest, TwoPrivateKeysUnderOneLabelAreRefused) {
  absl::StatusOr<ProvisionResult> first = Provision(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  AddKeyPair(options_.token_label, kRaKeyLabel, "second-ra", /*sensitive=*/true,
             /*extractable=*/false);
  options_.reuse_existing_token = true;
  absl::StatusOr<ProvisionResult> again = Provision(options_);
  ASSERT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();
  EXPECT_NE(again.status().message().find("2 private keys are labelled 'scep-ra'"),
            std::string::npos)
      << again.status();
  absl::StatusOr<crypto::X509Ptr> renewed =
      RenewRaCertificate(options_, first->certificates.ca.get());
  EXPECT_TRUE(absl::IsFailedPrecondition(renewed.status())) << renewed.status();

  // The signer's view: the label is not served, whichever key comes first.
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(Config());
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<crypto::EvpPkeyPtr> public_key = (*token)->PublicKey(kRaKeyLabel);
  EXPECT_TRUE(absl::IsFailedPrecondition(public_key.status())) << public_key.status();
  absl::Status used = (*token)->WithPrivateKey(
      kRaKeyLabel, [](EVP_PKEY*) { return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsFailedPrecondition(used)) << used;
  EXPECT_TRUE((*token)->WithPrivateKey(kCaKeyLabel, [](EVP_PKEY*) {
    return absl::OkStatus();
  }).ok());
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
