#ifndef SCEP_COMMON_CODEC_SCEP_OIDS_H_
#define SCEP_COMMON_CODEC_SCEP_OIDS_H_

#include <openssl/asn1.h>

namespace scep::codec {

// Attribute OIDs of RFC 8894 section 3.2.1 (id-VeriSign 2.16.840.1.113733.1.9.x)
// and failInfoText (id-scep-failInfoText, 1.3.6.1.5.5.7.24.1). The objects
// are created once, never freed, and safe to share between threads.
struct ScepOids {
  const ASN1_OBJECT* message_type;
  const ASN1_OBJECT* pki_status;
  const ASN1_OBJECT* fail_info;
  const ASN1_OBJECT* sender_nonce;
  const ASN1_OBJECT* recipient_nonce;
  const ASN1_OBJECT* transaction_id;
  const ASN1_OBJECT* fail_info_text;
};

const ScepOids& Oids();

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_SCEP_OIDS_H_
