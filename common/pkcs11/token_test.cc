#include "common/pkcs11/token.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/session.h"
#include "common/pkcs11/softhsm_sandbox.h"
#include "gtest/gtest.h"

namespace scep::pkcs11 {
namespace {

constexpr char kPin[] = "831276";
constexpr char kSoPin[] = "5678";
constexpr char kTokenLabel[] = "token-test";

std::string SignSha256(EVP_PKEY* key, absl::string_view data,
                       absl::Status* status) {
  crypto::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    *status = absl::InternalError("sign init");
    return "";
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()),
                     &length, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    *status = absl::InternalError("sign");
    return "";
  }
  signature.resize(length);
  *status = absl::OkStatus();
  return signature;
}

bool VerifySha256(EVP_PKEY* key, absl::string_view data,
                  absl::string_view signature) {
  crypto::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) ==
             1 &&
         EVP_DigestVerify(
             ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
             signature.size(),
             reinterpret_cast<const unsigned char*>(data.data()),
             data.size()) == 1;
}

// Signs `data` with the token key `label` and checks the signature with the
// token's public key.
void ExpectSignVerifies(Token& token, absl::string_view label) {
  absl::StatusOr<crypto::EvpPkeyPtr> public_key = token.PublicKey(label);
  ASSERT_TRUE(public_key.ok()) << public_key.status();
  const std::string data = absl::StrCat("to be signed by ", label);
  std::string signature;
  absl::Status status = token.WithPrivateKey(label, [&](EVP_PKEY* key) {
    absl::Status sign_status;
    signature = SignSha256(key, data, &sign_status);
    return sign_status;
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(VerifySha256(public_key->get(), data, signature));
  EXPECT_FALSE(VerifySha256(public_key->get(), "other data", signature));
}

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SoftHsmSandbox>> sandbox =
        SoftHsmSandbox::New();
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    options_.module_path = SCEP_SOFTHSM2_MODULE;
    options_.token_label = kTokenLabel;
    options_.user_pin = kPin;
    options_.so_pin = kSoPin;
  }

  // Creates the token with its keys and opens it as token_.
  void PrepareAndOpen(KeySpec ca_key) {
    options_.ca_key = ca_key;
    absl::StatusOr<TokenSetup> setup = PrepareToken(options_);
    ASSERT_TRUE(setup.ok()) << setup.status();
    absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(Config());
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = *std::move(token);
  }

  TokenConfig Config() const {
    return {options_.module_path, options_.token_label, options_.user_pin, {}};
  }

  std::unique_ptr<SoftHsmSandbox> sandbox_;  // outlives token_
  ProvisionOptions options_;
  std::unique_ptr<Token> token_;
};

class TokenKeyTypeTest : public TokenTest,
                         public ::testing::WithParamInterface<const char*> {};

TEST_P(TokenKeyTypeTest, CaKeySignsAndVerifies) {
  absl::StatusOr<KeySpec> spec = KeySpec::Parse(GetParam());
  ASSERT_TRUE(spec.ok());
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(*spec));
  ExpectSignVerifies(*token_, kCaKeyLabel);
}

// OpenSSL 3.0 must route X509_sign through libp11's key methods (legacy
// "foreign" keys), for EC as well as RSA.
TEST_P(TokenKeyTypeTest, X509SignWithTokenKey) {
  absl::StatusOr<KeySpec> spec = KeySpec::Parse(GetParam());
  ASSERT_TRUE(spec.ok());
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(*spec));
  absl::StatusOr<crypto::EvpPkeyPtr> public_key = token_->PublicKey(kCaKeyLabel);
  ASSERT_TRUE(public_key.ok()) << public_key.status();

  crypto::X509Ptr cert(X509_new());
  X509_NAME* name = X509_get_subject_name(cert.get());
  ASSERT_EQ(X509_NAME_add_entry_by_txt(
                name, "CN", MBSTRING_ASC,
                reinterpret_cast<const unsigned char*>("x509 sign test"), -1,
                -1, 0),
            1);
  ASSERT_EQ(X509_set_issuer_name(cert.get(), name), 1);
  ASSERT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  ASSERT_EQ(X509_set_pubkey(cert.get(), public_key->get()), 1);

  absl::Status status = token_->WithPrivateKey(kCaKeyLabel, [&](EVP_PKEY* key) {
    return X509_sign(cert.get(), key, spec->SignatureDigest()) > 0
               ? absl::OkStatus()
               : absl::InternalError("X509_sign");
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(X509_verify(cert.get(), public_key->get()), 1);
  const int expected_nid =
      spec->is_rsa() ? (spec->SignatureDigest() == EVP_sha256()
                            ? NID_sha256WithRSAEncryption
                            : NID_sha384WithRSAEncryption)
                     : (spec->SignatureDigest() == EVP_sha256()
                            ? NID_ecdsa_with_SHA256
                            : NID_ecdsa_with_SHA384);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), expected_nid);
}

INSTANTIATE_TEST_SUITE_P(CaKeys, TokenKeyTypeTest,
                         ::testing::Values("rsa:2048", "ec:p256", "ec:p384"));

TEST_F(TokenTest, RaKeyDecryptsPkcs1AndOaep) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  absl::StatusOr<crypto::EvpPkeyPtr> public_key = token_->PublicKey(kRaKeyLabel);
  ASSERT_TRUE(public_key.ok()) << public_key.status();
  const std::string secret = "0123456789abcdef content key!";

  for (int padding : {RSA_PKCS1_PADDING, RSA_PKCS1_OAEP_PADDING}) {
    SCOPED_TRACE(padding);
    crypto::EvpPkeyCtxPtr enc(EVP_PKEY_CTX_new(public_key->get(), nullptr));
    size_t length = 0;
    ASSERT_EQ(EVP_PKEY_encrypt_init(enc.get()), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(enc.get(), padding), 1);
    ASSERT_EQ(EVP_PKEY_encrypt(enc.get(), nullptr, &length,
                               reinterpret_cast<const unsigned char*>(secret.data()),
                               secret.size()),
              1);
    std::string ciphertext(length, '\0');
    ASSERT_EQ(EVP_PKEY_encrypt(enc.get(),
                               reinterpret_cast<unsigned char*>(ciphertext.data()),
                               &length,
                               reinterpret_cast<const unsigned char*>(secret.data()),
                               secret.size()),
              1);
    ciphertext.resize(length);

    std::string plaintext;
    absl::Status status = token_->WithPrivateKey(kRaKeyLabel, [&](EVP_PKEY* key) {
      crypto::EvpPkeyCtxPtr dec(EVP_PKEY_CTX_new(key, nullptr));
      size_t out_length = 0;
      if (dec == nullptr || EVP_PKEY_decrypt_init(dec.get()) != 1 ||
          EVP_PKEY_CTX_set_rsa_padding(dec.get(), padding) != 1 ||
          EVP_PKEY_decrypt(dec.get(), nullptr, &out_length,
                           reinterpret_cast<const unsigned char*>(ciphertext.data()),
                           ciphertext.size()) != 1) {
        return absl::InternalError("decrypt init");
      }
      plaintext.resize(out_length);
      if (EVP_PKEY_decrypt(dec.get(),
                           reinterpret_cast<unsigned char*>(plaintext.data()),
                           &out_length,
                           reinterpret_cast<const unsigned char*>(ciphertext.data()),
                           ciphertext.size()) != 1) {
        return absl::InternalError("decrypt");
      }
      plaintext.resize(out_length);
      return absl::OkStatus();
    });
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(plaintext, secret);
  }
}

TEST_F(TokenTest, PrivateKeysAreSensitiveAndNeverExtractable) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Ec(NID_X9_62_prime256v1)));
  for (const char* label : {kCaKeyLabel, kRaKeyLabel}) {
    SCOPED_TRACE(label);
    absl::StatusOr<KeyAttributes> attributes =
        token_->PrivateKeyAttributes(label);
    ASSERT_TRUE(attributes.ok()) << attributes.status();
    EXPECT_TRUE(attributes->sensitive);
    EXPECT_FALSE(attributes->extractable);
    EXPECT_TRUE(attributes->always_sensitive);
    EXPECT_TRUE(attributes->never_extractable);
    EXPECT_TRUE(attributes->protected_in_token());
  }
  EXPECT_EQ(token_->PrivateKeyAttributes(kCaKeyLabel)->type, "EC-P256");
  EXPECT_EQ(token_->PrivateKeyAttributes(kRaKeyLabel)->type, "RSA-2048");
  EXPECT_TRUE(absl::IsNotFound(token_->PrivateKeyAttributes("absent").status()));
}

// A private key whose public half is gone (deleted by a vendor tool, an
// interrupted relabel): libp11 0.4.12 crashed the process in
// PKCS11_get_public_key when the keys were indexed. Now the token opens,
// the key still signs, and only its public key is missing.
TEST_F(TokenTest, PrivateKeyWithoutItsPublicHalfDoesNotCrashTheOpen) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  token_.reset();
  {
    absl::StatusOr<UserSession> user =
        OpenUserSession(options_.module_path, options_.token_label, options_.user_pin);
    ASSERT_TRUE(user.ok()) << user.status();
    Session& session = *user->session;
    absl::StatusOr<std::optional<CK_OBJECT_HANDLE>> pub =
        session.FindObject(CKO_PUBLIC_KEY, kCaKeyLabel);
    ASSERT_TRUE(pub.ok() && pub->has_value());
    ASSERT_EQ(session.functions()->C_DestroyObject(session.handle(), **pub),
              static_cast<CK_RV>(CKR_OK));
  }
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(Config());
  ASSERT_TRUE(token.ok()) << token.status();
  token_ = *std::move(token);
  ExpectSignVerifies(*token_, kRaKeyLabel);
  EXPECT_TRUE(token_->PrivateKeyAttributes(kCaKeyLabel).ok());
  EXPECT_FALSE(token_->PublicKey(kCaKeyLabel).ok());
}

TEST_F(TokenTest, WrongPinIsPermissionDeniedAndNeverEchoed) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  token_.reset();
  TokenConfig config = Config();
  config.pin = "99887766";
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(config);
  ASSERT_FALSE(token.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(token.status())) << token.status();
  EXPECT_NE(token.status().message().find("CKR_PIN_INCORRECT"),
            absl::string_view::npos)
      << token.status();
  EXPECT_NE(token.status().message().find(kTokenLabel), absl::string_view::npos);
  EXPECT_EQ(token.status().message().find("99887766"), absl::string_view::npos);
  EXPECT_EQ(token.status().message().find(kPin), absl::string_view::npos);
}

TEST_F(TokenTest, MissingTokenIsFailedPreconditionNamingIt) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  token_.reset();
  TokenConfig config = Config();
  config.token_label = "no-such-token";
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(config);
  ASSERT_FALSE(token.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(token.status())) << token.status();
  EXPECT_NE(token.status().message().find("no-such-token"),
            absl::string_view::npos);
}

TEST_F(TokenTest, BadModulePathIsFailedPrecondition) {
  TokenConfig config = Config();
  config.module_path = "/nonexistent/libpkcs11.so";
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(config);
  EXPECT_TRUE(absl::IsFailedPrecondition(token.status())) << token.status();
}

TEST_F(TokenTest, UnknownLabelIsNotFoundWithoutCallingFn) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  bool called = false;
  absl::Status status = token_->WithPrivateKey("absent", [&](EVP_PKEY*) {
    called = true;
    return absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_FALSE(called);
  EXPECT_TRUE(absl::IsNotFound(token_->PublicKey("absent").status()));
}

TEST_F(TokenTest, FnFailureOnHealthyTokenIsReturnedWithoutRetry) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  int calls = 0;
  absl::Status status = token_->WithPrivateKey(kCaKeyLabel, [&](EVP_PKEY*) {
    ++calls;
    return absl::InvalidArgumentError("bad request");
  });
  EXPECT_EQ(status, absl::InvalidArgumentError("bad request"));
  EXPECT_EQ(calls, 1);
}

TEST_F(TokenTest, ReconnectThenKeysWorkAgain) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  ExpectSignVerifies(*token_, kCaKeyLabel);
  for (int i = 0; i < 3; ++i) {
    absl::Status status = token_->Reconnect();
    ASSERT_TRUE(status.ok()) << status;
    ExpectSignVerifies(*token_, kCaKeyLabel);
    ExpectSignVerifies(*token_, kRaKeyLabel);
  }
}

// The RA key in another token of the same module: one Token serves both
// (libp11 finalises a module for every context that unloads it, so two
// Tokens on one module would break each other's sessions on reconnect).
TEST_F(TokenTest, FurtherTokenOfTheSameModuleIsServedAcrossReconnects) {
  options_.ra_token_label = "scep-test-ra";
  options_.ra_user_pin = "864200";
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  token_.reset();
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(ProvisionedTokenConfig(options_));
  ASSERT_TRUE(token.ok()) << token.status();
  Token& both = **token;
  for (int i = 0; i < 2; ++i) {
    ExpectSignVerifies(both, kCaKeyLabel);
    absl::StatusOr<crypto::EvpPkeyPtr> ra_public = both.PublicKey("scep-test-ra", kRaKeyLabel);
    ASSERT_TRUE(ra_public.ok()) << ra_public.status();
    std::string signature;
    absl::Status signed_status = both.WithPrivateKey(
        "scep-test-ra", kRaKeyLabel, [&](EVP_PKEY* key) {
          absl::Status status;
          signature = SignSha256(key, "certrep", &status);
          return status;
        });
    ASSERT_TRUE(signed_status.ok()) << signed_status;
    EXPECT_TRUE(VerifySha256(ra_public->get(), "certrep", signature));
    EXPECT_TRUE(both.PrivateKeyAttributes("scep-test-ra", kRaKeyLabel).ok());
    // Each key is in its own token only.
    EXPECT_TRUE(absl::IsNotFound(
        both.WithPrivateKey(kRaKeyLabel, [](EVP_PKEY*) { return absl::OkStatus(); })));
    EXPECT_TRUE(absl::IsNotFound(both.WithPrivateKey(
        "scep-test-ra", kCaKeyLabel, [](EVP_PKEY*) { return absl::OkStatus(); })));
    EXPECT_TRUE(absl::IsNotFound(both.WithPrivateKey(
        "not-configured", kRaKeyLabel, [](EVP_PKEY*) { return absl::OkStatus(); })));
    ASSERT_TRUE(both.Reconnect().ok());
  }
}

TEST_F(TokenTest, WrongPinOfAFurtherTokenIsPermissionDeniedNamingIt) {
  options_.ra_token_label = "scep-test-ra";
  options_.ra_user_pin = "864200";
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  token_.reset();
  TokenConfig config = ProvisionedTokenConfig(options_);
  config.further_tokens[0].pin = "000111";
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(config);
  ASSERT_TRUE(absl::IsPermissionDenied(token.status())) << token.status();
  EXPECT_NE(token.status().message().find("scep-test-ra"), std::string::npos);
  EXPECT_EQ(token.status().message().find("000111"), std::string::npos);
  EXPECT_EQ(token.status().message().find("864200"), std::string::npos);
}

// Someone finalises the module under the Token (as a crashed token or a
// libp11 unload elsewhere would): the first attempt fails, the Token finds
// the session broken, reconnects and runs fn again.
TEST_F(TokenTest, ReconnectsWhenSessionBreaksUnderneath) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Ec(NID_X9_62_prime256v1)));
  {
    absl::StatusOr<std::unique_ptr<Module>> module =
        Module::Load(options_.module_path);
    ASSERT_TRUE(module.ok()) << module.status();
    ASSERT_EQ((*module)->functions()->C_Finalize(nullptr), CKR_OK);
  }
  int calls = 0;
  absl::Status status = token_->WithPrivateKey(kCaKeyLabel, [&](EVP_PKEY* key) {
    ++calls;
    absl::Status sign_status;
    SignSha256(key, "payload", &sign_status);
    return sign_status;
  });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls, 2);
  ExpectSignVerifies(*token_, kCaKeyLabel);
}

// Finalises the module under every Cryptoki user in the process, as a
// crashed token or a libp11 unload elsewhere would.
void FinalizeModule(const std::string& module_path) {
  absl::StatusOr<std::unique_ptr<Module>> module = Module::Load(module_path);
  ASSERT_TRUE(module.ok()) << module.status();
  ASSERT_EQ((*module)->functions()->C_Finalize(nullptr), CKR_OK);
}

// The readiness probe's call. An HSM outage breaks the session while no
// key operation comes in (quiet hours; gateways stop calling a signer that
// is not ready): the probe itself must bring the token back, else the
// signer stays not ready for good.
TEST_F(TokenTest, PrivateKeyAttributesReconnectsOnceTheTokenIsBack) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Ec(NID_X9_62_prime256v1)));
  const std::string tokens = sandbox_->dir() + "/tokens";
  const std::string away = sandbox_->dir() + "/tokens-away";
  std::filesystem::rename(tokens, away);
  ASSERT_NO_FATAL_FAILURE(FinalizeModule(options_.module_path));
  EXPECT_FALSE(token_->PrivateKeyAttributes(kCaKeyLabel).ok());
  EXPECT_FALSE(token_->PrivateKeyAttributes(kCaKeyLabel).ok());
  std::filesystem::rename(away, tokens);

  // Never WithPrivateKey: only the probe's own calls may reconnect. The
  // deadline is generous (backoff is at most 30 s); only recovery counts.
  absl::StatusOr<KeyAttributes> attributes;
  for (const absl::Time give_up = absl::Now() + absl::Seconds(120); absl::Now() < give_up;
       absl::SleepFor(absl::Milliseconds(100))) {
    attributes = token_->PrivateKeyAttributes(kCaKeyLabel);
    if (attributes.ok()) break;
  }
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  EXPECT_TRUE(attributes->protected_in_token());
  EXPECT_TRUE(token_->PrivateKeyAttributes(kRaKeyLabel).ok());
  ExpectSignVerifies(*token_, kCaKeyLabel);
}

// The PIN was changed behind the signer's back (or the token was restored
// with another one) and the session breaks: each C_Login with the old PIN
// spends one of the PIN's tries until the HSM locks it. One refused login
// is the last: no request, probe or reconnect logs in again.
TEST_F(TokenTest, RefusedPinIsNeverTriedAgain) {
  void* counting = dlopen(SCEP_LOGIN_COUNTING_MODULE, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(counting, nullptr) << dlerror();
  auto login_calls =
      reinterpret_cast<long (*)()>(dlsym(counting, "scep_test_login_calls"));
  ASSERT_NE(login_calls, nullptr);
  options_.module_path = SCEP_LOGIN_COUNTING_MODULE;
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Ec(NID_X9_62_prime256v1)));
  constexpr char kNewPin[] = "24681357";
  {
    absl::StatusOr<UserSession> user =
        OpenUserSession(options_.module_path, options_.token_label, options_.user_pin);
    ASSERT_TRUE(user.ok()) << user.status();
    Session& session = *user->session;
    std::string old_pin = kPin;
    std::string new_pin = kNewPin;
    ASSERT_EQ(session.functions()->C_SetPIN(
                  session.handle(), reinterpret_cast<CK_UTF8CHAR_PTR>(old_pin.data()),
                  old_pin.size(), reinterpret_cast<CK_UTF8CHAR_PTR>(new_pin.data()),
                  new_pin.size()),
              static_cast<CK_RV>(CKR_OK));
  }
  int refusals_reported = 0;
  token_->OnLoginRefused([&](const absl::Status& refused) {
    ++refusals_reported;
    EXPECT_TRUE(absl::IsPermissionDenied(refused)) << refused;
  });
  ASSERT_NO_FATAL_FAILURE(FinalizeModule(options_.module_path));

  const long logins_before = login_calls();
  absl::Status status;
  for (int i = 0; i < 5; ++i) {
    status = token_->WithPrivateKey(kCaKeyLabel, [](EVP_PKEY* key) {
      absl::Status sign_status;
      SignSha256(key, "payload", &sign_status);
      return sign_status;
    });
    EXPECT_FALSE(status.ok());
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(absl::IsPermissionDenied(token_->PrivateKeyAttributes(kCaKeyLabel).status()));
  }
  EXPECT_TRUE(absl::IsPermissionDenied(token_->Reconnect()));
  EXPECT_LE(login_calls() - logins_before, 1);
  EXPECT_TRUE(absl::IsPermissionDenied(status)) << status;
  EXPECT_NE(status.message().find("CKR_PIN_INCORRECT"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find(kTokenLabel), absl::string_view::npos) << status;
  EXPECT_EQ(status.message().find(kPin), absl::string_view::npos);
  EXPECT_EQ(status.message().find(kNewPin), absl::string_view::npos);
  EXPECT_EQ(refusals_reported, 1);
  EXPECT_EQ(token_->LoginRefused(), status);
}

// Inspecting keys from a second Cryptoki user in the process shares the
// Token's login and must not log it out.
TEST_F(TokenTest, InspectWhileOpenKeepsTokenLoggedIn) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Rsa(2048)));
  absl::StatusOr<KeyAttributes> attributes =
      InspectPrivateKey(Config(), kRaKeyLabel);
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  EXPECT_TRUE(attributes->protected_in_token());
  ExpectSignVerifies(*token_, kCaKeyLabel);
}

TEST_F(TokenTest, ConcurrentUseFromEightThreadsAcrossReconnect) {
  ASSERT_NO_FATAL_FAILURE(PrepareAndOpen(KeySpec::Ec(NID_X9_62_prime256v1)));
  absl::StatusOr<crypto::EvpPkeyPtr> ca_public = token_->PublicKey(kCaKeyLabel);
  absl::StatusOr<crypto::EvpPkeyPtr> ra_public = token_->PublicKey(kRaKeyLabel);
  ASSERT_TRUE(ca_public.ok() && ra_public.ok());

  constexpr int kThreads = 8;
  constexpr int kSignaturesPerThread = 25;
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const char* label = t % 2 == 0 ? kCaKeyLabel : kRaKeyLabel;
      EVP_PKEY* verify_key = t % 2 == 0 ? ca_public->get() : ra_public->get();
      for (int i = 0; i < kSignaturesPerThread; ++i) {
        const std::string data = absl::StrCat("thread ", t, " message ", i);
        std::string signature;
        absl::Status status = token_->WithPrivateKey(label, [&](EVP_PKEY* key) {
          absl::Status sign_status;
          signature = SignSha256(key, data, &sign_status);
          return sign_status;
        });
        if (status.ok() && VerifySha256(verify_key, data, signature)) {
          ++good;
        } else {
          ++bad;
        }
      }
    });
  }
  absl::Status reconnect = token_->Reconnect();
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(reconnect.ok()) << reconnect;
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(good.load(), kThreads * kSignaturesPerThread);
}

// Two paths to one library are one module (libp11 would finalise it under
// the other "module"'s Token on every reconnect).
TEST(SameModuleFileTest, ASymlinkIsTheSameModule) {
  const std::string dir = ::testing::TempDir() + "/same_module_file_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string link = dir + "/libvendor-pkcs11.so";
  std::filesystem::create_symlink(SCEP_SOFTHSM2_MODULE, link);
  std::ofstream(dir + "/other.so") << "not a module";
  EXPECT_TRUE(SameModuleFile(SCEP_SOFTHSM2_MODULE, SCEP_SOFTHSM2_MODULE));
  EXPECT_TRUE(SameModuleFile(link, SCEP_SOFTHSM2_MODULE));
  EXPECT_TRUE(SameModuleFile(dir + "/../same_module_file_test/libvendor-pkcs11.so", link));
  EXPECT_FALSE(SameModuleFile(dir + "/other.so", SCEP_SOFTHSM2_MODULE));
  EXPECT_FALSE(SameModuleFile("libsofthsm2.so", SCEP_SOFTHSM2_MODULE));
  EXPECT_FALSE(SameModuleFile(dir + "/missing.so", SCEP_SOFTHSM2_MODULE));

  ProvisionOptions options;
  options.module_path = SCEP_SOFTHSM2_MODULE;
  options.ra_token_label = "scep-ra";
  options.ra_module_path = link;
  EXPECT_FALSE(RaTokenInOtherModule(options));
  EXPECT_EQ(ProvisionedTokenConfig(options).further_tokens.size(), 1u);
  options.ra_module_path = dir + "/other.so";
  EXPECT_TRUE(RaTokenInOtherModule(options));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace scep::pkcs11
