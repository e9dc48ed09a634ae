#ifndef SCEP_SERVICES_GATEWAY_TLS_CLIENT_H_
#define SCEP_SERVICES_GATEWAY_TLS_CLIENT_H_

// The TLS side of the gateway's outgoing hooks (https:// verifier and
// notice URLs): whom the gateway trusts for a receiver, and the client
// certificate it shows to receivers that ask for one. Built when the
// profiles are loaded, so a missing or unreadable file stops the gateway
// at start-up instead of failing each delivery. The files are read again
// when they change (cert-manager renewing the client certificate, a CA
// bundle rotated in its ConfigMap), checked at most every `recheck`; a
// change that does not load keeps the files that did, and says so in the
// log (`hook_tls_reload_failed`) when given one.

#include <openssl/ssl.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/json_log.h"

namespace scep::gateway {

struct TlsClientFiles {
  // PEM certificates trusted for the receiver's chain; "" = the system's
  // trust store (ca-certificates).
  std::string ca_file;
  // A client certificate (PEM, the leaf first, then intermediates) and its
  // unencrypted private key, for receivers that require mutual TLS; both
  // or neither.
  std::string cert_file;
  std::string key_file;
};

// Where reloads are told: the log (not owned; null = nowhere), the
// profile the files belong to ("" = none), and the event's name
// (`event`_reloaded, `event`_reload_failed).
struct TlsReloadLog {
  metrics::JsonLogger* log = nullptr;
  std::string profile;
  std::string event = "hook_tls";
};

class TlsClientContext {
 public:
  // FailedPrecondition naming `setting` and the file (never its contents)
  // when a file is missing, holds no certificate, or the key does not
  // match the certificate. Messages name a file's field as
  // `setting`.ca_file, or for a flag (`setting` starting with "--") as the
  // flag `setting`_ca_file ("--redis_tls" -> --redis_tls_ca_file).
  static absl::StatusOr<std::shared_ptr<TlsClientContext>> New(
      TlsClientFiles files, absl::string_view setting,
      absl::Duration recheck = absl::Seconds(10), TlsReloadLog reload_log = {});

  // The context for a new connection: TLS 1.2 or later, the receiver's
  // chain and name verified. Thread-safe.
  std::shared_ptr<SSL_CTX> Get();

  // Times the files were loaded again after a change.
  int reloads() const;

 private:
  // What stat says of each file: a change in any means reload.
  struct Stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    time_t mtime_s = 0;
    long mtime_ns = 0;
    bool operator==(const Stamp& o) const {
      return dev == o.dev && ino == o.ino && size == o.size && mtime_s == o.mtime_s &&
             mtime_ns == o.mtime_ns;
    }
    bool operator!=(const Stamp& o) const { return !(*this == o); }
  };
  TlsClientContext(TlsClientFiles files, std::string setting, absl::Duration recheck,
                   TlsReloadLog reload_log)
      : files_(std::move(files)), setting_(std::move(setting)), recheck_(recheck),
        reload_log_(std::move(reload_log)) {}
  absl::StatusOr<std::shared_ptr<SSL_CTX>> Load() const;
  std::vector<Stamp> Stamps() const;

  const TlsClientFiles files_;
  const std::string setting_;
  const absl::Duration recheck_;
  const TlsReloadLog reload_log_;
  mutable absl::Mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_ ABSL_GUARDED_BY(mu_);
  std::vector<Stamp> stamps_ ABSL_GUARDED_BY(mu_);
  absl::Time next_check_ ABSL_GUARDED_BY(mu_);
  int reloads_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_TLS_CLIENT_H_
