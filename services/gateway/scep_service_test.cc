#include "services/gateway/scep_service.h"

#include <openssl/provider.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "common/codec/client.h"
#include "common/codec/envelope.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "gtest/gtest.h"
#include "services/gateway/in_process_signer.h"

namespace scep::gateway {
namespace {

using testing::InProcessSigner;
using testing::Testdata;

std::string ReadFile(const std::string& name) { return testing::ReadTestdata(name); }

// A device: key, transient self-signed certificate, and its requests.
struct Device {
  crypto::EvpPkeyPtr key;
  crypto::X509Ptr cert;
  std::string csr;
};

class ScepServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = redis::MemoryEnrollmentStore::New();
    ASSERT_TRUE(certs_.Refresh(signer_).ok());
    ra_ = crypto::LoadCertificateFile(Testdata("ra.pem")).value();
    ca_ = crypto::LoadCertificateFile(Testdata("ca.pem")).value();
    options_.profile.challenge = "s3cret-Challenge";
    options_.pki.pending_wait = absl::Milliseconds(100);
    service_ = std::make_unique<ScepService>(options_, &signer_, store_.get(), &index_, &certs_);
  }

  void Reconfigure() {
    service_ = std::make_unique<ScepService>(options_, &signer_, store_.get(), &index_, &certs_);
  }

  Device NewDevice(const std::string& challenge, const std::string& cn = "device-1",
                   int challenge_type = 0) {
    Device d;
    d.key.reset(EVP_RSA_gen(2048));
    d.cert = codec::SelfSignedCertificate(d.key.get(), cn).value();
    codec::CsrSpec spec;
    spec.common_name = cn;
    spec.challenge = challenge;
    spec.challenge_type = challenge_type;
    spec.dns_sans = {cn + ".devices.example"};
    d.csr = codec::BuildCsr(d.key.get(), spec).value();
    return d;
  }

  std::string Request(const Device& d, const std::string& tid,
                      const std::string& nonce,
                      const std::string& cipher = "aes-128-cbc",
                      const std::string& digest = "sha256") {
    codec::PkcsReqSpec spec;
    spec.transaction_id = tid;
    spec.sender_nonce = nonce;
    spec.cipher = cipher;
    spec.digest = digest;
    return codec::BuildPkcsReq(d.csr, d.cert.get(), d.key.get(), ra_.get(), spec)
        .value();
  }

  HttpResponse Post(const std::string& body, const std::string& path = "/scep") {
    HttpRequest r;
    r.method = "POST";
    r.path = path;
    r.raw_query = "operation=PKIOperation";
    r.body = body;
    r.remote_address = "127.0.0.1:1";
    return service_->Handle(r);
  }

  HttpResponse Get(const std::string& query, const std::string& path = "/scep") {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    r.raw_query = query;
    return service_->Handle(r);
  }

  codec::OpenedCertRep Open(const HttpResponse& r, const Device& d) {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.content_type, "application/x-pki-message");
    auto opened = codec::OpenCertRep(r.body, d.cert.get(), d.key.get());
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? *std::move(opened) : codec::OpenedCertRep{};
  }

  InProcessSigner signer_;
  std::unique_ptr<redis::MemoryEnrollmentStore> store_;
  redis::MemoryCertificateIndex index_;
  CaCertificates certs_;
  ScepServiceOptions options_;
  std::unique_ptr<ScepService> service_;
  crypto::X509Ptr ra_, ca_;
};

const std::string kNonceA(16, 'a'), kNonceB(16, 'b');

TEST_F(ScepServiceTest, CapabilitiesListOnlyWhatIsSupported) {
  HttpResponse r = Get("operation=GetCACaps");
  EXPECT_EQ(r.status, 200);
  for (const char* cap : {"AES", "POSTPKIOperation", "SCEPStandard", "SHA-256", "SHA-512"}) {
    EXPECT_TRUE(absl::StrContains(r.body, std::string(cap) + "\n")) << cap;
  }
  EXPECT_FALSE(absl::StrContains(r.body, "DES3"));
  EXPECT_FALSE(absl::StrContains(r.body, "SHA-1"));
  EXPECT_TRUE(absl::StrContains(r.body, "Renewal\n"));
  EXPECT_FALSE(absl::StrContains(r.body, "GetNextCACert"));
  options_.profile.allow_legacy = true;
  Reconfigure();
  EXPECT_TRUE(absl::StrContains(Get("operation=GetCACaps").body, "DES3\n"));
}

TEST(NeverBlocksTest, OnlyOperationsAnsweredFromMemory) {
  auto request = [](std::string method, std::string query) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = "/scep";
    r.raw_query = std::move(query);
    return r;
  };
  EXPECT_TRUE(NeverBlocks(request("GET", "operation=GetCACaps")));
  EXPECT_TRUE(NeverBlocks(request("GET", "operation=GetCACert&message=x")));
  EXPECT_TRUE(NeverBlocks(request("HEAD", "operation=GetNextCACert")));
  EXPECT_FALSE(NeverBlocks(request("GET", "operation=PKIOperation&message=x")));
  EXPECT_FALSE(NeverBlocks(request("POST", "operation=PKIOperation")));
  // Route acts on the last operation: so must the classification.
  EXPECT_FALSE(NeverBlocks(request("GET", "operation=GetCACaps&operation=PKIOperation")));
  EXPECT_FALSE(NeverBlocks(request("GET", "")));
  EXPECT_FALSE(NeverBlocks(request("GET", "operation=GetCACaps%zz")));
}

TEST_F(ScepServiceTest, GetCaCertReturnsCaAndRa) {
  HttpResponse r = Get("operation=GetCACert&message=anything", "/scep/default");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/x-x509-ca-ra-cert");
  auto certs = codec::ParseDegenerateCertificates(r.body).value();
  ASSERT_EQ(certs.size(), 2u);
  int matched = 0;
  for (auto& c : certs) matched += X509_cmp(c.get(), ca_.get()) == 0 || X509_cmp(c.get(), ra_.get()) == 0;
  EXPECT_EQ(matched, 2);
}

TEST_F(ScepServiceTest, ProfilesRouteToTheirIssuingCa) {
  // A second CA whose certificates are not loaded yet, and a profile naming
  // a CA nobody configured.
  CaCertificates other_certs;
  redis::MemoryCertificateIndex other_index("other");
  Profile main_profile = options_.profile;
  Profile other = options_.profile;
  other.name = "other";
  other.issuing_ca = "other";
  Profile ghost = options_.profile;
  ghost.name = "ghost";
  ghost.issuing_ca = "ghost";
  auto profiles = ProfileSet::New({main_profile, other, ghost}).value();
  options_.profiles = profiles.get();
  options_.issuing_cas["other"] = {&signer_, &other_index, &other_certs};
  Reconfigure();
  EXPECT_EQ(Get("operation=GetCACert", "/scep/default").status, 200);
  // The other CA answers for itself: not loaded → 503, not the default CA.
  EXPECT_EQ(Get("operation=GetCACert", "/scep/other").status, 503);
  ASSERT_TRUE(other_certs.Refresh(signer_).ok());
  EXPECT_EQ(Get("operation=GetCACert", "/scep/other").status, 200);
  HttpResponse ghost_reply = Get("operation=GetCACert", "/scep/ghost");
  EXPECT_EQ(ghost_reply.status, 500);
  EXPECT_TRUE(absl::StrContains(ghost_reply.body, "issuing CA"));
  // URLs as clients build them: a trailing slash (pasted into an MDM
  // console), "/pkiclient.exe" appended (Cisco IOS, sscep), and IOS's
  // "/cgi-bin/pkiclient.exe" for a URL without a path.
  for (const char* path : {"/scep/other/", "/scep/other/pkiclient.exe"}) {
    HttpResponse r = Get("operation=GetCACert", path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, Get("operation=GetCACert", "/scep/other").body) << path;
  }
  for (const char* path : {"/scep/", "/scep/pkiclient.exe", "/cgi-bin/pkiclient.exe",
                           "/scep/default/", "/scep/default/pkiclient.exe"}) {
    HttpResponse r = Get("operation=GetCACert", path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, Get("operation=GetCACert", "/scep").body) << path;
  }
  for (const char* path : {"/scep/other//", "/scep/other/x", "/scep//", "/pkiclient.exe",
                           "/scep/nope/pkiclient.exe"}) {
    EXPECT_EQ(Get("operation=GetCACert", path).status, 404) << path;
  }
  options_.profiles = nullptr;
}

TEST_F(ScepServiceTest, CrlAndCaCertificateArePublishedForRelyingParties) {
  options_.profile.crl_distribution_points = {"http://scep.example.com/crl/default.crl"};
  options_.profile.ca_issuers = {"http://scep.example.com/ca/default.crt"};
  Reconfigure();
  Device d = NewDevice("s3cret-Challenge");
  codec::OpenedCertRep rep = Open(Post(Request(d, "tid-cdp", kNonceA)), d);
  ASSERT_EQ(rep.certificates.size(), 1u);
  X509* cert = rep.certificates[0].get();
  EXPECT_GE(X509_get_ext_by_NID(cert, NID_crl_distribution_points, -1), 0);
  EXPECT_GE(X509_get_ext_by_NID(cert, NID_info_access, -1), 0);

  HttpResponse crl = Get("", "/crl/default.crl");
  ASSERT_EQ(crl.status, 200) << crl.body;
  EXPECT_EQ(crl.content_type, "application/pkix-crl");
  // The kept CRL itself, shared by every response, not a copy for each.
  ASSERT_NE(crl.shared_body, nullptr);
  EXPECT_EQ(Get("", "/crl/default.crl").shared_body, crl.shared_body);
  auto parsed = crypto::FromDer<crypto::X509CrlPtr>(*crl.shared_body, d2i_X509_CRL, "CRL");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(X509_CRL_verify(parsed->get(), X509_get0_pubkey(ca_.get())), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(parsed->get()), X509_get_subject_name(ca_.get())),
            0);
  bool cached = false;
  std::string etag;
  for (const auto& [name, value] : crl.headers) {
    cached |= name == "Cache-Control";
    if (name == "ETag") etag = value;
  }
  EXPECT_TRUE(cached);
  // A poller sending the ETag back gets 304 without the CRL.
  ASSERT_FALSE(etag.empty());
  HttpRequest again;
  again.method = "GET";
  again.path = "/crl/default.crl";
  again.if_none_match = etag;
  HttpResponse unchanged = service_->Handle(again);
  EXPECT_EQ(unchanged.status, 304);
  EXPECT_EQ(unchanged.shared_body, nullptr);

  HttpResponse ca = Get("", "/ca/default.crt");
  ASSERT_EQ(ca.status, 200);
  EXPECT_EQ(ca.content_type, "application/pkix-cert");
  EXPECT_EQ(ca.body, crypto::ToDer(ca_.get(), i2d_X509).value());
  HttpRequest head;
  head.method = "HEAD";
  head.path = "/ca/default.crt";
  EXPECT_EQ(service_->Handle(head).status, 200);

  EXPECT_EQ(Get("", "/crl/nosuch.crl").status, 404);
  EXPECT_EQ(Get("", "/crl/.crl").status, 404);
  EXPECT_EQ(Get("", "/crl/default.pem").status, 404);
  EXPECT_EQ(Get("", "/ca/default.crl").status, 404);
  EXPECT_EQ(Post("x", "/crl/default.crl").status, 405);

  // A revocation shows in the next fetch (the CRL is re-signed at once);
  // while the signer is down it cannot be: 503 with Retry-After, never the
  // stale CRL.
  crypto::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  char* hex = BN_bn2hex(serial.get());
  std::string serial_hex = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  ASSERT_TRUE(index_.Revoke(serial_hex, 1, absl::Now()).ok());
  signer_.down = true;
  HttpResponse down = Get("", "/crl/default.crl");
  EXPECT_EQ(down.status, 503);
  bool retry_after = false;
  for (const auto& [name, value] : down.headers) retry_after |= name == "Retry-After";
  EXPECT_TRUE(retry_after);
  signer_.down = false;
  HttpResponse fresh = Get("", "/crl/default.crl");
  ASSERT_EQ(fresh.status, 200);
  auto revoked =
      crypto::FromDer<crypto::X509CrlPtr>(*fresh.shared_body, d2i_X509_CRL, "CRL").value();
  X509_REVOKED* entry = nullptr;
  EXPECT_EQ(X509_CRL_get0_by_serial(revoked.get(), &entry, X509_get0_serialNumber(cert)), 1);
}

TEST_F(ScepServiceTest, GetCaCertIs503UntilSignerAnswered) {
  CaCertificates empty;
  ScepService service(options_, &signer_, store_.get(), &index_, &empty);
  HttpRequest r;
  r.method = "GET";
  r.path = "/scep";
  r.raw_query = "operation=GetCACert";
  HttpResponse resp = service.Handle(r);
  EXPECT_EQ(resp.status, 503);
  ASSERT_EQ(resp.headers.size(), 1u);
  EXPECT_EQ(resp.headers[0].first, "Retry-After");
}

TEST_F(ScepServiceTest, EnrollsAndMirrorsRequestCrypto) {
  Device d = NewDevice("s3cret-Challenge");
  HttpResponse r = Post(Request(d, "tid-1", kNonceA, "aes-256-cbc", "sha512"));
  codec::OpenedCertRep rep = Open(r, d);
  EXPECT_EQ(rep.message.attributes.pki_status, codec::PkiStatus::kSuccess);
  EXPECT_EQ(rep.message.attributes.transaction_id, "tid-1");
  EXPECT_EQ(rep.message.attributes.recipient_nonce, kNonceA);
  EXPECT_EQ(rep.message.attributes.sender_nonce.size(), 16u);
  EXPECT_NE(rep.message.attributes.sender_nonce, kNonceA);
  EXPECT_EQ(rep.message.digest, "sha512");
  EXPECT_EQ(codec::EnvelopeCipher(rep.message.content).value(), "aes-256-cbc");
  ASSERT_EQ(rep.certificates.size(), 1u);
  X509* cert = rep.certificates[0].get();
  EXPECT_EQ(X509_verify(cert, X509_get0_pubkey(ca_.get())), 1);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(cert), d.key.get()), 1);
}

TEST_F(ScepServiceTest, GetWithUrlSafeBase64Enrolls) {
  Device d = NewDevice("s3cret-Challenge");
  // micromdm scepclient: URL-safe alphabet with %3D-encoded padding.
  std::string b64 = absl::WebSafeBase64Escape(Request(d, "tid-get", kNonceA));
  std::string padding;
  for (size_t n = b64.size(); n % 4 != 0; ++n) padding += "%3D";
  HttpResponse r = Get("operation=PKIOperation&message=" + b64 + padding);
  EXPECT_EQ(Open(r, d).message.attributes.pki_status, codec::PkiStatus::kSuccess);
  // Standard alphabet with '+' turned into a space by an intermediary.
  Device e = NewDevice("s3cret-Challenge", "device-2");
  std::string std64 = absl::Base64Escape(Request(e, "tid-get-2", kNonceB));
  for (char& c : std64) {
    if (c == '+') c = ' ';
  }
  std::string query = "operation=PKIOperation&message=";
  for (char c : std64) query += c == ' ' ? std::string("%20") : c == '/' ? std::string("%2F") : c == '=' ? std::string("%3D") : std::string(1, c);
  EXPECT_EQ(Open(Get(query), e).message.attributes.pki_status, codec::PkiStatus::kSuccess);
}

TEST_F(ScepServiceTest, WrongChallengeIsSignedFailureBadRequest) {
  for (const char* challenge : {"s3cret-challenge", "", "s3cret-Challenge "}) {
    Device d = NewDevice(challenge);
    codec::OpenedCertRep rep = Open(Post(Request(d, std::string("t-") + challenge, kNonceA + challenge)), d);
    EXPECT_EQ(rep.message.attributes.pki_status, codec::PkiStatus::kFailure);
    EXPECT_EQ(rep.message.attributes.fail_info, codec::FailInfo::kBadRequest);
    ASSERT_TRUE(rep.message.attributes.fail_info_text.has_value());
    EXPECT_FALSE(absl::StrContains(*rep.message.attributes.fail_info_text, "s3cret"));
  }
  EXPECT_EQ(signer_.issued.load(), 0);
}

// Windows writes challengePassword as BMPString: the same secret, encoded
// as UTF-16, passes; another secret in BMPString does not.
TEST_F(ScepServiceTest, BmpStringChallengeMatchesTheSecret) {
  for (int type : {V_ASN1_BMPSTRING, V_ASN1_UNIVERSALSTRING}) {
    for (const char* challenge : {"s3cret-Challenge", "s3cret-challenge"}) {
      Device d = NewDevice(challenge, "bmp-device", type);
      const std::string tid = absl::StrCat("bmp-", type, "-", challenge);
      codec::OpenedCertRep rep = Open(Post(Request(d, tid, tid.substr(0, 16))), d);
      const bool right = std::string(challenge) == "s3cret-Challenge";
      EXPECT_EQ(rep.message.attributes.pki_status,
                right ? codec::PkiStatus::kSuccess : codec::PkiStatus::kFailure)
          << tid << " " << rep.message.attributes.fail_info_text.value_or("");
      if (!right) {
        EXPECT_EQ(rep.message.attributes.fail_info, codec::FailInfo::kBadRequest);
      }
    }
  }
  EXPECT_EQ(signer_.issued.load(), 2);
}

TEST_F(ScepServiceTest, ReplayAndRetransmission) {
  Device d = NewDevice("s3cret-Challenge");
  std::string first = Request(d, "tid-r", kNonceA);
  codec::OpenedCertRep a = Open(Post(first), d);
  ASSERT_EQ(a.message.attributes.pki_status, codec::PkiStatus::kSuccess);
  // The same message again (a retransmission): the same certificate.
  codec::OpenedCertRep resent = Open(Post(first), d);
  ASSERT_EQ(resent.message.attributes.pki_status, codec::PkiStatus::kSuccess);
  EXPECT_EQ(X509_cmp(resent.certificates[0].get(), a.certificates[0].get()), 0);
  // Another message with that senderNonce: a replay.
  codec::OpenedCertRep replay = Open(Post(Request(d, "tid-r", kNonceA)), d);
  EXPECT_EQ(replay.message.attributes.pki_status, codec::PkiStatus::kFailure);
  EXPECT_EQ(replay.message.attributes.fail_info, codec::FailInfo::kBadRequest);
  // Same transaction and CSR, new nonce: the same certificate.
  codec::OpenedCertRep again = Open(Post(Request(d, "tid-r", kNonceB)), d);
  ASSERT_EQ(again.message.attributes.pki_status, codec::PkiStatus::kSuccess);
  EXPECT_EQ(X509_cmp(again.certificates[0].get(), a.certificates[0].get()), 0);
  EXPECT_EQ(signer_.issued.load(), 1);
  // Same transaction, another key: refused.
  Device other = NewDevice("s3cret-Challenge");
  codec::OpenedCertRep hijack = Open(Post(Request(other, "tid-r", std::string(16, 'c'))), other);
  EXPECT_EQ(hijack.message.attributes.fail_info, codec::FailInfo::kBadRequest);
  EXPECT_EQ(signer_.issued.load(), 1);
}

// sscep signs with MD5 unless told otherwise, as old Cisco IOS does: a
// signed FAILURE badAlg (RFC 8894 3.2.1.4) the client can read, even with
// --allow_legacy (before: HTTP 400, which sscep reports as a MIME error).
TEST_F(ScepServiceTest, Md5SignedRequestIsFailureBadAlg) {
  for (bool legacy : {false, true}) {
    options_.profile.allow_legacy = legacy;
    Reconfigure();
    Device d = NewDevice("s3cret-Challenge");
    HttpResponse r = Post(Request(d, legacy ? "tid-md5-l" : "tid-md5", kNonceA + (legacy ? "l" : ""),
                                  "aes-128-cbc", "md5"));
    ASSERT_EQ(r.status, 200) << r.body;
    auto rep = codec::ParsePkiMessage(r.body).value();
    EXPECT_EQ(rep.attributes.pki_status, codec::PkiStatus::kFailure);
    EXPECT_EQ(rep.attributes.fail_info, codec::FailInfo::kBadAlg);
    EXPECT_TRUE(absl::StrContains(rep.attributes.fail_info_text.value_or(""), "md5"));
    EXPECT_EQ(rep.digest, "sha256");
  }
  EXPECT_EQ(signer_.issued.load(), 0);
}

TEST_F(ScepServiceTest, LegacyAlgorithmsOnlyWhenAllowed) {
  std::string fixture = ReadFile("scepclient-pkcsreq-post.der");  // DES + SHA-1
  options_.profile.challenge = "fixture-secret";
  Reconfigure();
  auto rep = codec::ParsePkiMessage(Post(fixture).body).value();
  EXPECT_EQ(rep.attributes.pki_status, codec::PkiStatus::kFailure);
  EXPECT_EQ(rep.attributes.fail_info, codec::FailInfo::kBadAlg);
  EXPECT_EQ(rep.digest, "sha256");

  options_.profile.allow_legacy = true;
  Reconfigure();
  HttpResponse r = Post(fixture);
  ASSERT_EQ(r.status, 200);
  crypto::EvpPkeyPtr key =
      crypto::LoadPrivateKeyFile(Testdata("scepclient-device.key")).value();
  auto msg = codec::ParsePkiMessage(r.body).value();
  ASSERT_EQ(msg.attributes.pki_status, codec::PkiStatus::kSuccess)
      << msg.attributes.fail_info_text.value_or("");
  EXPECT_EQ(msg.digest, "sha1");
  EXPECT_EQ(codec::EnvelopeCipher(msg.content).value(), "des-cbc");
  auto req = codec::ParsePkiMessage(fixture).value();
  auto opened = codec::OpenCertRep(r.body, req.signer_certificate.get(), key.get());
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->certificates.size(), 1u);
}

TEST_F(ScepServiceTest, BadOuterSignatureIsBadMessageCheck) {
  Device d = NewDevice("s3cret-Challenge");
  std::string der = Request(d, "tid-sig", kNonceA);
  auto parsed = codec::ParsePkiMessage(der).value();
  der[der.find(parsed.content) + 40] ^= 0x01;
  auto rep = codec::ParsePkiMessage(Post(der).body).value();
  EXPECT_EQ(rep.attributes.fail_info, codec::FailInfo::kBadMessageCheck);
  EXPECT_EQ(signer_.issued.load(), 0);
}

TEST_F(ScepServiceTest, CsrSelfSignatureIsCheckedOnEveryPath) {
  // The message is signed properly with the CSR's key; the CSR's own
  // signature is broken. The common path leaves the check to the signer.
  Device d = NewDevice("s3cret-Challenge");
  const std::string good_csr = d.csr;
  d.csr[d.csr.size() - 2] ^= 0x40;
  codec::OpenedCertRep rep = Open(Post(Request(d, "tid-csr", kNonceA)), d);
  EXPECT_EQ(rep.message.attributes.pki_status, codec::PkiStatus::kFailure);
  EXPECT_EQ(rep.message.attributes.fail_info, codec::FailInfo::kBadMessageCheck);
  ASSERT_TRUE(rep.message.attributes.fail_info_text.has_value());
  EXPECT_TRUE(absl::StrContains(*rep.message.attributes.fail_info_text,
                                "signature does not verify"));
  EXPECT_EQ(signer_.issued.load(), 0);
  // Nothing half-written: the transaction was released, so the repaired
  // request (new nonce) is issued under the same transactionID.
  d.csr = good_csr;
  rep = Open(Post(Request(d, "tid-csr", kNonceB)), d);
  EXPECT_EQ(rep.message.attributes.pki_status, codec::PkiStatus::kSuccess);
  EXPECT_EQ(signer_.issued.load(), 1);
  // Manual approval: refused at once, not queued as PENDING.
  options_.profile.approval = Profile::Approval::kManual;
  Reconfigure();
  Device e = NewDevice("s3cret-Challenge", "device-2");
  e.csr[e.csr.size() - 2] ^= 0x40;
  rep = Open(Post(Request(e, "tid-csr-2", kNonceA + "2")), e);
  EXPECT_EQ(rep.message.attributes.pki_status, codec::PkiStatus::kFailure);
  EXPECT_EQ(rep.message.attributes.fail_info, codec::FailInfo::kBadMessageCheck);
  EXPECT_EQ(signer_.issued.load(), 1);
}

TEST_F(ScepServiceTest, MalformedRequestsAreHttpErrors) {
  EXPECT_EQ(Post("garbage").status, 400);
  EXPECT_EQ(Post("").status, 400);
  EXPECT_EQ(Get("operation=PKIOperation&message=%%%").status, 400);
  EXPECT_EQ(Get("operation=PKIOperation&message=!!!!").status, 400);
  EXPECT_EQ(Get("operation=Bogus").status, 400);
  EXPECT_EQ(Get("").status, 400);
  EXPECT_EQ(Get("operation=GetCACaps", "/other").status, 404);
  EXPECT_EQ(Get("operation=GetCACaps", "/scep/unknown-profile").status, 404);
  HttpRequest put;
  put.method = "PUT";
  put.path = "/scep";
  EXPECT_EQ(service_->Handle(put).status, 405);
  // HEAD reads what GET reads (monitoring probes), but never acts.
  HttpRequest head;
  head.method = "HEAD";
  head.path = "/scep";
  head.raw_query = "operation=GetCACaps";
  HttpResponse caps = service_->Handle(head);
  EXPECT_EQ(caps.status, 200);
  EXPECT_EQ(caps.body, Get("operation=GetCACaps").body);  // the server drops it
  head.raw_query = "operation=PKIOperation&message=AAAA";
  EXPECT_EQ(service_->Handle(head).status, 405);
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  EXPECT_EQ(Post(der.substr(0, der.size() / 2)).status, 400);
}

TEST_F(ScepServiceTest, StoreDownIs503AndNothingIssued) {
  store_->SetUnavailable(true);
  Device d = NewDevice("s3cret-Challenge");
  HttpResponse r = Post(Request(d, "tid-503", kNonceA));
  EXPECT_EQ(r.status, 503);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  EXPECT_EQ(signer_.issued.load(), 0);
}

TEST_F(ScepServiceTest, SignerDownIs503AndIdenticalRetrySucceeds) {
  Device d = NewDevice("s3cret-Challenge");
  std::string der = Request(d, "tid-down", kNonceA);
  signer_.issue_down = true;
  EXPECT_EQ(Post(der).status, 503);
  signer_.issue_down = false;
  signer_.down = true;
  EXPECT_EQ(Post(der).status, 503);
  signer_.down = false;
  // Neither the nonce nor the transaction was left behind.
  codec::OpenedCertRep rep = Open(Post(der), d);
  EXPECT_EQ(rep.message.attributes.pki_status, codec::PkiStatus::kSuccess);
  EXPECT_EQ(signer_.issued.load(), 1);
}

TEST_F(ScepServiceTest, SecretEqualsIsExact) {
  EXPECT_TRUE(SecretEquals("abc", "abc"));
  EXPECT_FALSE(SecretEquals("ABC", "abc"));
  EXPECT_FALSE(SecretEquals("abc ", "abc"));
  EXPECT_FALSE(SecretEquals("", ""));
}

}  // namespace
}  // namespace scep::gateway
