#include "common/redis/enrollment_store_contract_test.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace scep::redis {

void EnrollmentStoreContractTest::SetUp() {
  harness_ = GetParam().make();
  if (harness_ != nullptr) return;
  // A skip after a recorded failure would still run the body: stop fatally.
  if (HasFailure()) GTEST_FAIL() << "store could not be set up";
  GTEST_SKIP() << "store not available here";
}

namespace {

using State = Transaction::State;

constexpr absl::string_view kProfile = "devices";
constexpr absl::Duration kLong = absl::Minutes(5);
// Long enough that a call made right after a write still sees it on a real
// server, short enough to wait out in real time.
constexpr absl::Duration kShort = absl::Milliseconds(300);
constexpr absl::Duration kPastShort = absl::Milliseconds(450);

const std::string kNonce("\x01\x00\x02\xff nonce-16-bytes", 16);
const std::string kTid =
    "4F3C2B1A0E9D8C7B6A5F4E3D2C1B0A99887766554433221100FFEEDDCCBBAA";
const std::string kCert("\x30\x82\x01\0\0\0cert\0der", 14);

// The call's value; a failed call is recorded as a test failure.
bool Record(EnrollmentStore& store, absl::string_view profile,
            absl::string_view nonce, absl::Duration ttl) {
  absl::StatusOr<bool> first_seen = store.RecordNonce(profile, nonce, ttl);
  EXPECT_TRUE(first_seen.ok()) << first_seen.status();
  return first_seen.value_or(false);
}

Transaction Claim(EnrollmentStore& store, absl::string_view profile,
                  absl::string_view tid, absl::string_view fingerprint,
                  absl::Duration ttl) {
  absl::StatusOr<Transaction> transaction =
      store.ClaimTransaction(profile, tid, fingerprint, ttl);
  EXPECT_TRUE(transaction.ok()) << transaction.status();
  return transaction.value_or(Transaction{});
}

TEST_P(EnrollmentStoreContractTest, NonceFirstSeenThenReplay) {
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), true);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), false);
  // Scoped per profile; a nonce differing only after a NUL is distinct.
  EXPECT_EQ(Record(store(), "servers", kNonce, kLong), true);
  std::string other = kNonce;
  other.back() ^= 1;
  EXPECT_EQ(Record(store(), kProfile, other, kLong), true);
  // Longer than the hex limit: hashed, still exact.
  const std::string long_nonce(100, 'n');
  EXPECT_EQ(Record(store(), kProfile, long_nonce, kLong), true);
  EXPECT_EQ(Record(store(), kProfile, long_nonce, kLong), false);
}

TEST_P(EnrollmentStoreContractTest, ForgottenNonceIsFirstSeenAgain) {
  ASSERT_EQ(Record(store(), kProfile, kNonce, kLong), true);
  ASSERT_TRUE(store().ForgetNonce(kProfile, kNonce).ok());
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), true);
  EXPECT_TRUE(store().ForgetNonce(kProfile, "never recorded").ok());
}

TEST_P(EnrollmentStoreContractTest, NonceExpiresAfterTtl) {
  ASSERT_EQ(Record(store(), kProfile, kNonce, kShort), true);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kShort), false);
  Advance(kPastShort);
  EXPECT_EQ(Record(store(), kProfile, kNonce, kShort), true);
}

TEST_P(EnrollmentStoreContractTest, ClaimPendingCompleteIssued) {
  Transaction first = Claim(store(), kProfile, kTid, "fp-1", kLong);
  EXPECT_EQ(first.state, State::kClaimed);
  EXPECT_EQ(first.fingerprint, "fp-1");
  EXPECT_EQ(first.certificate, "");

  for (absl::string_view fp : {"fp-2", "fp-1"}) {
    Transaction again = Claim(store(), kProfile, kTid, fp, kLong);
    EXPECT_EQ(again.state, State::kPending);
    EXPECT_EQ(again.fingerprint, "fp-1");
  }

  ASSERT_TRUE(
      store().CompleteTransaction(kProfile, kTid, "fp-1", kCert, kLong).ok());
  Transaction done = Claim(store(), kProfile, kTid, "fp-2", kLong);
  EXPECT_EQ(done.state, State::kIssued);
  EXPECT_EQ(done.fingerprint, "fp-1");
  EXPECT_EQ(done.certificate, kCert);  // NUL bytes included.
}

TEST_P(EnrollmentStoreContractTest, GetTransactionReadsWithoutClaiming) {
  auto none = store().GetTransaction(kProfile, kTid);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  // Reading did not claim: the first claimer still gets kClaimed.
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-1", kLong).state, State::kClaimed);
  auto pending = store().GetTransaction(kProfile, kTid);
  ASSERT_TRUE(pending.ok() && pending->has_value());
  EXPECT_EQ((*pending)->state, State::kPending);
  EXPECT_EQ((*pending)->fingerprint, "fp-1");
  ASSERT_TRUE(
      store().CompleteTransaction(kProfile, kTid, "fp-1", kCert, kLong).ok());
  auto issued = store().GetTransaction(kProfile, kTid);
  ASSERT_TRUE(issued.ok() && issued->has_value());
  EXPECT_EQ((*issued)->state, State::kIssued);
  EXPECT_EQ((*issued)->certificate, kCert);
  auto other = store().GetTransaction("servers", kTid);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value());
}

TEST_P(EnrollmentStoreContractTest, RejectedTransactionStaysRejected) {
  EXPECT_EQ(store().RejectTransaction(kProfile, kTid, kLong).code(),
            absl::StatusCode::kNotFound);
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp-1", kLong).state, State::kClaimed);
  ASSERT_TRUE(store().RejectTransaction(kProfile, kTid, kLong).ok());
  ASSERT_TRUE(store().RejectTransaction(kProfile, kTid, kLong).ok());
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-1", kLong).state, State::kRejected);
  EXPECT_EQ((*store().GetTransaction(kProfile, kTid))->state, State::kRejected);
  EXPECT_EQ(store().CompleteTransaction(kProfile, kTid, "fp-1", kCert, kLong).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(store().ReleaseTransaction(kProfile, kTid, "fp-1").ok());
  // An issued transaction cannot be rejected any more.
  const std::string other = kTid + "-2";
  Claim(store(), kProfile, other, "fp-1", kLong);
  ASSERT_TRUE(store().CompleteTransaction(kProfile, other, "fp-1", kCert, kLong).ok());
  EXPECT_EQ(store().RejectTransaction(kProfile, other, kLong).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(EnrollmentStoreContractTest, TransactionsAreScopedAndNeverCollide) {
  const std::string tid_33(33, 'a');
  const std::string tid_34(34, 'a');
  const std::string binary_tid("\x00\x01", 2);
  for (const std::string& tid : {tid_33, tid_34, binary_tid}) {
    EXPECT_EQ(Claim(store(), kProfile, tid, "fp", kLong).state,
              State::kClaimed);
  }
  EXPECT_EQ(Claim(store(), "servers", tid_33, "fp", kLong).state,
            State::kClaimed);
  EXPECT_EQ(Claim(store(), kProfile, tid_33, "fp", kLong).state,
            State::kPending);
}

TEST_P(EnrollmentStoreContractTest, CompleteRefusesOtherFingerprint) {
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp-1", kLong).state,
            State::kClaimed);
  EXPECT_EQ(
      store().CompleteTransaction(kProfile, kTid, "fp-2", kCert, kLong).code(),
      absl::StatusCode::kFailedPrecondition);
  Transaction now = Claim(store(), kProfile, kTid, "fp-1", kLong);
  EXPECT_EQ(now.state, State::kPending);
  EXPECT_EQ(now.fingerprint, "fp-1");
}

TEST_P(EnrollmentStoreContractTest, CompleteIsIdempotentButNeverOverwrites) {
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).state, State::kClaimed);
  ASSERT_TRUE(
      store().CompleteTransaction(kProfile, kTid, "fp", kCert, kLong).ok());
  EXPECT_TRUE(
      store().CompleteTransaction(kProfile, kTid, "fp", kCert, kLong).ok());
  EXPECT_EQ(
      store().CompleteTransaction(kProfile, kTid, "fp", "other", kLong).code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).certificate, kCert);
}

TEST_P(EnrollmentStoreContractTest, ReleaseOnlyWhenPendingWithFingerprint) {
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp-1", kLong).state,
            State::kClaimed);
  EXPECT_EQ(store().ReleaseTransaction(kProfile, kTid, "fp-2").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-2", kLong).state,
            State::kPending);

  ASSERT_TRUE(store().ReleaseTransaction(kProfile, kTid, "fp-1").ok());
  EXPECT_TRUE(store().ReleaseTransaction(kProfile, kTid, "fp-1").ok());
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-2", kLong).state,
            State::kClaimed);

  ASSERT_TRUE(
      store().CompleteTransaction(kProfile, kTid, "fp-2", kCert, kLong).ok());
  EXPECT_EQ(store().ReleaseTransaction(kProfile, kTid, "fp-2").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-3", kLong).state,
            State::kIssued);
}

TEST_P(EnrollmentStoreContractTest, ReopenOnlyTheIssuedCertificate) {
  auto reopen = [&](absl::string_view fp, absl::string_view cert) {
    absl::StatusOr<bool> reopened =
        store().ReopenIssuedTransaction(kProfile, kTid, fp, cert, kLong);
    EXPECT_TRUE(reopened.ok()) << reopened.status();
    return reopened.value_or(false);
  };
  EXPECT_FALSE(reopen("fp", kCert));  // no transaction: nothing created
  EXPECT_FALSE(store().GetTransaction(kProfile, kTid)->has_value());
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).state, State::kClaimed);
  EXPECT_FALSE(reopen("fp", kCert));  // pending, not issued
  ASSERT_TRUE(store().CompleteTransaction(kProfile, kTid, "fp", kCert, kLong).ok());
  EXPECT_FALSE(reopen("fp-other", kCert));
  EXPECT_FALSE(reopen("fp", "another certificate"));
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).certificate, kCert);

  EXPECT_TRUE(reopen("fp", kCert));
  // Pending under the caller's claim: a twin waits, the old answer is gone.
  Transaction now = Claim(store(), kProfile, kTid, "fp", kLong);
  EXPECT_EQ(now.state, State::kPending);
  EXPECT_EQ(now.fingerprint, "fp");
  EXPECT_FALSE(reopen("fp", kCert));
  const std::string renewed = kCert + "-renewed";
  ASSERT_TRUE(store().CompleteTransaction(kProfile, kTid, "fp", renewed, kLong).ok());
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).certificate, renewed);
  // The old certificate opens nothing any more; the new one does.
  EXPECT_FALSE(reopen("fp", kCert));
  EXPECT_TRUE(reopen("fp", renewed));
  // A failed issuance after reopening releases it like any claim.
  ASSERT_TRUE(store().ReleaseTransaction(kProfile, kTid, "fp").ok());
  EXPECT_FALSE(store().GetTransaction(kProfile, kTid)->has_value());

  ASSERT_EQ(Claim(store(), kProfile, "rejected-tid", "fp", kLong).state, State::kClaimed);
  ASSERT_TRUE(store().RejectTransaction(kProfile, "rejected-tid", kLong).ok());
  absl::StatusOr<bool> rejected =
      store().ReopenIssuedTransaction(kProfile, "rejected-tid", "fp", kCert, kLong);
  ASSERT_TRUE(rejected.ok());
  EXPECT_FALSE(*rejected);
  EXPECT_EQ(store().ReopenIssuedTransaction(kProfile, kTid, "", kCert, kLong).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().ReopenIssuedTransaction(kProfile, kTid, "fp", "", kLong).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(EnrollmentStoreContractTest, PendingAndIssuedExpireAfterTtl) {
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp-1", kShort).state,
            State::kClaimed);
  Advance(kPastShort);
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp-2", kLong).state,
            State::kClaimed);
  ASSERT_TRUE(
      store().CompleteTransaction(kProfile, kTid, "fp-2", kCert, kShort).ok());
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-3", kLong).state,
            State::kIssued);
  Advance(kPastShort);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-3", kLong).state,
            State::kClaimed);
}

TEST_P(EnrollmentStoreContractTest, CompleteAfterClaimExpiredStillRecords) {
  ASSERT_EQ(Claim(store(), kProfile, kTid, "fp", kShort).state,
            State::kClaimed);
  Advance(kPastShort);
  ASSERT_TRUE(
      store().CompleteTransaction(kProfile, kTid, "fp", kCert, kLong).ok());
  Transaction now = Claim(store(), kProfile, kTid, "fp", kLong);
  EXPECT_EQ(now.state, State::kIssued);
  EXPECT_EQ(now.certificate, kCert);
}

TEST_P(EnrollmentStoreContractTest, RefusesBadArguments) {
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(store().RecordNonce(kProfile, "", kLong).status().code(), kInvalid);
  EXPECT_EQ(store().RecordNonce("a:b", kNonce, kLong).status().code(),
            kInvalid);
  EXPECT_EQ(store().RecordNonce("", kNonce, kLong).status().code(), kInvalid);
  EXPECT_EQ(store()
                .RecordNonce(kProfile, kNonce, absl::ZeroDuration())
                .status()
                .code(),
            kInvalid);
  EXPECT_EQ(store().ForgetNonce(kProfile, "").code(), kInvalid);
  EXPECT_EQ(store().ClaimTransaction(kProfile, "", "fp", kLong).status().code(),
            kInvalid);
  EXPECT_EQ(store().ClaimTransaction(kProfile, kTid, "", kLong).status().code(),
            kInvalid);
  EXPECT_EQ(store()
                .ClaimTransaction(kProfile, kTid, "fp", absl::Microseconds(10))
                .status()
                .code(),
            kInvalid);
  EXPECT_EQ(store().CompleteTransaction(kProfile, kTid, "fp", "", kLong).code(),
            kInvalid);
  EXPECT_EQ(store().ReleaseTransaction(kProfile, kTid, "").code(), kInvalid);
  // Nothing was written by the refused calls.
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), true);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).state, State::kClaimed);
}

TEST_P(EnrollmentStoreContractTest, NonceAndClaimInOneStep) {
  absl::StatusOr<std::optional<Transaction>> first =
      store().RecordNonceAndClaim(kProfile, kNonce, kLong, kTid, "fp-1", kLong);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->state, State::kClaimed);
  EXPECT_EQ((*first)->fingerprint, "fp-1");
  // Both were recorded.
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), false);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp-2", kLong).state, State::kPending);
  // The same nonce again is a replay and claims nothing.
  const std::string other_tid = kTid + "-2";
  absl::StatusOr<std::optional<Transaction>> replay =
      store().RecordNonceAndClaim(kProfile, kNonce, kLong, other_tid, "fp-1", kLong);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_FALSE(replay->has_value());
  absl::StatusOr<std::optional<Transaction>> unclaimed =
      store().GetTransaction(kProfile, other_tid);
  ASSERT_TRUE(unclaimed.ok());
  EXPECT_FALSE(unclaimed->has_value());
  // A fresh nonce on an issued transaction answers its state.
  ASSERT_TRUE(store().CompleteTransaction(kProfile, kTid, "fp-1", kCert, kLong).ok());
  std::string fresh = kNonce;
  fresh.back() ^= 1;
  absl::StatusOr<std::optional<Transaction>> issued =
      store().RecordNonceAndClaim(kProfile, fresh, kLong, kTid, "fp-1", kLong);
  ASSERT_TRUE(issued.ok() && issued->has_value());
  EXPECT_EQ((*issued)->state, State::kIssued);
  EXPECT_EQ((*issued)->certificate, kCert);
  // Refused arguments leave the nonce unrecorded.
  const std::string third(16, 'z');
  EXPECT_EQ(store()
                .RecordNonceAndClaim(kProfile, third, kLong, "", "fp", kLong)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store()
                .RecordNonceAndClaim(kProfile, "", kLong, kTid, "fp", kLong)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Record(store(), kProfile, third, kLong), true);
}

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

TEST_P(EnrollmentStoreContractTest, PingAnswers) {
  EXPECT_TRUE(store().Ping().ok());
}

}  // namespace
}  // namespace scep::redis
