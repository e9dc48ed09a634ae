#include "common/pkcs11/libp11_connection.h"

#include <libp11.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"
#include "common/pkcs11/ckr.h"

namespace scep::pkcs11 {
namespace {

// libp11 reports Cryptoki failures on the OpenSSL error queue under its own
// library code with the CK_RV as reason. Turns the queue into a Status whose
// code follows the CK_RV when there is one, `fallback` otherwise.
absl::Status Libp11Error(absl::StatusCode fallback, absl::string_view what) {
  const int ckr_library = ERR_get_CKR_code();
  std::optional<CK_RV> rv;
  std::string others;
  unsigned long error = 0;
  while ((error = ERR_get_error()) != 0) {
    if (!rv.has_value() && ERR_GET_LIB(error) == ckr_library) {
      rv = static_cast<CK_RV>(ERR_GET_REASON(error));
      continue;
    }
    char text[256];
    ERR_error_string_n(error, text, sizeof(text));
    absl::StrAppend(&others, others.empty() ? "" : "; ", text);
  }
  if (rv.has_value()) return CkrError(what, *rv);
  if (others.empty()) return absl::Status(fallback, what);
  return absl::Status(fallback, absl::StrCat(what, ": ", others));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Libp11Connection>> Libp11Connection::Connect(
    absl::string_view module_path, const std::vector<TokenLogin>& tokens) {
  PKCS11_CTX* ctx = PKCS11_CTX_new();
  if (ctx == nullptr) return crypto::SslInternal("PKCS11_CTX_new");
  std::unique_ptr<Libp11Connection> connection(new Libp11Connection(ctx));
  if (PKCS11_CTX_load(ctx, std::string(module_path).c_str()) != 0) {
    return Libp11Error(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat("cannot load PKCS#11 module '", module_path, "'"));
  }
  connection->loaded_ = true;
  if (PKCS11_enumerate_slots(ctx, &connection->slots_, &connection->slot_count_) != 0) {
    return Libp11Error(absl::StatusCode::kUnavailable,
                       "cannot enumerate PKCS#11 slots");
  }
  for (const TokenLogin& login : tokens) {
    RETURN_IF_ERROR(connection->Open(login));
  }
  return connection;
}

absl::Status Libp11Connection::Open(const TokenLogin& login) {
  const absl::string_view token_label = login.token_label;
  if (tokens_.find(token_label) != tokens_.end()) return absl::OkStatus();
  PKCS11_SLOT* slot = nullptr;
  for (unsigned int i = 0; i < slot_count_; ++i) {
    PKCS11_TOKEN* token = slots_[i].token;
    if (token != nullptr && token->initialized && token->label != nullptr &&
        token_label == token->label) {
      slot = &slots_[i];
      break;
    }
  }
  if (slot == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("no initialised token labelled '", token_label, "'"));
  }
  if (PKCS11_open_session(slot, /*rw=*/0) != 0) {
    return Libp11Error(
        absl::StatusCode::kUnavailable,
        absl::StrCat("cannot open a session on token '", token_label, "'"));
  }
  // libp11 copies the PIN for its own re-login; it needs a C string.
  std::string pin_copy(login.pin);
  int rc = PKCS11_login(slot, /*so=*/0, pin_copy.c_str());
  OPENSSL_cleanse(pin_copy.data(), pin_copy.size());
  if (rc != 0) {
    return Libp11Error(
        absl::StatusCode::kPermissionDenied,
        absl::StrCat("login to token '", token_label, "' failed"));
  }
  LoggedInToken& entry = tokens_[std::string(token_label)];
  entry.slot = slot;
  return IndexKeys(token_label, entry);
}

absl::Status Libp11Connection::IndexKeys(absl::string_view token_label,
                                         LoggedInToken& token) {
  PKCS11_KEY* keys = nullptr;
  unsigned int key_count = 0;
  if (PKCS11_enumerate_keys(token.slot->token, &keys, &key_count) != 0) {
    return Libp11Error(
        absl::StatusCode::kUnavailable,
        absl::StrCat("cannot list the keys of token '", token_label, "'"));
  }
  // libp11 0.4.12 crashes in PKCS11_get_public_key on a private key whose
  // public half is missing (or has another CKA_ID): ask only for those
  // that have one.
  PKCS11_KEY* public_keys = nullptr;
  unsigned int public_count = 0;
  if (PKCS11_enumerate_public_keys(token.slot->token, &public_keys, &public_count) != 0) {
    public_count = 0;  // then no public half is read: reported on use
    ERR_clear_error();
  }
  auto has_public_half = [&](const PKCS11_KEY& private_key) {
    for (unsigned int j = 0; j < public_count; ++j) {
      const PKCS11_KEY& other = public_keys[j];
      if (other.id_len == private_key.id_len &&
          (other.id_len == 0 || std::memcmp(other.id, private_key.id, other.id_len) == 0)) {
        return true;
      }
    }
    return false;
  };
  for (unsigned int i = 0; i < key_count; ++i) {
    PKCS11_KEY* key = &keys[i];
    if (!key->isPrivate || key->label == nullptr) continue;
    if (auto seen = token.keys.find(key->label); seen != token.keys.end()) {
      ++seen->second.count;  // refused on use: see PrivateKeyCount
      continue;
    }
    // A new reference in libp11 0.4.12; released in the destructor.
    crypto::EvpPkeyPtr private_key(PKCS11_get_private_key(key));
    if (private_key == nullptr) {
      return Libp11Error(absl::StatusCode::kUnavailable,
                         absl::StrCat("cannot load private key '", key->label,
                                      "' of token '", token_label, "'"));
    }
    Key entry{std::move(private_key), ""};
    crypto::EvpPkeyPtr public_key(has_public_half(*key) ? PKCS11_get_public_key(key)
                                                        : nullptr);
    if (public_key != nullptr) {
      absl::StatusOr<std::string> der =
          crypto::ToDer<EVP_PKEY>(public_key.get(), i2d_PUBKEY);
      if (der.ok()) entry.public_key_der = *std::move(der);
    }
    ERR_clear_error();  // a missing public half is reported on use
    token.keys.emplace(key->label, std::move(entry));
  }
  return absl::OkStatus();
}

Libp11Connection::~Libp11Connection() {
  // EVP_PKEYs point into libp11's key objects: release them first.
  tokens_.clear();
  if (slots_ != nullptr) PKCS11_release_all_slots(ctx_, slots_, slot_count_);
  if (loaded_) PKCS11_CTX_unload(ctx_);
  PKCS11_CTX_free(ctx_);
}

const Libp11Connection::LoggedInToken* Libp11Connection::Find(
    absl::string_view token_label) const {
  auto it = tokens_.find(token_label);
  return it == tokens_.end() ? nullptr : &it->second;
}

EVP_PKEY* Libp11Connection::PrivateKey(absl::string_view token_label,
                                       absl::string_view label) const {
  const LoggedInToken* token = Find(token_label);
  if (token == nullptr) return nullptr;
  auto it = token->keys.find(label);
  return it == token->keys.end() || it->second.count > 1 ? nullptr
                                                         : it->second.private_key.get();
}

size_t Libp11Connection::PrivateKeyCount(absl::string_view token_label,
                                         absl::string_view label) const {
  const LoggedInToken* token = Find(token_label);
  if (token == nullptr) return 0;
  auto it = token->keys.find(label);
  return it == token->keys.end() ? 0 : it->second.count;
}

absl::StatusOr<crypto::EvpPkeyPtr> Libp11Connection::PublicKey(
    absl::string_view token_label, absl::string_view label) const {
  const LoggedInToken* token = Find(token_label);
  if (token == nullptr) {
    return absl::NotFoundError(absl::StrCat("not logged in to token '", token_label, "'"));
  }
  auto it = token->keys.find(label);
  if (it == token->keys.end()) {
    return absl::NotFoundError(
        absl::StrCat("no private key labelled '", label, "'"));
  }
  if (it->second.count > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        it->second.count, " private keys are labelled '", label, "' in token '", token_label,
        "'; which one would be used is up to the token: remove or relabel all but one"));
  }
  if (it->second.public_key_der.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no public key paired (by CKA_ID) with '", label, "'"));
  }
  return crypto::FromDer<crypto::EvpPkeyPtr>(it->second.public_key_der,
                                             d2i_PUBKEY, "public key");
}

std::vector<std::string> Libp11Connection::PrivateKeyLabels(
    absl::string_view token_label) const {
  std::vector<std::string> labels;
  if (const LoggedInToken* token = Find(token_label); token != nullptr) {
    for (const auto& [label, key] : token->keys) labels.push_back(label);
  }
  return labels;
}

bool Libp11Connection::LoggedIn(absl::string_view token_label) const {
  const LoggedInToken* token = Find(token_label);
  int logged_in = 0;
  return token != nullptr && PKCS11_is_logged_in(token->slot, /*so=*/0, &logged_in) == 0 &&
         logged_in != 0;
}

unsigned long Libp11Connection::slot_id(absl::string_view token_label) const {
  const LoggedInToken* token = Find(token_label);
  return token == nullptr ? ~0ul : PKCS11_get_slotid_from_slot(token->slot);
}

}  // namespace scep::pkcs11
