#ifndef SCEP_COMMON_CODEC_ENVELOPE_INTERNAL_H_
#define SCEP_COMMON_CODEC_ENVELOPE_INTERNAL_H_

// Codec-internal: what envelope.cc and oaep_envelope.cc share.

#include <openssl/types.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::codec {

struct ParsedEnvelope {
  OSSL_LIB_CTX* context = nullptr;  // where its content cipher is fetched
  crypto::CmsPtr cms;
};

// EnvelopedData `der` parsed in the library context that has its content
// cipher (the legacy one for single DES). InvalidArgument when it is not
// one whole DER EnvelopedData.
absl::StatusOr<ParsedEnvelope> ParseEnvelopedData(absl::string_view der);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_ENVELOPE_INTERNAL_H_
