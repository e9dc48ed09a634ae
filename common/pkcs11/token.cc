#include "common/pkcs11/token.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/pkcs11/libp11_connection.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/rsa_oaep.h"
#include "common/pkcs11/session.h"

namespace scep::pkcs11 {
namespace {

// A refused login (PermissionDenied) stays what it is: it is final.
absl::Status AsUnavailable(absl::string_view token_label,
                           const absl::Status& status) {
  if (status.ok() || absl::IsUnavailable(status) || absl::IsPermissionDenied(status)) {
    return status;
  }
  return absl::UnavailableError(absl::StrCat(
      "token '", token_label, "' unavailable: ", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Token>> Token::Open(TokenConfig config) {
  ASSIGN_OR_RETURN(std::unique_ptr<Module> module,
                   Module::Load(config.module_path));
  std::unique_ptr<Token> token(new Token(std::move(config), std::move(module)));
  {
    std::unique_lock lock(token->mu_);
    RETURN_IF_ERROR(token->ConnectLocked());
  }
  return token;
}

Token::Token(TokenConfig config, std::unique_ptr<Module> module)
    : config_(std::move(config)), module_(std::move(module)) {}

Token::~Token() {
  {
    std::unique_lock lock(mu_);
    DisconnectLocked();
  }
  OPENSSL_cleanse(config_.pin.data(), config_.pin.size());
  for (TokenConfig::Further& further : config_.further_tokens) {
    OPENSSL_cleanse(further.pin.data(), further.pin.size());
  }
}

bool Token::Serves(absl::string_view token_label) const {
  if (token_label == config_.token_label) return true;
  for (const TokenConfig::Further& further : config_.further_tokens) {
    if (token_label == further.token_label) return true;
  }
  return false;
}

absl::Status Token::ConnectLocked() {
  if (login_refused_set_.load(std::memory_order_acquire)) {
    DisconnectLocked();
    return login_refused_;
  }
  absl::Status status = ConnectOnceLocked();
  if (status.ok()) {
    backoff_ = kFirstBackoff;
    next_attempt_ = absl::InfinitePast();
    last_error_.clear();
    return status;
  }
  last_error_ = std::string(status.message());
  next_attempt_ = absl::Now() + backoff_;
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  if (!absl::IsPermissionDenied(status)) return status;
  login_refused_ = absl::PermissionDeniedError(absl::StrCat(
      status.message(),
      "; not logging in again until restarted (each wrong PIN tried spends a try)"));
  login_refused_set_.store(true, std::memory_order_release);
  if (on_login_refused_) on_login_refused_(login_refused_);
  return login_refused_;
}

absl::Status Token::ConnectOnceLocked() {
  DisconnectLocked();
  std::vector<TokenLogin> logins;
  logins.push_back({config_.token_label, config_.pin});
  for (const TokenConfig::Further& further : config_.further_tokens) {
    logins.push_back({further.token_label, further.pin});
  }
  absl::StatusOr<std::unique_ptr<Libp11Connection>> connection =
      Libp11Connection::Connect(config_.module_path, logins);
  for (TokenLogin& login : logins) OPENSSL_cleanse(login.pin.data(), login.pin.size());
  if (!connection.ok()) return connection.status();
  // A session of our own per token on the same module: login state is
  // shared, and while it stays open the token cannot silently log us out.
  std::map<std::string, std::unique_ptr<Session>, std::less<>> monitors;
  for (const TokenLogin& login : logins) {
    ASSIGN_OR_RETURN(Session monitor,
                     Session::Open(*module_, (*connection)->slot_id(login.token_label),
                                   /*read_write=*/false));
    monitors[login.token_label] = std::make_unique<Session>(std::move(monitor));
  }
  monitors_ = std::move(monitors);
  connection_ = *std::move(connection);
  ++generation_;
  return absl::OkStatus();
}

void Token::DisconnectLocked() {
  // Our sessions go first: unloading finalises the module.
  {
    std::lock_guard idle_lock(idle_mu_);
    idle_sessions_.clear();
  }
  monitors_.clear();
  connection_.reset();
}

absl::StatusOr<bool> Token::ProbeLocked(absl::string_view token_label,
                                        absl::string_view label) {
  auto monitor = monitors_.find(token_label);
  if (connection_ == nullptr || monitor == monitors_.end()) {
    return absl::UnavailableError("not connected");
  }
  if (!connection_->LoggedIn(token_label)) {
    return absl::UnavailableError("libp11 reports not logged in");
  }
  std::lock_guard monitor_lock(monitor_mu_);
  ASSIGN_OR_RETURN(CK_SESSION_INFO info, monitor->second->Info());
  if (info.state != CKS_RO_USER_FUNCTIONS &&
      info.state != CKS_RW_USER_FUNCTIONS) {
    return absl::UnavailableError("user no longer logged in");
  }
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> key,
                   monitor->second->FindObject(CKO_PRIVATE_KEY, label));
  return key.has_value();
}

absl::Status Token::ReconnectIfStale(uint64_t seen_generation) {
  std::unique_lock lock(mu_);
  if (connection_ != nullptr && generation_ != seen_generation) {
    return absl::OkStatus();  // another thread already reconnected
  }
  return AsUnavailable(config_.token_label, ConnectLocked());
}

absl::Status Token::ReconnectIfDue(uint64_t seen_generation) {
  std::unique_lock lock(mu_);
  if (connection_ != nullptr && generation_ != seen_generation) {
    return absl::OkStatus();  // another thread already reconnected
  }
  if (login_refused_set_.load(std::memory_order_acquire)) return login_refused_;
  if (absl::Now() < next_attempt_) {
    return absl::UnavailableError(absl::StrCat("token '", config_.token_label,
                                               "' unavailable: ", last_error_,
                                               " (reconnecting with backoff)"));
  }
  return AsUnavailable(config_.token_label, ConnectLocked());
}

absl::Status Token::LoginRefused() const {
  if (!login_refused_set_.load(std::memory_order_acquire)) return absl::OkStatus();
  return login_refused_;
}

void Token::OnLoginRefused(std::function<void(const absl::Status&)> listener) {
  std::unique_lock lock(mu_);
  on_login_refused_ = std::move(listener);
  if (login_refused_set_.load(std::memory_order_acquire) && on_login_refused_) {
    on_login_refused_(login_refused_);
  }
}

absl::Status Token::WithPrivateKey(
    absl::string_view label, absl::FunctionRef<absl::Status(EVP_PKEY*)> fn) {
  return WithPrivateKey(config_.token_label, label, fn);
}

absl::Status Token::WithPrivateKey(absl::string_view token_label, absl::string_view label,
                                   absl::FunctionRef<absl::Status(EVP_PKEY*)> fn) {
  if (!Serves(token_label)) {
    return absl::NotFoundError(absl::StrCat("token '", token_label, "' is not configured"));
  }
  uint64_t seen_generation = 0;
  {
    std::shared_lock lock(mu_);
    seen_generation = generation_;
    if (const size_t count =
            connection_ != nullptr ? connection_->PrivateKeyCount(token_label, label) : 0;
        count > 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          count, " private keys are labelled '", label, "' in token '", token_label,
          "'; which one would be used is up to the token: remove or relabel all but one"));
    }
    EVP_PKEY* key =
        connection_ != nullptr ? connection_->PrivateKey(token_label, label) : nullptr;
    if (key != nullptr) {
      absl::Status status = fn(key);
      if (status.ok()) return status;
      absl::StatusOr<bool> present = ProbeLocked(token_label, label);
      if (present.ok() && *present) return status;  // fn's own failure
    } else if (connection_ != nullptr) {
      absl::StatusOr<bool> present = ProbeLocked(token_label, label);
      if (present.ok() && !*present) {
        return absl::NotFoundError(absl::StrCat(
            "token '", token_label, "' has no private key labelled '", label, "'"));
      }
    }
  }
  RETURN_IF_ERROR(ReconnectIfStale(seen_generation));
  std::shared_lock lock(mu_);
  EVP_PKEY* key =
      connection_ != nullptr ? connection_->PrivateKey(token_label, label) : nullptr;
  if (connection_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("token '", token_label, "' is disconnected"));
  }
  if (key == nullptr) {
    return absl::NotFoundError(absl::StrCat("token '", token_label,
                                            "' has no private key labelled '",
                                            label, "'"));
  }
  return fn(key);
}

absl::StatusOr<std::string> Token::DecryptOaep(absl::string_view token_label,
                                               absl::string_view label,
                                               const crypto::RsaOaepParams& params,
                                               absl::string_view ciphertext) {
  if (!Serves(token_label)) {
    return absl::NotFoundError(absl::StrCat("token '", token_label, "' is not configured"));
  }
  uint64_t seen_generation = 0;
  {
    std::shared_lock lock(mu_);
    RETURN_IF_ERROR(LoginRefused());
    seen_generation = generation_;
    if (connection_ != nullptr) {
      absl::StatusOr<std::string> plaintext =
          DecryptOaepLocked(token_label, label, params, ciphertext);
      if (!absl::IsUnavailable(plaintext.status())) return plaintext;
    }
  }
  RETURN_IF_ERROR(ReconnectIfStale(seen_generation));
  std::shared_lock lock(mu_);
  if (connection_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("token '", token_label, "' is disconnected"));
  }
  return DecryptOaepLocked(token_label, label, params, ciphertext);
}

absl::StatusOr<std::string> Token::DecryptOaepLocked(absl::string_view token_label,
                                                     absl::string_view label,
                                                     const crypto::RsaOaepParams& params,
                                                     absl::string_view ciphertext) {
  std::unique_ptr<Session> session;
  {
    std::lock_guard idle_lock(idle_mu_);
    if (auto idle = idle_sessions_.find(token_label);
        idle != idle_sessions_.end() && !idle->second.empty()) {
      session = std::move(idle->second.back());
      idle->second.pop_back();
    }
  }
  if (session == nullptr) {
    // Login state is the application's: a new session is logged in.
    absl::StatusOr<Session> opened =
        Session::Open(*module_, connection_->slot_id(token_label), /*read_write=*/false);
    if (!opened.ok()) return AsUnavailable(token_label, opened.status());
    session = std::make_unique<Session>(*std::move(opened));
  }
  absl::StatusOr<std::string> plaintext = DecryptRsaOaep(*session, label, params, ciphertext);
  if (!absl::IsUnavailable(plaintext.status())) {
    std::lock_guard idle_lock(idle_mu_);
    idle_sessions_[std::string(token_label)].push_back(std::move(session));
  }
  return plaintext;
}

absl::StatusOr<crypto::EvpPkeyPtr> Token::PublicKey(absl::string_view label) {
  return PublicKey(config_.token_label, label);
}

absl::StatusOr<crypto::EvpPkeyPtr> Token::PublicKey(absl::string_view token_label,
                                                    absl::string_view label) {
  std::shared_lock lock(mu_);
  if (connection_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("token '", token_label, "' is disconnected"));
  }
  return connection_->PublicKey(token_label, label);
}

absl::StatusOr<KeyAttributes> Token::PrivateKeyAttributes(absl::string_view label) {
  return PrivateKeyAttributes(config_.token_label, label);
}

absl::StatusOr<KeyAttributes> Token::PrivateKeyAttributes(absl::string_view token_label,
                                                          absl::string_view label) {
  if (!Serves(token_label)) {
    return absl::NotFoundError(absl::StrCat("token '", token_label, "' is not configured"));
  }
  auto read = [&]() -> absl::StatusOr<KeyAttributes> {
    auto monitor = monitors_.find(token_label);
    if (monitor == monitors_.end()) {
      return absl::UnavailableError(
          absl::StrCat("token '", token_label, "' is disconnected"));
    }
    std::lock_guard monitor_lock(monitor_mu_);
    return ReadPrivateKeyAttributes(*monitor->second, label);
  };
  uint64_t seen_generation = 0;
  {
    std::shared_lock lock(mu_);
    RETURN_IF_ERROR(LoginRefused());
    seen_generation = generation_;
    absl::StatusOr<bool> present = ProbeLocked(token_label, label);
    if (present.ok() && *present) return read();
    // A key the connection indexed that the token no longer shows means
    // the token was swapped or restored underneath: broken, like an error.
    if (present.ok() && connection_->PrivateKeyCount(token_label, label) == 0) {
      return absl::NotFoundError(absl::StrCat("token '", token_label,
                                              "' has no private key labelled '", label, "'"));
    }
  }
  // Readiness probes call this while no key operation may come in (a
  // signer that is not ready gets no traffic): they must reconnect.
  RETURN_IF_ERROR(ReconnectIfDue(seen_generation));
  std::shared_lock lock(mu_);
  return read();
}

absl::StatusOr<std::vector<std::string>> Token::PrivateKeyLabels(
    absl::string_view token_label) {
  std::shared_lock lock(mu_);
  if (connection_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("token '", token_label, "' is disconnected"));
  }
  return connection_->PrivateKeyLabels(token_label);
}

absl::Status Token::Reconnect() {
  std::unique_lock lock(mu_);
  return ConnectLocked();
}

}  // namespace scep::pkcs11
