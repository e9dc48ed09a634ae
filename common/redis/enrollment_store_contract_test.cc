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

namespace contract {

NonceUse Record(EnrollmentStore& store, absl::string_view profile,
                absl::string_view nonce, absl::Duration ttl,
                absl::string_view message) {
  absl::StatusOr<NonceUse> use = store.RecordNonce(profile, nonce, message, ttl);
  EXPECT_TRUE(use.ok()) << use.status();
  return use.value_or(NonceUse::kReplay);
}

Transaction Claim(EnrollmentStore& store, absl::string_view profile,
                  absl::string_view tid, absl::string_view fingerprint,
                  absl::Duration ttl) {
  absl::StatusOr<Transaction> transaction =
      store.ClaimTransaction(profile, tid, fingerprint, ttl);
  EXPECT_TRUE(transaction.ok()) << transaction.status();
  return transaction.value_or(Transaction{});
}

namespace {

using State = Transaction::State;

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
  EXPECT_EQ(store().RecordNonce(kProfile, "", kMessage, kLong).status().code(), kInvalid);
  EXPECT_EQ(store().RecordNonce("a:b", kNonce, kMessage, kLong).status().code(),
            kInvalid);
  EXPECT_EQ(store().RecordNonce("", kNonce, kMessage, kLong).status().code(), kInvalid);
  EXPECT_EQ(store().RecordNonce(kProfile, kNonce, "", kLong).status().code(), kInvalid);
  EXPECT_EQ(store()
                .RecordNonce(kProfile, kNonce, kMessage, absl::ZeroDuration())
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
  EXPECT_EQ(Record(store(), kProfile, kNonce, kLong), NonceUse::kFresh);
  EXPECT_EQ(Claim(store(), kProfile, kTid, "fp", kLong).state, State::kClaimed);
}

TEST_P(EnrollmentStoreContractTest, PingAnswers) {
  EXPECT_TRUE(store().Ping().ok());
}

}  // namespace
}  // namespace contract
}  // namespace scep::redis
