#include "services/gateway/tls_client.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/ssl_error.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::gateway {
namespace {

// An encrypted key must fail to load, not ask for its passphrase on the
// terminal (OpenSSL's default), which would hang a gateway at start-up.
int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

absl::StatusOr<std::shared_ptr<TlsClientContext>> TlsClientContext::New(
    TlsClientFiles files, absl::string_view setting, absl::Duration recheck,
    TlsReloadLog reload_log) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(setting, ": cert_file and key_file go together"));
  }
  std::shared_ptr<TlsClientContext> context(
      new TlsClientContext(std::move(files), std::string(setting), recheck, std::move(reload_log)));
  absl::StatusOr<std::shared_ptr<SSL_CTX>> ctx = context->Load();
  if (!ctx.ok()) return ctx.status();
  absl::MutexLock lock(&context->mu_);
  context->ctx_ = *std::move(ctx);
  context->stamps_ = context->Stamps();
  context->next_check_ = absl::Now() + recheck;
  return context;
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> TlsClientContext::Load() const {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (ctx == nullptr) return crypto::SslInternal("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_default_passwd_cb(ctx.get(), NoPassphrase);
  // Send() retries a write with the same request string, which may have
  // moved if the caller's buffer was reallocated in between: allow it.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Many servers close without close_notify: an answer ended by closing
  // then reads as it does over plain TCP (its framing is HTTP's, as there).
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  auto failed = [&](absl::string_view field, const std::string& file, absl::string_view what) {
    return crypto::SslError(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat(setting_, absl::StartsWith(setting_, "--") ? "_" : ".", field, ": ", what,
                     " ", file));
  };
  if (files_.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return crypto::SslError(absl::StatusCode::kFailedPrecondition,
                              absl::StrCat(setting_, ": the system trust store does not load"));
    }
  } else if (SSL_CTX_load_verify_locations(ctx.get(), files_.ca_file.c_str(), nullptr) != 1) {
    return failed("ca_file", files_.ca_file, "no CA certificate loads from");
  }
  if (!files_.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), files_.cert_file.c_str()) != 1) {
      return failed("cert_file", files_.cert_file, "no certificate loads from");
    }
    crypto::BioPtr bio(BIO_new_file(files_.key_file.c_str(), "r"));
    crypto::EvpPkeyPtr key(bio == nullptr ? nullptr
                                          : PEM_read_bio_PrivateKey(bio.get(), nullptr,
                                                                    NoPassphrase, nullptr));
    if (key == nullptr) {
      return failed("key_file", files_.key_file, "no unencrypted PEM private key loads from");
    }
    if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      return failed("key_file", files_.key_file, "does not match cert_file:");
    }
  }
  return ctx;
}

std::vector<TlsClientContext::Stamp> TlsClientContext::Stamps() const {
  std::vector<Stamp> stamps;
  for (const std::string* file : {&files_.ca_file, &files_.cert_file, &files_.key_file}) {
    Stamp s;
    struct stat st;
    if (!file->empty() && stat(file->c_str(), &st) == 0) {
      s = {st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
    }
    stamps.push_back(s);
  }
  return stamps;
}

std::shared_ptr<SSL_CTX> TlsClientContext::Get() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now < next_check_) return ctx_;
  next_check_ = now + recheck_;
  std::vector<Stamp> stamps = Stamps();
  if (stamps == stamps_) return ctx_;
  // Not tried again until the files change again; a half-written renewal
  // changes them once more when it is complete.
  stamps_ = std::move(stamps);
  absl::StatusOr<std::shared_ptr<SSL_CTX>> loaded = Load();
  if (loaded.ok()) {
    ctx_ = *std::move(loaded);
    ++reloads_;
  }
  ERR_clear_error();
  if (reload_log_.log != nullptr) {
    using metrics::LogLevel;
    using metrics::LogRecord;
    LogRecord line(loaded.ok() ? LogLevel::kInfo : LogLevel::kError,
                   absl::StrCat(reload_log_.event,
                                loaded.ok() ? "_reloaded" : "_reload_failed"));
    if (!reload_log_.profile.empty()) line.Str("profile", reload_log_.profile);
    line.Str("setting", setting_);
    if (!loaded.ok()) {
      line.Str("reason", loaded.status().message())
          .Str("note", "the files loaded before stay in use");
    }
    reload_log_.log->Log(line);
  }
  return ctx_;
}

int TlsClientContext::reloads() const {
  absl::MutexLock lock(&mu_);
  return reloads_;
}

}  // namespace scep::gateway
