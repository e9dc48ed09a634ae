#ifndef SCEP_SERVICES_GATEWAY_PREVIOUS_CA_REVOCATION_H_
#define SCEP_SERVICES_GATEWAY_PREVIOUS_CA_REVOCATION_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/ssl_ptr.h"
#include "common/redis/certificate_index.h"
#include "services/gateway/crl_cache.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// A SignerClient whose CRLs and OCSP answers are those of `ca`, a previous
// CA certificate of the issuing CA `inner` is bound to (after a CA
// rollover: SignCrlRequest.ca_certificate_sha256). Each one signed is
// checked against `ca`'s key: a signer from before that field signs with
// the current CA key, which would put a CRL under the wrong name into the
// cache; that is FailedPrecondition ("upgrade the signer") instead. The
// other calls are not for a previous CA: FailedPrecondition. Thread-safe;
// `inner` not owned.
class PreviousCaSigner final : public SignerClient {
 public:
  PreviousCaSigner(SignerClient* inner, crypto::X509Ptr ca);

  absl::StatusOr<CaCertificatesDer> GetCertificates() override;
  absl::StatusOr<std::string> Decrypt(absl::string_view enveloped) override;
  absl::StatusOr<std::string> Issue(const IssueRequest& request) override;
  absl::StatusOr<std::string> SignCertRep(absl::string_view content,
                                          const codec::ScepAttributes& attributes,
                                          absl::string_view digest) override;
  absl::StatusOr<std::string> SignCrl(const CrlRequest& request) override;
  absl::StatusOr<std::string> SignOcsp(const OcspSignRequest& request) override;

 private:
  SignerClient* const inner_;
  const crypto::X509Ptr ca_;
  const std::string sha256_;
};

// A view of `base` whose cached CRL is its own, kept in this process (the
// previous CA keys' CRLs where no Redis key of their own is at hand:
// unit tests, the in-process store). `base` not owned.
std::unique_ptr<redis::CertificateIndex> NewSeparateCrlIndex(redis::CertificateIndex* base);

// After a CA rollover, the revocation services of the CA keys an issuing
// CA replaced: per (CA name, previous CA certificate) a PreviousCaSigner
// and a CrlCache over an index view whose cached CRL is that key's
// (`index_for`), made on first use, since which previous CAs there are
// is learnt from the signer at run time. Thread-safe.
class PreviousCaRevocation {
 public:
  // The certificate index view for the CRL of CA key `key_id`
  // (crypto::CaKeyId) of issuing CA `name` ("" = default), given that CA's
  // own view `base`.
  using IndexFactory = std::function<absl::StatusOr<std::unique_ptr<redis::CertificateIndex>>(
      const std::string& name, const std::string& key_id, redis::CertificateIndex* base)>;

  // `index_for` null: NewSeparateCrlIndex.
  PreviousCaRevocation(IndexFactory index_for, absl::Duration crl_validity);

  // The signer answering OCSP for `previous` (issuing CA `name`, bound to
  // `signer`). Not owned; lives as long as this.
  SignerClient* SignerFor(const std::string& name, SignerClient* signer, X509* previous);

  // The current CRL of `previous` (as CrlCache::Get), which lists the
  // revocations `index` (issuing CA `name`'s view) lists.
  absl::StatusOr<std::shared_ptr<const std::string>> Crl(const std::string& name,
                                                         SignerClient* signer,
                                                         redis::CertificateIndex* index,
                                                         X509* previous);

 private:
  struct Entry {
    std::unique_ptr<PreviousCaSigner> signer;
    std::unique_ptr<redis::CertificateIndex> index;  // null until the CRL is asked for
    std::unique_ptr<CrlCache> crl;
  };
  Entry& EntryFor(const std::string& name, SignerClient* signer, X509* previous);

  const IndexFactory index_for_;
  const absl::Duration crl_validity_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;  // by name + "/" + SHA-256
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_PREVIOUS_CA_REVOCATION_H_
