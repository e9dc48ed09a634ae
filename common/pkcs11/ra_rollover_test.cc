#include "common/pkcs11/ra_rollover.h"

#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "common/crypto/pem.h"
#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/session.h"
#include "common/pkcs11/sandbox_options.h"
#include "common/pkcs11/softhsm_sandbox.h"
#include "gtest/gtest.h"

namespace scep::pkcs11 {
namespace {

TEST(RaRolloverNamesTest, PreviousNamesSitBesideTheCurrentOnes) {
  EXPECT_EQ(PreviousPath("/etc/scep/pki/ra.pem"), "/etc/scep/pki/ra-previous.pem");
  EXPECT_EQ(PreviousPath("ra-key.pem"), "ra-key-previous.pem");
  EXPECT_EQ(PreviousPath("/keys/ra.key"), "/keys/ra.key-previous");
  EXPECT_EQ(PreviousRaKeyLabel("scep-ra"), "scep-ra.previous");
  EXPECT_EQ(PreviousRaKeyLabel("scep-ra-wifi"), "scep-ra-wifi.previous");
}

class RaRolloverTest : public SandboxTokenTest {
 protected:
  // Provisions and writes ca.pem and ra.pem; returns the CA certificate.
  crypto::X509Ptr ProvisionAndWrite() {
    absl::StatusOr<ProvisionResult> result = Provision(options_);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return nullptr;
    EXPECT_TRUE(WriteServiceCertificates(result->certificates, dir_).ok());
    ProvisionOptions later = options_;
    later.so_pin.clear();
    options_ = later;
    return std::move(result->certificates.ca);
  }

  crypto::X509Ptr Read(const std::string& name) {
    absl::StatusOr<crypto::X509Ptr> cert = ReadCertificatePem(dir_ + "/" + name);
    EXPECT_TRUE(cert.ok()) << name << ": " << cert.status();
    return cert.ok() ? *std::move(cert) : nullptr;
  }

  TokenConfig Config() const {
    return {options_.module_path, options_.token_label, options_.user_pin, {}};
  }
};

TEST_F(RaRolloverTest, TokenKeyRollsOverAndThePreviousIsKeptUntilDropped) {
  crypto::X509Ptr ca = ProvisionAndWrite();
  ASSERT_NE(ca, nullptr);
  crypto::X509Ptr old_ra = Read("ra.pem");

  absl::StatusOr<RaRollover> rolled = RollOverRaKey(options_, ca.get(), dir_);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  EXPECT_FALSE(rolled->resumed);
  crypto::X509Ptr new_ra = Read("ra.pem");
  EXPECT_EQ(X509_cmp(new_ra.get(), rolled->ra.get()), 0);
  EXPECT_EQ(X509_cmp(Read("ra-previous.pem").get(), old_ra.get()), 0);
  EXPECT_NE(EVP_PKEY_eq(X509_get0_pubkey(new_ra.get()), X509_get0_pubkey(old_ra.get())), 1)
      << "a new key";
  EXPECT_EQ(X509_check_issued(ca.get(), new_ra.get()), X509_V_OK);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(new_ra.get()),
                          X509_get_subject_name(old_ra.get())),
            0);

  // Both keys in the token, each under its label, still sensitive.
  {
    absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(Config());
    ASSERT_TRUE(token.ok()) << token.status();
    absl::StatusOr<crypto::EvpPkeyPtr> current = (*token)->PublicKey(kRaKeyLabel);
    absl::StatusOr<crypto::EvpPkeyPtr> previous =
        (*token)->PublicKey(PreviousRaKeyLabel(kRaKeyLabel));
    ASSERT_TRUE(current.ok() && previous.ok());
    EXPECT_EQ(EVP_PKEY_eq(current->get(), X509_get0_pubkey(new_ra.get())), 1);
    EXPECT_EQ(EVP_PKEY_eq(previous->get(), X509_get0_pubkey(old_ra.get())), 1);
  }
  absl::StatusOr<KeyAttributes> previous_attributes =
      InspectPrivateKey(Config(), PreviousRaKeyLabel(kRaKeyLabel));
  ASSERT_TRUE(previous_attributes.ok()) << previous_attributes.status();
  EXPECT_TRUE(previous_attributes->sensitive);
  EXPECT_FALSE(previous_attributes->extractable);
  EXPECT_TRUE(PreviousRaKeyExists(options_).value_or(false));

  // A second rollover while the previous key is kept is refused, unchanged.
  absl::StatusOr<RaRollover> again = RollOverRaKey(options_, ca.get(), dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();
  EXPECT_NE(again.status().message().find("--drop-previous-ra"), std::string::npos);
  EXPECT_EQ(X509_cmp(Read("ra.pem").get(), new_ra.get()), 0);

  absl::StatusOr<DroppedPreviousRa> dropped = DropPreviousRa(options_, dir_);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_TRUE(dropped->certificate);
  EXPECT_TRUE(dropped->key);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ra-previous.pem"));
  EXPECT_TRUE(absl::IsNotFound(
      InspectPrivateKey(Config(), PreviousRaKeyLabel(kRaKeyLabel)).status()));
  EXPECT_TRUE(InspectPrivateKey(Config(), kRaKeyLabel).ok());
  EXPECT_FALSE(PreviousRaKeyExists(options_).value_or(true));
  EXPECT_TRUE(absl::IsNotFound(DropPreviousRa(options_, dir_).status()));

  // With the previous key dropped, the next rollover goes ahead.
  absl::StatusOr<RaRollover> next = RollOverRaKey(options_, ca.get(), dir_);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(X509_cmp(Read("ra-previous.pem").get(), new_ra.get()), 0);
}

TEST_F(RaRolloverTest, KeyFileRollsOverAndAnInterruptedRolloverCompletes) {
  options_.ra_key_file = sandbox_->dir() + "/keys/ra-key.pem";
  crypto::X509Ptr ca = ProvisionAndWrite();
  ASSERT_NE(ca, nullptr);
  crypto::X509Ptr old_ra = Read("ra.pem");
  const std::string previous_file = sandbox_->dir() + "/keys/ra-key-previous.pem";

  absl::StatusOr<RaRollover> rolled = RollOverRaKey(options_, ca.get(), dir_);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  absl::StatusOr<crypto::EvpPkeyPtr> previous_key = crypto::LoadPrivateKeyFile(previous_file);
  absl::StatusOr<crypto::EvpPkeyPtr> current_key =
      crypto::LoadPrivateKeyFile(options_.ra_key_file);
  ASSERT_TRUE(previous_key.ok() && current_key.ok());
  EXPECT_EQ(EVP_PKEY_eq(previous_key->get(), X509_get0_pubkey(old_ra.get())), 1);
  EXPECT_EQ(EVP_PKEY_eq(current_key->get(), X509_get0_pubkey(Read("ra.pem").get())), 1);
  struct stat st {};
  ASSERT_EQ(stat(previous_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No RA key went into the token.
  EXPECT_TRUE(absl::IsNotFound(InspectPrivateKey(Config(), kRaKeyLabel).status()));

  // Interrupted after the new key was generated, before ra.pem was written:
  // running again certifies the new key.
  ASSERT_TRUE(WriteCertificatePem(old_ra.get(), dir_ + "/ra.pem").ok());
  absl::StatusOr<RaRollover> resumed = RollOverRaKey(options_, ca.get(), dir_);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_TRUE(resumed->resumed);
  EXPECT_EQ(EVP_PKEY_eq(current_key->get(), X509_get0_pubkey(Read("ra.pem").get())), 1);

  // Interrupted after the key moved, before the new one was generated.
  ASSERT_TRUE(WriteCertificatePem(old_ra.get(), dir_ + "/ra.pem").ok());
  std::filesystem::remove(options_.ra_key_file);
  resumed = RollOverRaKey(options_, ca.get(), dir_);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_TRUE(resumed->resumed);
  absl::StatusOr<crypto::EvpPkeyPtr> generated =
      crypto::LoadPrivateKeyFile(options_.ra_key_file);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(EVP_PKEY_eq(generated->get(), X509_get0_pubkey(Read("ra.pem").get())), 1);
  EXPECT_EQ(X509_cmp(Read("ra-previous.pem").get(), old_ra.get()), 0);

  absl::StatusOr<DroppedPreviousRa> dropped = DropPreviousRa(options_, dir_);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_TRUE(dropped->certificate && dropped->key);
  EXPECT_FALSE(std::filesystem::exists(previous_file));
  EXPECT_TRUE(std::filesystem::exists(options_.ra_key_file));
}

TEST_F(RaRolloverTest, RaKeyInAnotherTokenRollsOverThere) {
  options_.ra_token_label = "scep-dev-ra";
  options_.ra_user_pin = "97531";
  crypto::X509Ptr ca = ProvisionAndWrite();
  ASSERT_NE(ca, nullptr);
  crypto::X509Ptr old_ra = Read("ra.pem");
  absl::StatusOr<RaRollover> rolled = RollOverRaKey(options_, ca.get(), dir_);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  crypto::X509Ptr new_ra = Read("ra.pem");
  const TokenConfig ra_token{options_.module_path, "scep-dev-ra", "97531", {}};
  // Both RA keys in the RA token, none in the CA's.
  EXPECT_TRUE(InspectPrivateKey(ra_token, PreviousRaKeyLabel(kRaKeyLabel)).ok());
  EXPECT_TRUE(InspectPrivateKey(ra_token, kRaKeyLabel).ok());
  EXPECT_TRUE(absl::IsNotFound(InspectPrivateKey(Config(), kRaKeyLabel).status()));
  EXPECT_TRUE(absl::IsNotFound(
      InspectPrivateKey(Config(), PreviousRaKeyLabel(kRaKeyLabel)).status()));
  {
    absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(ProvisionedTokenConfig(options_));
    ASSERT_TRUE(token.ok()) << token.status();
    absl::StatusOr<crypto::EvpPkeyPtr> previous =
        (*token)->PublicKey("scep-dev-ra", PreviousRaKeyLabel(kRaKeyLabel));
    absl::StatusOr<crypto::EvpPkeyPtr> current = (*token)->PublicKey("scep-dev-ra", kRaKeyLabel);
    ASSERT_TRUE(previous.ok() && current.ok());
    EXPECT_EQ(EVP_PKEY_eq(previous->get(), X509_get0_pubkey(old_ra.get())), 1);
    EXPECT_EQ(EVP_PKEY_eq(current->get(), X509_get0_pubkey(new_ra.get())), 1);
  }
  absl::StatusOr<DroppedPreviousRa> dropped = DropPreviousRa(options_, dir_);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_TRUE(dropped->key);
  EXPECT_TRUE(absl::IsNotFound(
      InspectPrivateKey(ra_token, PreviousRaKeyLabel(kRaKeyLabel)).status()));
  // A wrong RA token PIN is refused without touching anything, and without
  // the PIN in the message.
  options_.ra_user_pin = "11111";
  absl::StatusOr<RaRollover> refused = RollOverRaKey(options_, ca.get(), dir_);
  EXPECT_TRUE(absl::IsPermissionDenied(refused.status())) << refused.status();
  EXPECT_EQ(refused.status().message().find("11111"), std::string::npos);
  EXPECT_EQ(X509_cmp(Read("ra.pem").get(), new_ra.get()), 0);
}

// The CA key's own type counts, not --ca-key: a token provisioned with an
// EC CA rolls over with the default options (RSA-2048).
TEST_F(RaRolloverTest, CaKeyOfAnotherTypeThanCaKeyOptionRollsOver) {
  options_.ca_key = KeySpec::Ec(NID_X9_62_prime256v1);
  crypto::X509Ptr ca = ProvisionAndWrite();
  ASSERT_NE(ca, nullptr);
  crypto::X509Ptr old_ra = Read("ra.pem");
  options_.ca_key = KeySpec::Rsa(2048);  // the documented command names no --ca-key
  absl::StatusOr<RaRollover> rolled = RollOverRaKey(options_, ca.get(), dir_);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  EXPECT_EQ(X509_get_signature_nid(rolled->ra.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(X509_cmp(Read("ra-previous.pem").get(), old_ra.get()), 0);
  EXPECT_TRUE(InspectPrivateKey(Config(), kRaKeyLabel).ok());
  EXPECT_TRUE(InspectPrivateKey(Config(), PreviousRaKeyLabel(kRaKeyLabel)).ok());
  EXPECT_EQ(InspectPrivateKey(Config(), kCaKeyLabel)->type, "EC-P256");
}

// Two CAs in one token, and the rollover pointed at the second CA's
// directory without its labels: refused before anything moves, naming the
// labels to pass.
TEST_F(RaRolloverTest, AnotherCasDirectoryWithoutItsLabelsIsRefusedUnchanged) {
  crypto::X509Ptr ca = ProvisionAndWrite();
  ASSERT_NE(ca, nullptr);
  ProvisionOptions wifi = options_;
  wifi.reuse_existing_token = true;
  wifi.ca_key_label = "scep-ca-wifi";
  wifi.ra_key_label = "scep-ra-wifi";
  wifi.ca_subject = "CN=Wi-Fi CA";
  absl::StatusOr<ProvisionResult> second = Provision(wifi);
  ASSERT_TRUE(second.ok()) << second.status();
  const std::string wifi_dir = dir_ + "/wifi";
  ASSERT_TRUE(WriteServiceCertificates(second->certificates, wifi_dir).ok());

  // Default labels, the Wi-Fi CA's files.
  absl::StatusOr<RaRollover> rolled =
      RollOverRaKey(options_, second->certificates.ca.get(), wifi_dir);
  ASSERT_TRUE(absl::IsFailedPrecondition(rolled.status())) << rolled.status();
  EXPECT_NE(rolled.status().message().find("'scep-ca'"), std::string::npos) << rolled.status();
  EXPECT_NE(rolled.status().message().find("--ca-label scep-ca-wifi"), std::string::npos)
      << rolled.status();
  // The right CA, the wrong RA label: ra.pem is scep-ra-wifi's.
  ProvisionOptions ca_only = options_;
  ca_only.ca_key_label = "scep-ca-wifi";
  rolled = RollOverRaKey(ca_only, second->certificates.ca.get(), wifi_dir);
  ASSERT_TRUE(absl::IsFailedPrecondition(rolled.status())) << rolled.status();
  EXPECT_NE(rolled.status().message().find("'scep-ra'"), std::string::npos) << rolled.status();
  EXPECT_NE(rolled.status().message().find("--ra-label scep-ra-wifi"), std::string::npos)
      << rolled.status();

  // Nothing moved: both RA keys under their labels, no previous RA.
  for (const char* label : {kRaKeyLabel, "scep-ra-wifi"}) {
    EXPECT_TRUE(InspectPrivateKey(Config(), label).ok()) << label;
    EXPECT_TRUE(absl::IsNotFound(
        InspectPrivateKey(Config(), PreviousRaKeyLabel(label)).status()))
        << label;
  }
  EXPECT_FALSE(std::filesystem::exists(wifi_dir + "/ra-previous.pem"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ra-previous.pem"));
  EXPECT_EQ(X509_cmp(Read("wifi/ra.pem").get(), second->certificates.ra.get()), 0);

  // With both labels it goes ahead, and the default CA's RA key stays.
  absl::StatusOr<RaRollover> right =
      RollOverRaKey(wifi, second->certificates.ca.get(), wifi_dir);
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_TRUE(InspectPrivateKey(Config(), PreviousRaKeyLabel("scep-ra-wifi")).ok());
  EXPECT_TRUE(absl::IsNotFound(
      InspectPrivateKey(Config(), PreviousRaKeyLabel(kRaKeyLabel)).status()));
}

TEST_F(RaRolloverTest, ChecksThatCannotPassLaterAreMadeBeforeAnythingChanges) {
  options_.ra_key_file = sandbox_->dir() + "/keys/ra-key.pem";
  crypto::X509Ptr ca = ProvisionAndWrite();
  ASSERT_NE(ca, nullptr);
  crypto::X509Ptr old_ra = Read("ra.pem");
  auto unchanged = [&](absl::string_view what) {
    EXPECT_TRUE(std::filesystem::exists(options_.ra_key_file)) << what;
    EXPECT_FALSE(std::filesystem::exists(sandbox_->dir() + "/keys/ra-key-previous.pem"))
        << what;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/ra-previous.pem")) << what;
    EXPECT_EQ(X509_cmp(Read("ra.pem").get(), old_ra.get()), 0) << what;
  };

  // A temporary key file left behind by a crash.
  const std::string tmp = options_.ra_key_file + ".tmp";
  { std::ofstream(tmp) << "stale"; }
  absl::StatusOr<RaRollover> rolled = RollOverRaKey(options_, ca.get(), dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(rolled.status())) << rolled.status();
  EXPECT_NE(rolled.status().message().find(tmp), std::string::npos) << rolled.status();
  unchanged("stale tmp");
  std::filesystem::remove(tmp);

  // An RA subject that does not parse.
  ProvisionOptions bad_subject = options_;
  bad_subject.ra_subject = "CN=a,b";
  EXPECT_TRUE(absl::IsInvalidArgument(RollOverRaKey(bad_subject, ca.get(), dir_).status()));
  unchanged("bad subject");

  // A CA certificate of another key.
  ProvisionOptions other = options_;
  other.token_label = "other";
  other.ra_key_file = sandbox_->dir() + "/keys/other-ra-key.pem";
  other.so_pin = kSandboxSoPin;
  absl::StatusOr<ProvisionResult> other_ca = Provision(other);
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  rolled = RollOverRaKey(options_, other_ca->certificates.ca.get(), dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(rolled.status())) << rolled.status();
  unchanged("other CA");

  // ra.pem of another key than the key file's.
  ASSERT_TRUE(WriteCertificatePem(other_ca->certificates.ra.get(), dir_ + "/ra.pem").ok());
  rolled = RollOverRaKey(options_, ca.get(), dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(rolled.status())) << rolled.status();
  EXPECT_NE(rolled.status().message().find(options_.ra_key_file), std::string::npos)
      << rolled.status();
  ASSERT_TRUE(WriteCertificatePem(old_ra.get(), dir_ + "/ra.pem").ok());
  unchanged("ra.pem of another key");

  ASSERT_TRUE(RollOverRaKey(options_, ca.get(), dir_).ok());
}

// Interrupted between renaming the public and the private half of the RA
// key: running again gives the public half its label back and rolls over.
TEST_F(RaRolloverTest, RolloverInterruptedBetweenTheTwoHalvesCompletes) {
  crypto::X509Ptr ca = ProvisionAndWrite();
  ASSERT_NE(ca, nullptr);
  crypto::X509Ptr old_ra = Read("ra.pem");
  {
    absl::StatusOr<UserSession> user =
        OpenUserSession(options_.module_path, options_.token_label, options_.user_pin);
    ASSERT_TRUE(user.ok()) << user.status();
    Session* session = &*user->session;
    absl::StatusOr<std::optional<CK_OBJECT_HANDLE>> pub =
        session->FindObject(CKO_PUBLIC_KEY, kRaKeyLabel);
    ASSERT_TRUE(pub.ok() && pub->has_value());
    std::string label = PreviousRaKeyLabel(kRaKeyLabel);
    std::string id = KeyIdForLabel(label);
    CK_ATTRIBUTE renamed[] = {{CKA_LABEL, label.data(), label.size()},
                              {CKA_ID, id.data(), id.size()}};
    ASSERT_EQ(session->functions()->C_SetAttributeValue(session->handle(), **pub, renamed, 2),
              static_cast<CK_RV>(CKR_OK));
  }
  ASSERT_TRUE(WriteCertificatePem(old_ra.get(), dir_ + "/ra-previous.pem").ok());

  absl::StatusOr<RaRollover> rolled = RollOverRaKey(options_, ca.get(), dir_);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(Config());
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<crypto::EvpPkeyPtr> previous =
      (*token)->PublicKey(PreviousRaKeyLabel(kRaKeyLabel));
  ASSERT_TRUE(previous.ok()) << previous.status();
  EXPECT_EQ(EVP_PKEY_eq(previous->get(), X509_get0_pubkey(old_ra.get())), 1);
  EXPECT_NE(EVP_PKEY_eq(X509_get0_pubkey(Read("ra.pem").get()), X509_get0_pubkey(old_ra.get())),
            1);
}

TEST_F(RaRolloverTest, NothingToRollOverIsNotFound) {
  crypto::X509Ptr ca = ProvisionAndWrite();
  ASSERT_NE(ca, nullptr);
  options_.ra_key_label = "no-such-ra";
  absl::StatusOr<RaRollover> rolled = RollOverRaKey(options_, ca.get(), dir_);
  EXPECT_TRUE(absl::IsNotFound(rolled.status())) << rolled.status();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ra-previous.pem"));
}

}  // namespace
}  // namespace scep::pkcs11
