// Requests that parse but ask for what the gateway does not do: a content
// cipher it does not decrypt (badAlg) and a messageType it does not know
// (badRequest), each a signed FAILURE (RFC 8894 section 3.2.1.4), not
// badMessageCheck or HTTP 400.

#include "services/gateway/pki_test_fixture.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using codec::MessageType;
using codec::PkiStatus;
using testing::Identity;
using testing::PkiMessagesTest;

TEST_F(PkiMessagesTest, UnsupportedContentCipherIsBadAlg) {
  struct Case {
    const char* cipher;
    const char* text;
  } cases[] = {
      {"camellia-128-cbc", "content-encryption algorithm camellia-128-cbc is not supported"},
      // AES-GCM: an AuthEnvelopedData (RFC 5083).
      {"aes-128-gcm", "AuthEnvelopedData (AES-GCM) is not supported"},
  };
  for (const Case& c : cases) {
    Identity id = NewDevice("cipher");
    codec::PkcsReqSpec spec;
    spec.transaction_id = absl::StrCat("tid-", c.cipher);
    spec.sender_nonce = absl::StrCat(c.cipher, "-nonce-padding").substr(0, 16);
    spec.cipher = c.cipher;
    const std::string msg =
        codec::BuildPkcsReq(Csr(id.key.get(), "cipher", "pw"), id.cert.get(), id.key.get(),
                            ra_.get(), spec)
            .value();
    codec::OpenedCertRep rep = Open(Post(msg), id);  // signed by the RA
    EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kFailure) << c.cipher;
    EXPECT_EQ(rep.message.attributes.fail_info, FailInfo::kBadAlg) << c.cipher;
    EXPECT_TRUE(absl::StartsWith(rep.message.attributes.fail_info_text.value_or(""), c.text))
        << rep.message.attributes.fail_info_text.value_or("");
    EXPECT_EQ(rep.message.attributes.recipient_nonce, spec.sender_nonce);
  }
  // An envelope cut short is malformed, whatever its cipher.
  Identity id = NewDevice("cut");
  const std::string envelope =
      codec::Envelope(Csr(id.key.get(), "cut", "pw"), ra_.get(), "camellia-128-cbc").value();
  codec::ScepAttributes attrs;
  attrs.message_type = MessageType::kPkcsReq;
  attrs.transaction_id = "tid-cut";
  attrs.sender_nonce = std::string(16, 'c');
  const std::string msg = codec::SignPkiMessage(envelope.substr(0, envelope.size() - 1), attrs,
                                                id.cert.get(), id.key.get(), "sha256")
                              .value();
  EXPECT_EQ(Open(Post(msg), id).message.attributes.fail_info, FailInfo::kBadMessageCheck);
  EXPECT_EQ(signer_->issued.load(), 0);
}

// RFC 8894 section 3.2.1.4: badRequest is a transaction not permitted or
// supported. Before, a messageType no known type was HTTP 400, as if the
// message could not be read.
TEST_F(PkiMessagesTest, UnknownMessageTypeIsSignedBadRequest) {
  Identity id = NewDevice("type-23");
  const std::string msg = Message(id, static_cast<MessageType>(23), "tid-23",
                                  Csr(id.key.get(), "type-23", "pw"));
  HttpResponse r = Post(msg);
  ASSERT_EQ(r.status, 200) << r.body;
  codec::OpenedCertRep rep = Open(r, id);
  EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(rep.message.attributes.fail_info, FailInfo::kBadRequest);
  EXPECT_EQ(rep.message.attributes.fail_info_text.value_or(""), "messageType 23 not supported");
  EXPECT_EQ(rep.message.attributes.transaction_id, "tid-23");
  // Its signature is checked first, as for any message.
  std::string forged = msg;
  forged[forged.size() - 3] ^= 0x01;  // inside the signature value
  EXPECT_EQ(Attributes(Post(forged)).fail_info, FailInfo::kBadMessageCheck);
  EXPECT_EQ(signer_->issued.load(), 0);
}

}  // namespace
}  // namespace scep::gateway
