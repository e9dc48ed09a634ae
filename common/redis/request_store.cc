#include "common/redis/request_store.h"

namespace scep::redis {

absl::string_view StatusName(ApprovalRequest::Status status) {
  switch (status) {
    case ApprovalRequest::Status::kRequested: return "REQUESTED";
    case ApprovalRequest::Status::kApproved: return "APPROVED";
    case ApprovalRequest::Status::kRejected: return "REJECTED";
    case ApprovalRequest::Status::kIssued: return "ISSUED";
  }
  return "UNKNOWN";
}

std::optional<ApprovalRequest::Status> ParseStatus(absl::string_view name) {
  for (ApprovalRequest::Status status :
       {ApprovalRequest::Status::kRequested, ApprovalRequest::Status::kApproved,
        ApprovalRequest::Status::kRejected, ApprovalRequest::Status::kIssued}) {
    if (StatusName(status) == name) return status;
  }
  return std::nullopt;
}

}  // namespace scep::redis
