// Keys a reused token already holds, put there by another tool: the
// provisioner takes a key only when it can never have left the token, and
// only one per label. The rest: provisioner_test.cc.

#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include "common/pkcs11/module.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/provisioner_test_fixture.h"
#include "common/pkcs11/session.h"
#include "gtest/gtest.h"

namespace scep::pkcs11 {
namespace {

using testing::kPin;
using testing::ProvisionerTest;

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

}  // namespace
}  // namespace scep::pkcs11
