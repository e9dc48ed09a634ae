// The EnrollmentStore contract for senderNonces: single use, told apart
// from the identical message sent again, recorded with the claim in one
// step (see enrollment_store_contract_test.h).

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/redis/enrollment_store_contract_test.h"

namespace scep::redis::contract {
namespace {

using State = Transaction::State;

std::optional<Transaction> RecordAndClaim(EnrollmentStore& store,
                                          absl::string_view nonce,
                                          absl::string_view message,
                                          absl::string_view tid,
                                          absl::string_view fingerprint) {
  absl::StatusOr<std::optional<Transaction>> claimed =
      store.RecordNonceAndClaim(kProfile, nonce, message, kLong, tid, fingerprint, kLong);
  EXPECT_TRUE(claimed.ok()) << claimed.status();
  return claimed.value_or(std::nullopt);
}

TEST_P(EnrollmentStoreContractTest, NonceFirstSeenThenReplay) {
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), NonceUse::kFresh);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong, kOtherMessage), NonceUse::kReplay);
  // Scoped per profile; a nonce differing only after a NUL is distinct.
  EXPECT_EQ(Record(store(), "servers", kNonce, kLong, kOtherMessage), NonceUse::kFresh);
  std::string other = kNonce;
  other.back() ^= 1;
  EXPECT_EQ(Record(store(), kProfile, other, kLong, kOtherMessage), NonceUse::kFresh);
  // Longer than the hex limit: hashed, still exact.
  const std::string long_nonce(100, 'n');
  EXPECT_EQ(Record(store(), kProfile, long_nonce, kLong), NonceUse::kFresh);
  EXPECT_EQ(Record(store(), kProfile, long_nonce, kLong, kOtherMessage),
            NonceUse::kReplay);
}

TEST_P(EnrollmentStoreContractTest, IdenticalMessageIsARetransmissionNotAReplay) {
  ASSERT_EQ(Record(store(), kProfile, kNonce, kLong), NonceUse::kFresh);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), NonceUse::kRetransmission);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), NonceUse::kRetransmission);
  // A retransmission records nothing anew: another message is still a
  // replay, and the message the nonce came with still retransmits.
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong, kOtherMessage), NonceUse::kReplay);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), NonceUse::kRetransmission);
  // Messages compare exactly: one differing only in its last byte is another.
  std::string near = kMessage;
  near.back() ^= 1;
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong, near), NonceUse::kReplay);
}

TEST_P(EnrollmentStoreContractTest, ForgottenNonceIsFirstSeenAgain) {
  ASSERT_EQ(Record(store(), kProfile, kNonce, kLong), NonceUse::kFresh);
  ASSERT_TRUE(store().ForgetNonce(kProfile, kNonce).ok());
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong, kOtherMessage), NonceUse::kFresh);
  EXPECT_TRUE(store().ForgetNonce(kProfile, "never recorded").ok());
}

TEST_P(EnrollmentStoreContractTest, NonceExpiresAfterTtl) {
  ASSERT_EQ(Record(store(), kProfile, kNonce, kShort), NonceUse::kFresh);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kShort, kOtherMessage), NonceUse::kReplay);
  Advance(kPastShort);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kShort, kOtherMessage), NonceUse::kFresh);
}

TEST_P(EnrollmentStoreContractTest, NonceAndClaimInOneStep) {
  std::optional<Transaction> first = RecordAndClaim(store(), kNonce, kMessage, kTid, "fp-1");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->state, State::kClaimed);
  EXPECT_EQ(first->fingerprint, "fp-1");
  EXPECT_FALSE(first->retransmission);
  // Both were recorded.
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong, kOtherMessage), NonceUse::kReplay);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-2", kLong).state, State::kPending);
  // The same nonce in another message is a replay and claims nothing.
  const std::string other_tid = kTid + "-2";
  EXPECT_FALSE(RecordAndClaim(store(), kNonce, kOtherMessage, other_tid, "fp-1").has_value());
  absl::StatusOr<std::optional<Transaction>> unclaimed =
      store().GetTransaction(kProfile, other_tid);
  ASSERT_TRUE(unclaimed.ok());
  EXPECT_FALSE(unclaimed->has_value());
  // A fresh nonce on an issued transaction answers its state.
  ASSERT_TRUE(store().CompleteTransaction(kProfile, kTid, "fp-1", kCert, kLong).ok());
  std::string fresh = kNonce;
  fresh.back() ^= 1;
  std::optional<Transaction> issued = RecordAndClaim(store(), fresh, kMessage, kTid, "fp-1");
  ASSERT_TRUE(issued.has_value());
  EXPECT_EQ(issued->state, State::kIssued);
  EXPECT_EQ(issued->certificate, kCert);
  EXPECT_FALSE(issued->retransmission);
  // Refused arguments leave the nonce unrecorded.
  const std::string third(16, 'z');
  EXPECT_EQ(store()
                .RecordNonceAndClaim(kProfile, third, kMessage, kLong, "", "fp", kLong)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store()
                .RecordNonceAndClaim(kProfile, "", kMessage, kLong, kTid, "fp", kLong)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store()
                .RecordNonceAndClaim(kProfile, third, "", kLong, kTid, "fp", kLong)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Record(store(), kProfile, third, kLong), NonceUse::kFresh);
}

TEST_P(EnrollmentStoreContractTest, RetransmissionClaimsAsTheFirstMessageDid) {
  // The first message claimed; its identical twin meets the claim pending
  // under its own fingerprint (the holder still issuing, or dead).
  ASSERT_EQ(RecordAndClaim(store(), kNonce, kMessage, kTid, "fp")->state, State::kClaimed);
  std::optional<Transaction> twin = RecordAndClaim(store(), kNonce, kMessage, kTid, "fp");
  ASSERT_TRUE(twin.has_value());
  EXPECT_EQ(twin->state, State::kPending);
  EXPECT_EQ(twin->fingerprint, "fp");
  EXPECT_TRUE(twin->retransmission);
  // Once issued it answers the certificate, as a fresh nonce would.
  ASSERT_TRUE(store().CompleteTransaction(kProfile, kTid, "fp", kCert, kLong).ok());
  std::optional<Transaction> issued = RecordAndClaim(store(), kNonce, kMessage, kTid, "fp");
  ASSERT_TRUE(issued.has_value());
  EXPECT_EQ(issued->state, State::kIssued);
  EXPECT_EQ(issued->certificate, kCert);
  EXPECT_TRUE(issued->retransmission);
  // A claim released after a failure (the device was told 503) is claimed
  // again by the identical retry.
  const std::string released = kTid + "-released";
  std::string nonce = kNonce;
  nonce.front() ^= 1;
  ASSERT_EQ(RecordAndClaim(store(), nonce, kMessage, released, "fp")->state,
            State::kClaimed);
  ASSERT_TRUE(store().ReleaseTransaction(kProfile, released, "fp").ok());
  std::optional<Transaction> retry = RecordAndClaim(store(), nonce, kMessage, released, "fp");
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->state, State::kClaimed);
  EXPECT_TRUE(retry->retransmission);
}

}  // namespace
}  // namespace scep::redis::contract
