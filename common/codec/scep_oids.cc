#include "common/codec/scep_oids.h"

#include <openssl/objects.h>

#include <cstdlib>

namespace scep::codec {
namespace {

const ASN1_OBJECT* MakeOid(const char* dotted) {
  // no_name=1: a numeric OID, not looked up in (or added to) OpenSSL's table.
  ASN1_OBJECT* obj = OBJ_txt2obj(dotted, 1);
  if (obj == nullptr) std::abort();  // constant input: cannot fail
  return obj;
}

}  // namespace

const ScepOids& Oids() {
  static const ScepOids* oids = new ScepOids{
      MakeOid("2.16.840.1.113733.1.9.2"), MakeOid("2.16.840.1.113733.1.9.3"),
      MakeOid("2.16.840.1.113733.1.9.4"), MakeOid("2.16.840.1.113733.1.9.5"),
      MakeOid("2.16.840.1.113733.1.9.6"), MakeOid("2.16.840.1.113733.1.9.7"),
      MakeOid("1.3.6.1.5.5.7.24.1"),
  };
  return *oids;
}

}  // namespace scep::codec
