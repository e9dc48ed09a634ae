// SignerCore after a CA rollover: CRLs and OCSP answers for the
// certificates a previous CA issued, signed with that CA's key, which
// relying parties holding only the previous CA certificate accept; and
// the "{key}" placeholder of publication URIs.

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/test_pki.h"
#include "gtest/gtest.h"
#include "services/signer/signer_core.h"
#include "services/signer/signer_core_test_fixture.h"

namespace scep::signer::testing {
namespace {

using crypto::testing::Identity;
using OcspResponsePtr = crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;
using OcspCertIdPtr = crypto::SslPtr<OCSP_CERTID, OCSP_CERTID_free>;
using X509StoreCtxPtr = crypto::SslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;

// The CA before the rollover, with one certificate it issued.
struct OldPki {
  Identity ca = crypto::testing::Issue(
      "SCEP Old CA", nullptr,
      {{NID_basic_constraints, "critical,CA:TRUE"},
       {NID_key_usage, "critical,keyCertSign,cRLSign"},
       {NID_subject_key_identifier, "hash"}});
  Identity device = crypto::testing::Issue(
      "old-device", &ca, {{NID_authority_key_identifier, "keyid:always"}});
};

std::unique_ptr<SignerCore> CoreAfterRollover(X509* old_ca) {
  SignerOptions options;
  options.previous_ca_certificates.emplace_back(X509_dup(old_ca));
  return SignerCore::New(std::move(options), Key("ca.key"), Cert("ca.pem"), Key("ra.key"),
                         Cert("ra.pem"))
      .value();
}

std::string SerialBytes(X509* cert) {
  crypto::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  std::string out(static_cast<size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::unique_ptr<KeyAccess> KeyOf(EVP_PKEY* key) {
  EVP_PKEY_up_ref(key);
  return NewSoftwareKey(crypto::EvpPkeyPtr(key));
}

// What `openssl verify -crl_check` decides for `leaf` with only `ca`
// trusted and `crl` as its CRL.
int VerifyWithCrl(X509* ca, X509* leaf, X509_CRL* crl) {
  crypto::X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  X509_STORE_add_crl(store.get(), crl);
  X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_verify_cert(ctx.get());
  return X509_STORE_CTX_get_error(ctx.get());
}

TEST(SignerPreviousCaTest, CrlOfThePreviousCaIsSignedWithItsKey) {
  OldPki old;
  std::unique_ptr<SignerCore> core = CoreAfterRollover(old.ca.cert.get());
  const std::string old_sha = crypto::CertificateSha256(old.ca.cert.get());
  CrlParams params;
  params.number = 7;
  params.this_update = absl::Now() - absl::Minutes(5);
  params.next_update = absl::Now() + absl::Hours(1);
  // Without its key the previous CA signs nothing, and nothing is signed
  // for a CA certificate the signer does not know.
  EXPECT_EQ(core->SignCrl(params, "", old_sha).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(core->SignCrl(params, "", std::string(32, 'x')).status().code(),
            absl::StatusCode::kNotFound);
  // A key that is not the certificate's is refused.
  EXPECT_EQ(core->AcceptPreviousCaKey(old_sha, Key("ca.key")).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(core->AcceptPreviousCaKey(old_sha, KeyOf(old.ca.key.get())).ok());

  absl::StatusOr<std::string> before = core->SignCrl(params, "", old_sha);
  ASSERT_TRUE(before.ok()) << before.status();
  crypto::X509CrlPtr crl =
      crypto::FromDer<crypto::X509CrlPtr>(*before, d2i_X509_CRL, "CRL").value();
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()),
                          X509_get_subject_name(old.ca.cert.get())),
            0);
  crypto::SslPtr<AUTHORITY_KEYID, AUTHORITY_KEYID_free> aki(static_cast<AUTHORITY_KEYID*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_authority_key_identifier, nullptr, nullptr)));
  ASSERT_NE(aki, nullptr);
  ASSERT_NE(aki->keyid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(aki->keyid, X509_get0_subject_key_id(old.ca.cert.get())), 0);
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(old.ca.cert.get())), 1);
  EXPECT_EQ(VerifyWithCrl(old.ca.cert.get(), old.device.cert.get(), crl.get()), X509_V_OK);

  params.revoked.push_back({SerialBytes(old.device.cert.get()), absl::Now(), 1});
  params.number = 8;
  crypto::X509CrlPtr revoked = crypto::FromDer<crypto::X509CrlPtr>(
      core->SignCrl(params, "", old_sha).value(), d2i_X509_CRL, "CRL").value();
  EXPECT_EQ(VerifyWithCrl(old.ca.cert.get(), old.device.cert.get(), revoked.get()),
            X509_V_ERR_CERT_REVOKED);

  // The current CA's CRL is as before: "" and its own SHA-256 name it.
  for (const std::string& current : {std::string(),
                                     crypto::CertificateSha256(Cert("ca.pem").get())}) {
    crypto::X509CrlPtr ours = crypto::FromDer<crypto::X509CrlPtr>(
        core->SignCrl(params, "", current).value(), d2i_X509_CRL, "CRL").value();
    EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(ours.get()),
                            X509_get_subject_name(Cert("ca.pem").get())),
              0);
    EXPECT_EQ(X509_CRL_verify(ours.get(), X509_get0_pubkey(Cert("ca.pem").get())), 1);
  }
}

TEST(SignerPreviousCaTest, OcspAnswerOfThePreviousCaVerifiesUnderItAlone) {
  OldPki old;
  std::unique_ptr<SignerCore> core = CoreAfterRollover(old.ca.cert.get());
  const std::string old_sha = crypto::CertificateSha256(old.ca.cert.get());
  OcspParams params;
  params.cert_id_digest = "sha1";
  params.this_update = absl::Now();
  params.next_update = absl::Now() + absl::Hours(1);
  params.statuses.push_back({SerialBytes(old.device.cert.get()), OcspStatus::Kind::kRevoked,
                             absl::Now() - absl::Minutes(1), 1});
  EXPECT_EQ(core->SignOcsp(params, old_sha).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(core->AcceptPreviousCaKey(old_sha, KeyOf(old.ca.key.get())).ok());
  absl::StatusOr<std::string> der = core->SignOcsp(params, old_sha);
  ASSERT_TRUE(der.ok()) << der.status();

  OcspResponsePtr response =
      crypto::FromDer<OcspResponsePtr>(*der, d2i_OCSP_RESPONSE, "OCSPResponse").value();
  crypto::SslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free> basic(
      OCSP_response_get1_basic(response.get()));
  ASSERT_NE(basic, nullptr);
  // As `openssl ocsp -CAfile old-ca.pem` checks it: the signer is found
  // among the answer's certificates and chains to the previous CA only.
  crypto::X509StorePtr old_store(X509_STORE_new());
  X509_STORE_add_cert(old_store.get(), old.ca.cert.get());
  EXPECT_EQ(OCSP_basic_verify(basic.get(), nullptr, old_store.get(), 0), 1);
  crypto::X509StorePtr new_store(X509_STORE_new());
  X509_STORE_add_cert(new_store.get(), Cert("ca.pem").get());
  EXPECT_NE(OCSP_basic_verify(basic.get(), nullptr, new_store.get(), 0), 1);
  ERR_clear_error();
  OcspCertIdPtr id(OCSP_cert_to_id(EVP_sha1(), old.device.cert.get(), old.ca.cert.get()));
  int status = -1;
  ASSERT_EQ(OCSP_resp_find_status(basic.get(), id.get(), &status, nullptr, nullptr, nullptr,
                                  nullptr),
            1);
  EXPECT_EQ(status, V_OCSP_CERTSTATUS_REVOKED);
}

TEST(SignerPreviousCaTest, KeyPlaceholderNamesTheIssuingCaKey) {
  auto core = NewFixtureCore();
  std::string csr = StrongswanCsr(*core);
  SignerCore::Policy policy;
  policy.crl_distribution_points = {"http://pki.example.com/crl/default/{key}.crl"};
  policy.ca_issuers = {"http://pki.example.com/ca/default/{key}.crt"};
  crypto::X509Ptr cert = ParseCert(core->Issue(csr, policy).value());
  const std::string key_id = crypto::CaKeyId(Cert("ca.pem").get());
  ASSERT_FALSE(key_id.empty());
  // The key identifier relying parties see as the certificate's AKI.
  EXPECT_EQ(key_id, absl::BytesToHexString(absl::string_view(
                        reinterpret_cast<const char*>(
                            ASN1_STRING_get0_data(X509_get0_authority_key_id(cert.get()))),
                        ASN1_STRING_length(X509_get0_authority_key_id(cert.get())))));
  EXPECT_EQ(crypto::testing::FirstCrlDistributionPoint(cert.get()),
            "http://pki.example.com/crl/default/" + key_id + ".crl");
  EXPECT_EQ(crypto::testing::FirstAuthorityInfoAccess(cert.get()),
            "http://pki.example.com/ca/default/" + key_id + ".crt");
}

}  // namespace
}  // namespace scep::signer::testing
