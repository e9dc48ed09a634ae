// The RA key in a SoftHSMv2 token, decrypting request envelopes through
// SignerCore: RSAES-OAEP key transport runs as CKM_RSA_PKCS_OAEP in the
// token, so a key whose CKA_ALLOWED_MECHANISMS forbid raw RSA (FIPS
// partitions) still decrypts OAEP requests.

#include <openssl/cms.h>
#include <openssl/rsa.h>

#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/codec/envelope.h"
#include "common/crypto/der.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/session.h"
#include "common/pkcs11/softhsm_sandbox.h"
#include "common/pkcs11/token.h"
#include "common/metrics/counter_sum.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "services/signer/key_access.h"
#include "services/signer/signer_core.h"
#include "services/signer/signer_metrics.h"
#include "services/signer/timed_key_access.h"

namespace scep::signer {
namespace {

constexpr char kPin[] = "246810";
constexpr char kToken[] = "scep-oaep";
constexpr char kRestrictedLabel[] = "scep-ra-fips";
constexpr char kContent[] = "csr";  // one AES block once padded

// An RSA-2048 RA key pair as `pkcs11-tool --allowed-mechanisms
// RSA-PKCS,RSA-PKCS-OAEP` makes it: no raw RSA (CKM_RSA_X_509).
void AddRestrictedKeyPair(const std::string& label) {
  absl::StatusOr<std::unique_ptr<pkcs11::Module>> module =
      pkcs11::Module::Load(SCEP_SOFTHSM2_MODULE);
  ASSERT_TRUE(module.ok() && (*module)->Initialize().ok());
  absl::StatusOr<std::optional<CK_SLOT_ID>> slot = (*module)->FindToken(kToken);
  ASSERT_TRUE(slot.ok() && slot->has_value());
  absl::StatusOr<pkcs11::Session> session =
      pkcs11::Session::Open(**module, **slot, /*read_write=*/true);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE(session->Login(CKU_USER, kPin, kToken).ok());
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ULONG bits = 2048;
  CK_BYTE exponent[] = {1, 0, 1};
  std::string label_copy = label;
  std::string id = "fips-ra";
  CK_MECHANISM_TYPE allowed[] = {CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP};
  CK_ATTRIBUTE pub[] = {
      {CKA_TOKEN, &yes, 1},          {CKA_LABEL, label_copy.data(), label_copy.size()},
      {CKA_ID, id.data(), id.size()}, {CKA_MODULUS_BITS, &bits, sizeof(bits)},
      {CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)},
      {CKA_VERIFY, &yes, 1},         {CKA_ENCRYPT, &yes, 1},
  };
  CK_ATTRIBUTE priv[] = {
      {CKA_TOKEN, &yes, 1},        {CKA_LABEL, label_copy.data(), label_copy.size()},
      {CKA_ID, id.data(), id.size()}, {CKA_PRIVATE, &yes, 1},
      {CKA_SENSITIVE, &yes, 1},    {CKA_EXTRACTABLE, &no, 1},
      {CKA_SIGN, &yes, 1},         {CKA_DECRYPT, &yes, 1},
      {CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)},
  };
  CK_MECHANISM mechanism = {CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE pub_handle = CK_INVALID_HANDLE, priv_handle = CK_INVALID_HANDLE;
  ASSERT_EQ(session->functions()->C_GenerateKeyPair(session->handle(), &mechanism, pub,
                                                    std::size(pub), priv, std::size(priv),
                                                    &pub_handle, &priv_handle),
            static_cast<CK_RV>(CKR_OK));
}

// EnvelopedData of kContent to `ra` with RSAES-OAEP key transport, `md`
// for both the OAEP hash and MGF1 (clients send SHA-1 or SHA-256).
std::string OaepEnvelope(X509* ra, const EVP_MD* md) {
  crypto::CmsPtr cms(CMS_encrypt_ex(nullptr, nullptr, EVP_aes_128_cbc(),
                                    CMS_BINARY | CMS_PARTIAL, nullptr, nullptr));
  CMS_RecipientInfo* ri = CMS_add1_recipient_cert(cms.get(), ra, CMS_KEY_PARAM);
  EVP_PKEY_CTX* pctx = ri != nullptr ? CMS_RecipientInfo_get0_pkey_ctx(ri) : nullptr;
  crypto::BioPtr in(BIO_new_mem_buf(kContent, sizeof(kContent) - 1));
  if (pctx == nullptr || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0 ||
      CMS_final(cms.get(), in.get(), nullptr, CMS_BINARY) != 1) {
    ADD_FAILURE() << "CMS_encrypt with RSAES-OAEP";
    return "";
  }
  return crypto::ToDer(cms.get(), i2d_CMS_ContentInfo).value_or("");
}

// `der` with one bit flipped `offset` bytes after the start of `marker`.
std::string Flip(std::string der, const std::string& marker, size_t offset) {
  const size_t at = der.find(marker);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos) der[at + offset] ^= 0x01;
  return der;
}

// In the RSA-2048 encryptedKey OCTET STRING.
std::string TamperKey(const std::string& der) {
  return Flip(der, std::string("\x04\x82\x01\x00", 4), 4 + 100);
}

// In the last byte of the AES-CBC IV: the padding of the one block
// decrypts as 0x0c where it is 0x0d, which every CBC check refuses.
std::string TamperContent(const std::string& der) {
  const std::string aes128_iv("\x60\x86\x48\x01\x65\x03\x04\x01\x02\x04\x10", 11);
  return Flip(der, aes128_iv, aes128_iv.size() + 15);
}

double Count(const prometheus::Registry& registry, const std::string& mechanism,
             const std::string& result) {
  return metrics::SampleSum(registry, "scep_signer_pkcs11_operations_total",
                             {{"key", "ra"}, {"mechanism", mechanism}, {"result", result}});
}

class TokenRaOaepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<pkcs11::SoftHsmSandbox>> sandbox =
        pkcs11::SoftHsmSandbox::New();
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    options_.module_path = SCEP_SOFTHSM2_MODULE;
    options_.token_label = kToken;
    options_.user_pin = kPin;
    options_.so_pin = "13579";
  }

  // A signer core whose RA key is `ra_label` of the token, certified as
  // `scep-provision --if-missing` certifies a key it finds there.
  void OpenCore(const std::string& ra_label) {
    options_.reuse_existing_token = true;
    options_.ra_key_label = ra_label;
    absl::StatusOr<pkcs11::ProvisionResult> provisioned = pkcs11::Provision(options_);
    ASSERT_TRUE(provisioned.ok()) << provisioned.status();
    absl::StatusOr<std::unique_ptr<pkcs11::Token>> token =
        pkcs11::Token::Open({SCEP_SOFTHSM2_MODULE, kToken, kPin, {}});
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = *std::move(token);
    X509_up_ref(provisioned->certificates.ra.get());
    ra_cert_.reset(provisioned->certificates.ra.get());
    absl::StatusOr<std::unique_ptr<SignerCore>> core = SignerCore::New(
        SignerOptions{}, NewTokenKey(token_.get(), pkcs11::kCaKeyLabel),
        std::move(provisioned->certificates.ca),
        NewTimedKeyAccess(NewTokenKey(token_.get(), ra_label), "ra", &metrics_),
        std::move(provisioned->certificates.ra));
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
  }

  absl::StatusOr<std::string> Decrypt(const std::string& envelope) {
    ScopedKeyMechanism mechanism(KeyTransportMechanism(envelope));
    return core_->Decrypt(envelope);
  }

  std::unique_ptr<pkcs11::SoftHsmSandbox> sandbox_;
  pkcs11::ProvisionOptions options_;
  prometheus::Registry registry_;
  SignerMetrics metrics_{registry_};
  std::unique_ptr<pkcs11::Token> token_;
  crypto::X509Ptr ra_cert_;
  std::unique_ptr<SignerCore> core_;
};

TEST_F(TokenRaOaepTest, KeyWithoutRawRsaDecryptsOaepInTheToken) {
  ASSERT_TRUE(pkcs11::Provision(options_).ok());
  ASSERT_NO_FATAL_FAILURE(AddRestrictedKeyPair(kRestrictedLabel));
  ASSERT_NO_FATAL_FAILURE(OpenCore(kRestrictedLabel));

  absl::StatusOr<std::string> pkcs1 =
      codec::Envelope(kContent, ra_cert_.get(), "aes-128-cbc");
  ASSERT_TRUE(pkcs1.ok()) << pkcs1.status();
  EXPECT_EQ(Decrypt(*pkcs1).value_or("failed"), kContent);
  const std::string oaep = OaepEnvelope(ra_cert_.get(), EVP_sha1());
  absl::StatusOr<std::string> plain = Decrypt(oaep);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, kContent);
  EXPECT_EQ(Count(registry_, "rsa-oaep", "ok"), 1);

  // A key transport blob the token rejects reads as a content that does not
  // decrypt: the same InvalidArgument (badMessageCheck), never Unavailable.
  absl::StatusOr<std::string> bad_key = Decrypt(TamperKey(oaep));
  absl::StatusOr<std::string> bad_content = Decrypt(TamperContent(oaep));
  ASSERT_TRUE(absl::IsInvalidArgument(bad_key.status())) << bad_key.status();
  ASSERT_TRUE(absl::IsInvalidArgument(bad_content.status())) << bad_content.status();
  EXPECT_EQ(bad_key.status().message(), bad_content.status().message());
  EXPECT_TRUE(absl::IsInvalidArgument(Decrypt(TamperKey(*pkcs1)).status()));

  // SoftHSMv2 2.6 runs OAEP with SHA-1 only and this key forbids raw RSA:
  // refused as before, as a message the RA cannot decrypt.
  absl::StatusOr<std::string> sha256 = Decrypt(OaepEnvelope(ra_cert_.get(), EVP_sha256()));
  EXPECT_TRUE(absl::IsInvalidArgument(sha256.status())) << sha256.status();
  EXPECT_EQ(Count(registry_, "rsa-x509", "error"), 1);
}

TEST_F(TokenRaOaepTest, DefaultKeyDecryptsPkcs1AndOaep) {
  ASSERT_NO_FATAL_FAILURE(OpenCore(pkcs11::kRaKeyLabel));
  absl::StatusOr<std::string> pkcs1 =
      codec::Envelope(kContent, ra_cert_.get(), "aes-256-cbc");
  ASSERT_TRUE(pkcs1.ok()) << pkcs1.status();
  EXPECT_EQ(Decrypt(*pkcs1).value_or("failed"), kContent);
  EXPECT_EQ(Count(registry_, "rsa-pkcs1", "ok"), 1);

  const std::string oaep = OaepEnvelope(ra_cert_.get(), EVP_sha1());
  EXPECT_EQ(Decrypt(oaep).value_or("failed"), kContent);
  EXPECT_EQ(Count(registry_, "rsa-oaep", "ok"), 1);
  // The token refuses OAEP with SHA-256 (SoftHSMv2 2.6); this key allows
  // raw RSA, which then runs, and is counted as such.
  EXPECT_EQ(Decrypt(OaepEnvelope(ra_cert_.get(), EVP_sha256())).value_or("failed"), kContent);
  EXPECT_EQ(Count(registry_, "rsa-oaep", "error"), 1);
  EXPECT_EQ(Count(registry_, "rsa-x509", "ok"), 1);

  absl::StatusOr<std::string> bad_key = Decrypt(TamperKey(oaep));
  absl::StatusOr<std::string> bad_content = Decrypt(TamperContent(oaep));
  ASSERT_TRUE(absl::IsInvalidArgument(bad_key.status())) << bad_key.status();
  EXPECT_EQ(bad_key.status().message(), bad_content.status().message());
}

}  // namespace
}  // namespace scep::signer
