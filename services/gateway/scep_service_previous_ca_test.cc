// After a CA rollover, relying parties checking a certificate of the
// previous CA: OCSP answered by that CA, and its CRL at /crl/{ca}/{keyid}.crl
// (or /crl/{ca}.crl with crl_legacy_path_keys), each signed by its key and
// verifying under its certificate alone.
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "absl/strings/escaping.h"
#include "common/codec/identifiers.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/crypto/test_pki.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "gtest/gtest.h"
#include "services/gateway/in_process_signer.h"
#include "services/gateway/scep_service.h"

namespace scep::gateway {
namespace {

using crypto::testing::Identity;
using OcspRequestPtr = crypto::SslPtr<OCSP_REQUEST, OCSP_REQUEST_free>;
using OcspResponsePtr = crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;
using OcspBasicPtr = crypto::SslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free>;
using OcspCertIdPtr = crypto::SslPtr<OCSP_CERTID, OCSP_CERTID_free>;
using X509StoreCtxPtr = crypto::SslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;

Identity OldCa() {
  return crypto::testing::Issue("SCEP Old CA", nullptr,
                                {{NID_basic_constraints, "critical,CA:TRUE"},
                                 {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                 {NID_subject_key_identifier, "hash"}});
}

class PreviousCaTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(old_.key.get()); }

  // The service after a rollover away from old_, whose key the signer
  // holds unless `old_key` is null.
  void Start(EVP_PKEY* old_key) {
    service_.reset();
    signer_ = std::make_unique<testing::InProcessSigner>(old_.cert.get(), old_key);
    store_ = redis::MemoryEnrollmentStore::New();
    certs_ = std::make_unique<CaCertificates>();
    ASSERT_TRUE(certs_->Refresh(*signer_).ok());
    options_.profile.challenge = "s3cret-Challenge";
    service_ = std::make_unique<ScepService>(options_, signer_.get(), store_.get(), &index_,
                                             certs_.get());
  }

  std::string SerialHex(X509* cert) { return codec::SerialHex(X509_get0_serialNumber(cert)); }

  // Records `cert` in the index as the default CA's.
  void Record(X509* cert) {
    redis::CertificateRecord record;
    record.certificate = crypto::ToDer(cert, i2d_X509).value();
    ASSERT_TRUE(index_.Put(SerialHex(cert), record, absl::Hours(1)).ok());
  }

  HttpResponse Send(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.remote_address = "192.0.2.7:4000";
    return service_->Handle(r);
  }

  // A DER OCSPRequest for `cert` as issued by `issuer`.
  static std::string OcspRequest(X509* cert, X509* issuer) {
    OcspRequestPtr request(OCSP_REQUEST_new());
    OCSP_request_add0_id(request.get(), OCSP_cert_to_id(EVP_sha1(), cert, issuer));
    return crypto::ToDer(request.get(), i2d_OCSP_REQUEST).value();
  }

  // The status `openssl ocsp -CAfile issuer` reads for `cert` from answer
  // `r` (V_OCSP_CERTSTATUS_*), after checking the answer's signature
  // under `issuer` alone; -1 when it does not verify.
  static int OcspStatusUnder(const HttpResponse& r, X509* cert, X509* issuer) {
    auto parsed = crypto::FromDer<OcspResponsePtr>(r.body, d2i_OCSP_RESPONSE, "OCSP");
    if (!parsed.ok()) return -1;
    OcspBasicPtr basic(OCSP_response_get1_basic(parsed->get()));
    if (basic == nullptr) return -1;
    crypto::X509StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), issuer);
    if (OCSP_basic_verify(basic.get(), nullptr, store.get(), 0) != 1) {
      ERR_clear_error();
      return -1;
    }
    OcspCertIdPtr id(OCSP_cert_to_id(EVP_sha1(), cert, issuer));
    int status = -1;
    if (OCSP_resp_find_status(basic.get(), id.get(), &status, nullptr, nullptr, nullptr,
                              nullptr) != 1) {
      return -1;
    }
    return status;
  }

  static int OcspResponseStatus(const HttpResponse& r) {
    auto parsed = crypto::FromDer<OcspResponsePtr>(r.body, d2i_OCSP_RESPONSE, "OCSP");
    return parsed.ok() ? OCSP_response_status(parsed->get()) : -1;
  }

  // What `openssl verify -crl_check` says of `leaf` with only `ca` trusted
  // and the CRL body of `r`.
  static int VerifyWithCrl(const HttpResponse& r, X509* ca, X509* leaf) {
    const std::string& der = r.shared_body != nullptr ? *r.shared_body : r.body;
    auto crl = crypto::FromDer<crypto::X509CrlPtr>(der, d2i_X509_CRL, "CRL");
    if (!crl.ok()) return -1;
    crypto::X509StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca);
    X509_STORE_add_crl(store.get(), crl->get());
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
    X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
    X509_verify_cert(ctx.get());
    return X509_STORE_CTX_get_error(ctx.get());
  }

  static std::string Body(const HttpResponse& r) {
    return r.shared_body != nullptr ? *r.shared_body : r.body;
  }

  Identity old_ = OldCa();
  Identity device_ = crypto::testing::Issue("old-device", &old_,
                                            {{NID_authority_key_identifier, "keyid:always"}});
  crypto::X509Ptr ca_ = crypto::LoadCertificateFile(testing::Testdata("ca.pem")).value();
  const std::string old_key_id_ = crypto::CaKeyId(old_.cert.get());
  const std::string new_key_id_ = crypto::CaKeyId(ca_.get());
  std::unique_ptr<testing::InProcessSigner> signer_;
  std::unique_ptr<redis::MemoryEnrollmentStore> store_;
  redis::MemoryCertificateIndex index_;
  std::unique_ptr<CaCertificates> certs_;
  ScepServiceOptions options_;
  std::unique_ptr<ScepService> service_;
};

// Before: `unauthorized`, and strict relying parties refused every device
// not yet renewed.
TEST_F(PreviousCaTest, OcspCertIdOfThePreviousCaIsAnsweredByIt) {
  Record(device_.cert.get());
  HttpResponse good = Send("POST", "/ocsp", OcspRequest(device_.cert.get(), old_.cert.get()));
  ASSERT_EQ(good.status, 200);
  ASSERT_EQ(OcspResponseStatus(good), OCSP_RESPONSE_STATUS_SUCCESSFUL);
  EXPECT_EQ(OcspStatusUnder(good, device_.cert.get(), old_.cert.get()),
            V_OCSP_CERTSTATUS_GOOD);
  EXPECT_EQ(OcspStatusUnder(good, device_.cert.get(), ca_.get()), -1);  // not the new CA's

  ASSERT_TRUE(index_.Revoke(SerialHex(device_.cert.get()), 1, absl::Now()).ok());
  // A GET is answered from the reuse cache unless something was revoked.
  HttpResponse revoked = Send(
      "GET", "/ocsp/" + absl::Base64Escape(OcspRequest(device_.cert.get(), old_.cert.get())));
  ASSERT_EQ(revoked.status, 200);
  EXPECT_EQ(OcspStatusUnder(revoked, device_.cert.get(), old_.cert.get()),
            V_OCSP_CERTSTATUS_REVOKED);

  // The same serial asked of the new CA is not one it issued: each CA
  // answers for its own certificates, and caches its own answers.
  OcspRequestPtr to_new(OCSP_REQUEST_new());
  OCSP_request_add0_id(to_new.get(),
                       OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca_.get()),
                                        X509_get0_pubkey_bitstr(ca_.get()),
                                        X509_get0_serialNumber(device_.cert.get())));
  HttpResponse unknown = Send(
      "GET", "/ocsp/" + absl::Base64Escape(crypto::ToDer(to_new.get(), i2d_OCSP_REQUEST).value()));
  ASSERT_EQ(unknown.status, 200);
  auto parsed = crypto::FromDer<OcspResponsePtr>(unknown.body, d2i_OCSP_RESPONSE, "OCSP").value();
  OcspBasicPtr basic(OCSP_response_get1_basic(parsed.get()));
  crypto::X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca_.get());
  ASSERT_EQ(OCSP_basic_verify(basic.get(), nullptr, store.get(), 0), 1);
  OcspCertIdPtr id(OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca_.get()),
                                    X509_get0_pubkey_bitstr(ca_.get()),
                                    X509_get0_serialNumber(device_.cert.get())));
  int status = -1;
  ASSERT_EQ(OCSP_resp_find_status(basic.get(), id.get(), &status, nullptr, nullptr, nullptr,
                                  nullptr),
            1);
  EXPECT_EQ(status, V_OCSP_CERTSTATUS_UNKNOWN);

  // A CA neither current nor previous is still not ours.
  Identity stranger = OldCa();
  HttpResponse other = Send("POST", "/ocsp", OcspRequest(device_.cert.get(), stranger.cert.get()));
  EXPECT_EQ(OcspResponseStatus(other), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
}

// A signer without the previous key, or one from before the CA selector
// (it signs with the current key), gets no answer under the wrong name out.
TEST_F(PreviousCaTest, NoAnswerUnderTheWrongKey) {
  Record(device_.cert.get());
  signer_->ignores_ca_selector = true;
  HttpResponse old_signer =
      Send("POST", "/ocsp", OcspRequest(device_.cert.get(), old_.cert.get()));
  EXPECT_EQ(old_signer.status, 500);
  EXPECT_EQ(OcspResponseStatus(old_signer), OCSP_RESPONSE_STATUS_INTERNALERROR);
  EXPECT_EQ(Send("GET", "/crl/default/" + old_key_id_ + ".crl").status, 500);
  // Nothing signed under the wrong key stayed cached.
  signer_->ignores_ca_selector = false;
  HttpResponse crl = Send("GET", "/crl/default/" + old_key_id_ + ".crl");
  ASSERT_EQ(crl.status, 200);
  EXPECT_EQ(VerifyWithCrl(crl, old_.cert.get(), device_.cert.get()), X509_V_OK);

  Start(nullptr);  // ca-previous.pem without its key in the token
  EXPECT_EQ(Send("GET", "/crl/default/" + old_key_id_ + ".crl").status, 500);
  EXPECT_EQ(OcspResponseStatus(
                Send("POST", "/ocsp", OcspRequest(device_.cert.get(), old_.cert.get()))),
            OCSP_RESPONSE_STATUS_INTERNALERROR);
}

// Before: /crl/{ca}.crl was the new CA's only, so a relying party
// following an old certificate's CDP found no CRL of its issuer.
TEST_F(PreviousCaTest, EveryCaKeyHasItsCrlAndCertificate) {
  Record(device_.cert.get());
  HttpResponse old_crl = Send("GET", "/crl/default/" + old_key_id_ + ".crl");
  ASSERT_EQ(old_crl.status, 200) << old_crl.body;
  EXPECT_EQ(old_crl.content_type, "application/pkix-crl");
  EXPECT_EQ(VerifyWithCrl(old_crl, old_.cert.get(), device_.cert.get()), X509_V_OK);
  ASSERT_TRUE(index_.Revoke(SerialHex(device_.cert.get()), 1, absl::Now()).ok());
  HttpResponse after = Send("GET", "/crl/default/" + old_key_id_ + ".crl");
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(VerifyWithCrl(after, old_.cert.get(), device_.cert.get()), X509_V_ERR_CERT_REVOKED);

  // The current key's URL is /crl/default.crl's CRL, the new CA's.
  HttpResponse current = Send("GET", "/crl/default/" + new_key_id_ + ".crl");
  ASSERT_EQ(current.status, 200);
  EXPECT_EQ(Body(current), Body(Send("GET", "/crl/default.crl")));
  auto crl = crypto::FromDer<crypto::X509CrlPtr>(Body(current), d2i_X509_CRL, "CRL").value();
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca_.get())), 1);
  EXPECT_EQ(Send("HEAD", "/crl/default/" + old_key_id_ + ".crl").status, 200);

  EXPECT_EQ(Send("GET", "/crl/default/00ff.crl").status, 404);
  EXPECT_EQ(Send("GET", "/crl/default/" + std::string("XYZ") + ".crl").status, 404);
  EXPECT_EQ(Send("GET", "/crl/wifi/" + old_key_id_ + ".crl").status, 404);
  EXPECT_EQ(Send("POST", "/crl/default/" + old_key_id_ + ".crl").status, 405);

  HttpResponse old_cert = Send("GET", "/ca/default/" + old_key_id_ + ".crt");
  ASSERT_EQ(old_cert.status, 200);
  EXPECT_EQ(old_cert.body, crypto::ToDer(old_.cert.get(), i2d_X509).value());
  HttpResponse new_cert = Send("GET", "/ca/default/" + new_key_id_ + ".crt");
  ASSERT_EQ(new_cert.status, 200);
  EXPECT_EQ(new_cert.body, Send("GET", "/ca/default.crt").body);
  EXPECT_EQ(Send("GET", "/ca/default/00ff.crt").status, 404);
}

// Certificates issued before the switch carry /crl/{ca}.crl: with the old
// key named in crl_legacy_path_keys that URL serves the old CA's CRL.
TEST_F(PreviousCaTest, LegacyPathServesTheNamedPreviousKey) {
  Record(device_.cert.get());
  ASSERT_TRUE(index_.Revoke(SerialHex(device_.cert.get()), 1, absl::Now()).ok());
  HttpResponse plain = Send("GET", "/crl/default.crl");
  ASSERT_EQ(plain.status, 200);
  EXPECT_NE(VerifyWithCrl(plain, old_.cert.get(), device_.cert.get()), X509_V_ERR_CERT_REVOKED);

  options_.crl_legacy_path_keys = {old_key_id_};
  Start(old_.key.get());
  HttpResponse legacy = Send("GET", "/crl/default.crl");
  ASSERT_EQ(legacy.status, 200);
  EXPECT_EQ(VerifyWithCrl(legacy, old_.cert.get(), device_.cert.get()), X509_V_ERR_CERT_REVOKED);
  // The current key stays at its own URL.
  auto crl = crypto::FromDer<crypto::X509CrlPtr>(
                 Body(Send("GET", "/crl/default/" + new_key_id_ + ".crl")), d2i_X509_CRL, "CRL")
                 .value();
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca_.get())), 1);

  // Set before the switch (the key is still the current one): the current CRL.
  options_.crl_legacy_path_keys = {new_key_id_};
  Start(old_.key.get());
  auto current = crypto::FromDer<crypto::X509CrlPtr>(Body(Send("GET", "/crl/default.crl")),
                                                     d2i_X509_CRL, "CRL")
                     .value();
  EXPECT_EQ(X509_CRL_verify(current.get(), X509_get0_pubkey(ca_.get())), 1);
}

}  // namespace
}  // namespace scep::gateway
