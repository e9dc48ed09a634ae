#include "common/crypto/oid.h"

#include <openssl/objects.h>

#include "common/crypto/ssl_ptr.h"

namespace scep::crypto {

std::string DottedOid(const ASN1_OBJECT* obj) {
  char buf[128];
  const int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
  return n > 0 && n < static_cast<int>(sizeof(buf)) ? std::string(buf, n) : std::string();
}

std::string DottedOidOf(absl::string_view name) {
  Asn1ObjectPtr obj(OBJ_txt2obj(std::string(name).c_str(), 0));
  return obj == nullptr ? std::string() : DottedOid(obj.get());
}

}  // namespace scep::crypto
