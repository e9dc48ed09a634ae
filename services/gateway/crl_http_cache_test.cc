// Caching headers and conditional requests of the CRLs relying parties
// fetch (crl_http_cache.h), over a CRL made in the test.

#include "services/gateway/crl_http_cache.h"

#include <openssl/x509.h>

#include "absl/strings/match.h"
#include "common/crypto/ssl_ptr.h"
#include "common/crypto/test_pki.h"
#include "gtest/gtest.h"

namespace scep::gateway {
namespace {

std::optional<std::string> Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return std::nullopt;
}

// A CRL with thisUpdate and nextUpdate as given, signed by a test CA.
std::shared_ptr<const std::string> MakeCrl(absl::Time this_update, absl::Time next_update) {
  crypto::testing::Identity ca = crypto::testing::Issue("crl-ca", nullptr, {});
  crypto::X509CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.cert.get()));
  crypto::SslPtr<ASN1_TIME, ASN1_TIME_free> last(
      ASN1_TIME_set(nullptr, absl::ToTimeT(this_update)));
  crypto::SslPtr<ASN1_TIME, ASN1_TIME_free> next(
      ASN1_TIME_set(nullptr, absl::ToTimeT(next_update)));
  X509_CRL_set1_lastUpdate(crl.get(), last.get());
  X509_CRL_set1_nextUpdate(crl.get(), next.get());
  EXPECT_GT(X509_CRL_sign(crl.get(), ca.key.get(), EVP_sha256()), 0);
  unsigned char* der = nullptr;
  const int n = i2d_X509_CRL(crl.get(), &der);
  auto out = std::make_shared<const std::string>(reinterpret_cast<char*>(der), n);
  OPENSSL_free(der);
  return out;
}

class CrlHttpCacheTest : public ::testing::Test {
 protected:
  HttpResponse Serve(const HttpRequest& request, absl::Time now) {
    HttpResponse r;
    r.content_type = "application/pkix-crl";
    r.shared_body = crl_;
    ApplyCrlCaching(cache_.Of(crl_), request, now, absl::Seconds(300), r);
    return r;
  }

  const absl::Time this_update_ = absl::FromUnixSeconds(1'800'000'000);
  const absl::Time next_update_ = this_update_ + absl::Hours(24);
  std::shared_ptr<const std::string> crl_ = MakeCrl(this_update_, next_update_);
  CrlValidatorCache cache_;
};

TEST_F(CrlHttpCacheTest, ValidatorsAndMaxAgeWithinNextUpdate) {
  HttpResponse r = Serve({}, this_update_ + absl::Hours(1));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.shared_body, crl_);
  EXPECT_EQ(Header(r, "Cache-Control"), "max-age=300");
  EXPECT_EQ(Header(r, "Last-Modified"), "Fri, 15 Jan 2027 08:00:00 GMT");
  ASSERT_TRUE(Header(r, "ETag").has_value());
  EXPECT_EQ(Header(r, "ETag")->size(), 34u);  // 32 hex digits in quotes
  // 100 s before nextUpdate: a cache may keep it 100 s, not 300.
  EXPECT_EQ(Header(Serve({}, next_update_ - absl::Seconds(100)), "Cache-Control"),
            "max-age=100");
  // At or past nextUpdate (served through an outage): not kept at all.
  EXPECT_EQ(Header(Serve({}, next_update_), "Cache-Control"), "no-cache");
  EXPECT_EQ(Header(Serve({}, next_update_ + absl::Hours(1)), "Cache-Control"), "no-cache");
}

TEST_F(CrlHttpCacheTest, ConditionalRequestsGet304WithoutTheBody) {
  const std::string etag = *Header(Serve({}, this_update_), "ETag");
  HttpRequest same;
  same.if_none_match = "\"other\", W/" + etag;
  HttpResponse r = Serve(same, this_update_ + absl::Minutes(1));
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.shared_body, nullptr);
  EXPECT_EQ(Header(r, "ETag"), etag);
  HttpRequest other;
  other.if_none_match = "\"0123\"";
  EXPECT_EQ(Serve(other, this_update_).status, 200);
  // If-Modified-Since: only when no If-None-Match was sent.
  HttpRequest since;
  since.if_modified_since = "Fri, 15 Jan 2027 08:00:00 GMT";
  EXPECT_EQ(Serve(since, this_update_).status, 304);
  since.if_modified_since = "Fri, 15 Jan 2027 07:59:59 GMT";
  EXPECT_EQ(Serve(since, this_update_).status, 200);
  since.if_modified_since = "yesterday";
  EXPECT_EQ(Serve(since, this_update_).status, 200);
  since.if_modified_since = "Fri, 15 Jan 2027 09:00:00 GMT";
  since.if_none_match = "\"0123\"";
  EXPECT_EQ(Serve(since, this_update_).status, 200);
}

// The digest and parse run once per CRL, and a new CRL gets its own.
TEST_F(CrlHttpCacheTest, ANewCrlGetsNewValidators) {
  const CrlValidators first = cache_.Of(crl_);
  EXPECT_EQ(cache_.Of(crl_).etag, first.etag);
  auto newer = MakeCrl(this_update_ + absl::Hours(1), next_update_ + absl::Hours(1));
  const CrlValidators second = cache_.Of(newer);
  EXPECT_NE(second.etag, first.etag);
  EXPECT_EQ(second.this_update, this_update_ + absl::Hours(1));
}

}  // namespace
}  // namespace scep::gateway
