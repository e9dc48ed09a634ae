#include "common/codec/der_tlv.h"

#include <openssl/asn1.h>

namespace scep::codec {

std::optional<DerTlv> ReadDerTlv(absl::string_view in) {
  const auto* start = reinterpret_cast<const unsigned char*>(in.data());
  const unsigned char* p = start;
  long length = 0;
  int tag = 0, cls = 0;
  const int ret = ASN1_get_object(&p, &length, &tag, &cls, static_cast<long>(in.size()));
  if ((ret & 0x80) != 0 || ret == 0x21 || length < 0 ||
      static_cast<size_t>(length) > in.size() - static_cast<size_t>(p - start)) {
    return std::nullopt;
  }
  DerTlv tlv;
  tlv.tag_number = tag;
  tlv.tag_class = cls;
  tlv.constructed = (ret & V_ASN1_CONSTRUCTED) != 0;
  tlv.header = static_cast<size_t>(p - start);
  tlv.length = static_cast<size_t>(length);
  return tlv;
}

}  // namespace scep::codec
