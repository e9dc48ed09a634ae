#include "services/signer/issuance_audit.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"
#include "common/crypto/oid.h"
#include "common/crypto/ssl_ptr.h"
#include "common/metrics/json_log.h"
#include "services/signer/usage_names.h"

namespace scep::signer {
namespace {

using metrics::LogLevel;
using metrics::LogRecord;

std::string Rfc3339(const ASN1_TIME* time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixSeconds(crypto::UnixSeconds(time)), absl::UTCTimeZone());
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

std::string SubjectText(X509* cert) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    crypto::DrainSslErrors();
    return "";
  }
  return BioText(bio.get());
}

// The certificate's extension `nid` as OpenSSL prints it ("DNS:a, IP
// Address:10.0.0.1"); "" without.
std::string ExtensionText(X509* cert, int nid) {
  const int idx = X509_get_ext_by_NID(cert, nid, -1);
  if (idx < 0) return "";
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || X509V3_EXT_print(bio.get(), X509_get_ext(cert, idx), 0, 0) != 1) {
    crypto::DrainSslErrors();
    return "";
  }
  return BioText(bio.get());
}

// keyUsage as the names profiles and policies use ("digitalSignature,
// keyEncipherment"); "" without the extension.
std::string KeyUsageText(X509* cert) {
  return absl::StrJoin(KeyUsageNamesOf(KeyUsageOf(cert)), ",");
}

// extendedKeyUsage as short names ("clientAuth"), dotted for unknown OIDs.
std::string ExtendedKeyUsageText(X509* cert) {
  crypto::ExtendedKeyUsagePtr ekus(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  std::string out;
  for (int i = 0; ekus != nullptr && i < sk_ASN1_OBJECT_num(ekus.get()); ++i) {
    const ASN1_OBJECT* obj = sk_ASN1_OBJECT_value(ekus.get(), i);
    const int nid = OBJ_obj2nid(obj);
    const char* name = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
    if (!out.empty()) out.push_back(',');
    out += name != nullptr ? std::string(name) : crypto::DottedOid(obj);
  }
  return out;
}

std::string PublicKeySha256(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) {
    crypto::DrainSslErrors();
    return "";
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  const bool ok = EVP_Digest(der, static_cast<size_t>(len), md, &md_len, EVP_sha256(), nullptr) == 1;
  OPENSSL_free(der);
  if (!ok) return "";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), md_len));
}

std::string SignatureAlgorithm(X509* cert) {
  const char* name = OBJ_nid2ln(X509_get_signature_nid(cert));
  return name != nullptr ? name : "unknown";
}

LogRecord& WithContext(LogRecord& record, const IssuanceContext& context) {
  record.Str("ca", context.ca).Str("caller", context.caller);
  if (!context.transaction_id.empty()) record.Str("transaction_id", context.transaction_id);
  if (!context.profile.empty()) record.Str("profile", context.profile);
  return record;
}

}  // namespace

IssuanceAudit::IssuanceAudit(std::ostream* out, std::function<absl::Time()> clock)
    : out_(out), clock_(std::move(clock)) {}

namespace {

// The file at `path` for appending, created 0640 when missing.
absl::StatusOr<int> OpenAppend(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open audit log ", path));
  }
  return fd;
}

// Appends `line` to `fd` whole, or not at all: a write refused part-way
// (disk full, quota, file-size limit) is cut off again, so the file never
// holds a partial line for a later one to run into. Only this process
// appends (under the caller's lock), so the size before is where it ends.
bool AppendWhole(int fd, absl::string_view line) {
  struct stat before;
  if (::fstat(fd, &before) != 0) return false;
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (done > 0) (void)::ftruncate(fd, before.st_size);
      return false;
    }
  }
  return true;
}

}  // namespace

IssuanceAudit::~IssuanceAudit() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<IssuanceAudit>> IssuanceAudit::OpenFile(const std::string& path) {
  absl::StatusOr<int> fd = OpenAppend(path);
  if (!fd.ok()) return fd.status();
  auto audit = std::make_unique<IssuanceAudit>(nullptr);
  audit->path_ = path;
  audit->fd_ = *fd;
  return audit;
}

absl::Status IssuanceAudit::Reopen() {
  if (path_.empty()) return absl::OkStatus();
  absl::StatusOr<int> fd = OpenAppend(path_);
  if (!fd.ok()) return fd.status();
  std::lock_guard<std::mutex> lock(mu_);
  ::close(fd_);
  fd_ = *fd;
  return absl::OkStatus();
}

bool IssuanceAudit::Write(std::string line) {
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  bool written;
  if (fd_ >= 0) {
    written = AppendWhole(fd_, line);
  } else {
    out_->write(line.data(), static_cast<std::streamsize>(line.size()));
    out_->flush();
    written = out_->good();
    out_->clear();
  }
  if (!written) write_errors_.fetch_add(1, std::memory_order_relaxed);
  return written;
}

bool IssuanceAudit::Issued(const IssuanceContext& context, X509* cert) {
  LogRecord record(LogLevel::kInfo, "certificate_issued");
  // What the certificate names goes in whole (WholeStr): the trail is the
  // record of what the CA signed, and a search for a name must find it.
  // Bounded by the certificate itself (which --audit_certificates logs
  // whole too): by the gateway profile's max_sans and max_subject_bytes
  // and request size limit, and by the CA's issuance policy
  // (max_san_entries, max_subject_bytes) where one is set.
  WithContext(record, context)
      .Str("serial", codec::SerialHex(X509_get0_serialNumber(cert)))
      .WholeStr("subject", SubjectText(cert))
      .WholeStr("subject_alt_name", ExtensionText(cert, NID_subject_alt_name))
      .Str("not_before", Rfc3339(X509_get0_notBefore(cert)))
      .Str("not_after", Rfc3339(X509_get0_notAfter(cert)))
      .Str("key_usage", KeyUsageText(cert))
      .WholeStr("extended_key_usage", ExtendedKeyUsageText(cert))
      .Str("signature_algorithm", SignatureAlgorithm(cert))
      .Str("public_key_sha256", PublicKeySha256(cert));
  if (include_certificates_) {
    // (One that does not encode is not delivered either: the caller
    // encodes it next and fails.)
    absl::StatusOr<std::string> der = crypto::ToDer(cert, i2d_X509);
    if (der.ok()) record.WholeStr("certificate", absl::Base64Escape(*der));
  }
  return Write(record.ToJson(clock_()));
}

bool IssuanceAudit::Refused(const IssuanceContext& context, absl::string_view rule,
                            absl::string_view message) {
  LogRecord record(LogLevel::kWarning, "issuance_refused");
  WithContext(record, context).Str("rule", rule).Str("reason", message);
  return Write(record.ToJson(clock_()));
}

bool IssuanceAudit::RateLimited(const IssuanceContext& context, absl::string_view reason) {
  LogRecord record(LogLevel::kWarning, "issuance_rate_limited");
  WithContext(record, context).Str("reason", reason);
  return Write(record.ToJson(clock_()));
}

}  // namespace scep::signer
