#include "services/admin/admin_service.h"

#include <chrono>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/rpc/call_deadline.h"
#include "common/rpc/status_convert.h"

namespace scep::admin {
namespace {

constexpr size_t kMaxQueuedCalls = 256;

}  // namespace

AdminService::AdminService(AdminCore* core, const AdminAuthenticator* auth,
                           AdminCallLog* calls, int workers)
    : core_(core), auth_(auth), calls_(calls), pool_(workers, kMaxQueuedCalls) {}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* AdminService::Run(
    grpc::CallbackServerContext* context, absl::string_view method, const Request* request,
    Response* response,
    absl::StatusOr<Response> (AdminCore::*operation)(const Request&, const std::string&)) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::string> actor = auth_->Authenticate(*context);
  if (!actor.ok()) {
    calls_->Refused(method, context->peer(), actor.status());
    reactor->Finish(rpc::ToGrpcStatus(actor.status()));
    return reactor;
  }
  // The caller's deadline: a call still queued when it passes is not
  // served at all (nothing done behind the back of a caller that gave up),
  // and the signer calls made for it end no later (rpc::ScopedCallDeadline).
  const absl::Time deadline = context->deadline() == std::chrono::system_clock::time_point::max()
                                  ? absl::InfiniteFuture()
                                  : absl::FromChrono(context->deadline());
  // Reported before Finish, so the line is written when the caller has
  // its answer.
  const bool queued = pool_.TryPost(
      [this, reactor, method, request, response, operation, deadline, actor = *actor] {
        if (absl::Now() >= deadline) {
          const absl::Status late = absl::DeadlineExceededError(
              "the call's deadline passed before it was served; nothing was done");
          calls_->Finished(method, actor, late, /*audited=*/false);
          reactor->Finish(rpc::ToGrpcStatus(late));
          return;
        }
        rpc::ScopedCallDeadline within(deadline);
        const uint64_t audit_lines = AdminCore::AuditLinesOnThisThread();
        absl::StatusOr<Response> result = (core_->*operation)(*request, actor);
        calls_->Finished(method, actor, result.status(),
                         AdminCore::AuditLinesOnThisThread() != audit_lines);
        if (result.ok()) *response = *std::move(result);
        reactor->Finish(rpc::ToGrpcStatus(result.status()));
      });
  if (!queued) {
    const absl::Status busy = absl::ResourceExhaustedError("admin API busy; retry later");
    calls_->Finished(method, *actor, busy, /*audited=*/false);
    reactor->Finish(rpc::ToGrpcStatus(busy));
  }
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::CreateChallenge(
    grpc::CallbackServerContext* context, const v1::CreateChallengeRequest* request,
    v1::CreateChallengeResponse* response) {
  return Run(context, "CreateChallenge", request, response, &AdminCore::CreateChallenge);
}

grpc::ServerUnaryReactor* AdminService::ListRequests(
    grpc::CallbackServerContext* context, const v1::ListRequestsRequest* request,
    v1::ListRequestsResponse* response) {
  return Run(context, "ListRequests", request, response, &AdminCore::ListRequests);
}

grpc::ServerUnaryReactor* AdminService::ApproveRequest(
    grpc::CallbackServerContext* context, const v1::ApproveRequestRequest* request,
    v1::ApproveRequestResponse* response) {
  return Run(context, "ApproveRequest", request, response, &AdminCore::ApproveRequest);
}

grpc::ServerUnaryReactor* AdminService::RejectRequest(
    grpc::CallbackServerContext* context, const v1::RejectRequestRequest* request,
    v1::RejectRequestResponse* response) {
  return Run(context, "RejectRequest", request, response, &AdminCore::RejectRequest);
}

grpc::ServerUnaryReactor* AdminService::RevokeCertificate(
    grpc::CallbackServerContext* context, const v1::RevokeCertificateRequest* request,
    v1::RevokeCertificateResponse* response) {
  return Run(context, "RevokeCertificate", request, response, &AdminCore::RevokeCertificate);
}

grpc::ServerUnaryReactor* AdminService::GetCertificate(
    grpc::CallbackServerContext* context, const v1::GetCertificateRequest* request,
    v1::Certificate* response) {
  return Run(context, "GetCertificate", request, response, &AdminCore::GetCertificate);
}

grpc::ServerUnaryReactor* AdminService::ListCertificates(
    grpc::CallbackServerContext* context, const v1::ListCertificatesRequest* request,
    v1::ListCertificatesResponse* response) {
  return Run(context, "ListCertificates", request, response, &AdminCore::ListCertificates);
}

grpc::ServerUnaryReactor* AdminService::GetCRL(grpc::CallbackServerContext* context,
                                               const v1::GetCRLRequest* request,
                                               v1::GetCRLResponse* response) {
  return Run(context, "GetCRL", request, response, &AdminCore::GetCrl);
}

grpc::ServerUnaryReactor* AdminService::RestoreRevocations(
    grpc::CallbackServerContext* context, const v1::RestoreRevocationsRequest* request,
    v1::RestoreRevocationsResponse* response) {
  return Run(context, "RestoreRevocations", request, response, &AdminCore::RestoreRevocations);
}

grpc::ServerUnaryReactor* AdminService::RestoreCertificates(
    grpc::CallbackServerContext* context, const v1::RestoreCertificatesRequest* request,
    v1::RestoreCertificatesResponse* response) {
  return Run(context, "RestoreCertificates", request, response, &AdminCore::RestoreCertificates);
}

grpc::ServerUnaryReactor* AdminService::Enroll(grpc::CallbackServerContext* context,
                                               const v1::EnrollRequest* request,
                                               v1::EnrollResponse* response) {
  return Run(context, "Enroll", request, response, &AdminCore::Enroll);
}

grpc::ServerUnaryReactor* AdminService::GetProfile(grpc::CallbackServerContext* context,
                                                   const v1::GetProfileRequest* request,
                                                   v1::Profile* response) {
  return Run(context, "GetProfile", request, response, &AdminCore::GetProfile);
}

grpc::ServerUnaryReactor* AdminService::ListProfiles(
    grpc::CallbackServerContext* context, const v1::ListProfilesRequest* request,
    v1::ListProfilesResponse* response) {
  return Run(context, "ListProfiles", request, response, &AdminCore::ListProfiles);
}

grpc::ServerUnaryReactor* AdminService::ListGivenUpNotices(
    grpc::CallbackServerContext* context, const v1::ListGivenUpNoticesRequest* request,
    v1::ListGivenUpNoticesResponse* response) {
  return Run(context, "ListGivenUpNotices", request, response, &AdminCore::ListGivenUpNotices);
}

grpc::ServerUnaryReactor* AdminService::RequeueNotices(
    grpc::CallbackServerContext* context, const v1::RequeueNoticesRequest* request,
    v1::RequeueNoticesResponse* response) {
  return Run(context, "RequeueNotices", request, response, &AdminCore::RequeueNotices);
}

}  // namespace scep::admin
