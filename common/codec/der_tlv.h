#ifndef SCEP_COMMON_CODEC_DER_TLV_H_
#define SCEP_COMMON_CODEC_DER_TLV_H_

#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace scep::codec {

// One TLV header of a DER walk (codec-internal: the envelope and pkiMessage
// readers that look at a few fields without parsing the whole message).
struct DerTlv {
  int tag_number = 0;    // as ASN1_get_object reports it
  int tag_class = 0;     // V_ASN1_UNIVERSAL, V_ASN1_CONTEXT_SPECIFIC, ...
  bool constructed = false;
  size_t header = 0;     // octets before the contents
  size_t length = 0;     // octets of contents
  size_t size() const { return header + length; }
};

// The TLV at the start of `in` (ASN1_get_object); nullopt when malformed,
// of indefinite length, or when its contents run past the end of `in`.
std::optional<DerTlv> ReadDerTlv(absl::string_view in);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_DER_TLV_H_
