// The EnrollmentStore contract for parked claims: a request kept with its
// pending transaction so that CertPoll can finish it once the holder's
// lease has ended (see enrollment_store_contract_test.h).

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/redis/enrollment_store_contract_test.h"

namespace scep::redis::contract {
namespace {

using State = Transaction::State;

// A certification request as parked (binary-safe).
const std::string kRequest("\x30\x82\x02\0csr\0der", 11);

std::optional<Transaction> Park(EnrollmentStore& store, absl::string_view fingerprint,
                                absl::Duration poll_ttl) {
  absl::StatusOr<std::optional<Transaction>> parked =
      store.ParkPendingClaim(kProfile, kTid, fingerprint, kRequest, poll_ttl);
  EXPECT_TRUE(parked.ok()) << parked.status();
  return parked.value_or(std::nullopt);
}

std::optional<ParkedClaim> TakeOver(EnrollmentStore& store, absl::Duration lease,
                                    absl::string_view fingerprint = "fp") {
  absl::StatusOr<std::optional<ParkedClaim>> taken =
      store.TakeOverParkedClaim(kProfile, kTid, fingerprint, lease);
  EXPECT_TRUE(taken.ok()) << taken.status();
  return taken.value_or(std::nullopt);
}

TEST_P(EnrollmentStoreContractTest, ParkedClaimOutlivesItsLeaseForPolls) {
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp", kShort).state, State::kClaimed);
  std::optional<Transaction> parked = Park(store(), "fp", kLong);
  ASSERT_TRUE(parked.has_value());
  EXPECT_EQ(parked->state, State::kPending);
  EXPECT_EQ(parked->fingerprint, "fp");
  // The holder's lease is still running: nobody takes it over.
  EXPECT_FALSE(TakeOver(store(), kLong).has_value());
  Advance(kPastShort);
  // Past the claim's own TTL the transaction is still there, pending.
  absl::StatusOr<std::optional<Transaction>> read = store().GetTransaction(kProfile, kTid);
  ASSERT_TRUE(read.ok() && read->has_value()) << read.status();
  EXPECT_EQ((*read)->state, State::kPending);
  // The lease has ended: not for a poll for another request; exactly one
  // poll for this one takes it over, with the request.
  EXPECT_FALSE(TakeOver(store(), kLong, "fp-other").has_value());
  std::optional<ParkedClaim> taken = TakeOver(store(), kLong);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->fingerprint, "fp");
  EXPECT_EQ(taken->request, kRequest);
  EXPECT_FALSE(TakeOver(store(), kLong).has_value());
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).state, State::kPending);
  // The new holder completes it; an issued transaction is never taken over.
  ASSERT_TRUE(store().CompleteTransaction(kProfile, kTid, "fp", kCert, kLong).ok());
  EXPECT_FALSE(TakeOver(store(), kShort).has_value());
  Transaction issued = Claim(store(), kProfile, kTid, "fp", kLong);
  EXPECT_EQ(issued.state, State::kIssued);
  EXPECT_EQ(issued.certificate, kCert);
}

TEST_P(EnrollmentStoreContractTest, ParkedClaimTakenOverByItsOwnRequestOnly) {
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp", kShort).state, State::kClaimed);
  ASSERT_TRUE(Park(store(), "fp", kLong).has_value());
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).state, State::kPending);
  Advance(kPastShort);
  // Another request under that transactionID: still someone else's.
  Transaction other = Claim(store(), kProfile, kTid, "fp-other", kLong);
  EXPECT_EQ(other.state, State::kPending);
  EXPECT_EQ(other.fingerprint, "fp");
  // The same request again, once the lease has ended: claimed for kShort.
  Transaction taken = Claim(store(), kProfile, kTid, "fp", kShort);
  EXPECT_EQ(taken.state, State::kClaimed);
  EXPECT_TRUE(taken.taken_over);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).state, State::kPending);
  EXPECT_FALSE(TakeOver(store(), kLong).has_value());
  Advance(kPastShort);
  // That holder's lease ended too (the transaction itself lives on).
  EXPECT_TRUE(TakeOver(store(), kLong).has_value());
}

TEST_P(EnrollmentStoreContractTest, ReleasingAParkedClaimEndsItsLeaseAndKeepsIt) {
  // The holder's issuance failed (the signer was down): the device that
  // was told PENDING must not meet "no such transaction" on its poll.
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).state, State::kClaimed);
  ASSERT_TRUE(Park(store(), "fp", kLong).has_value());
  EXPECT_FALSE(TakeOver(store(), kLong).has_value());  // the lease runs
  ASSERT_TRUE(store().ReleaseTransaction(kProfile, kTid, "fp").ok());
  absl::StatusOr<std::optional<Transaction>> read = store().GetTransaction(kProfile, kTid);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->state, State::kPending);
  std::optional<ParkedClaim> taken = TakeOver(store(), kLong);  // at once
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->request, kRequest);
  // A claim never parked is deleted by a release, as before.
  const std::string other = kTid + "-other";
  ASSERT_TRUE(store().ClaimTransaction(kProfile, other, "fp", kLong).ok());
  ASSERT_TRUE(store().ReleaseTransaction(kProfile, other, "fp").ok());
  absl::StatusOr<std::optional<Transaction>> gone = store().GetTransaction(kProfile, other);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_P(EnrollmentStoreContractTest, OnlyAPendingClaimOfThatRequestIsParked) {
  // No transaction: nothing parked, nothing created.
  EXPECT_FALSE(Park(store(), "fp", kLong).has_value());
  absl::StatusOr<std::optional<Transaction>> none = store().GetTransaction(kProfile, kTid);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  // Pending under another fingerprint: reported, not parked.
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp-holder", kShort).state, State::kClaimed);
  std::optional<Transaction> other = Park(store(), "fp", kLong);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->state, State::kPending);
  EXPECT_EQ(other->fingerprint, "fp-holder");
  Advance(kPastShort);
  EXPECT_FALSE(TakeOver(store(), kLong).has_value());
  Transaction fresh = Claim(store(), kProfile, kTid, "fp", kLong);
  EXPECT_EQ(fresh.state, State::kClaimed);
  EXPECT_FALSE(fresh.taken_over);
  // A claim never parked is never taken over; an issued one is reported.
  EXPECT_FALSE(TakeOver(store(), kShort).has_value());
  ASSERT_TRUE(store().CompleteTransaction(kProfile, kTid, "fp", kCert, kLong).ok());
  std::optional<Transaction> issued = Park(store(), "fp", kLong);
  ASSERT_TRUE(issued.has_value());
  EXPECT_EQ(issued->state, State::kIssued);
  EXPECT_EQ(issued->certificate, kCert);
  // Refused arguments.
  EXPECT_EQ(store().ParkPendingClaim(kProfile, kTid, "fp", "", kLong).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().ParkPendingClaim(kProfile, kTid, "", kRequest, kLong).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().TakeOverParkedClaim(kProfile, "", "fp", kLong).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().TakeOverParkedClaim(kProfile, kTid, "", kLong).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scep::redis::contract
