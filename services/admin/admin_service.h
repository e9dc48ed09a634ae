#ifndef SCEP_SERVICES_ADMIN_ADMIN_SERVICE_H_
#define SCEP_SERVICES_ADMIN_ADMIN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "common/base/thread_pool.h"
#include "scep/admin/v1/admin.grpc.pb.h"
#include "services/admin/admin_auth.h"
#include "services/admin/admin_call_log.h"
#include "services/admin/admin_core.h"

namespace scep::admin {

// The gRPC binding of AdminCore (callback API). Each call is authenticated
// first (UNAUTHENTICATED otherwise), then run on a small worker pool so
// gRPC's callback threads never block on Redis or the signer;
// RESOURCE_EXHAUSTED when the pool's queue is full. Every call, refused or
// served, is reported to `calls` (log line, counter). `core`, `auth` and
// `calls` are not owned. Destroy only after the server has shut down.
class AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(AdminCore* core, const AdminAuthenticator* auth, AdminCallLog* calls,
               int workers = 4);
  // Runs the calls already queued while the object is still whole (its
  // workers touch `this`), then joins them.
  ~AdminService() override { pool_.Shutdown(); }

  grpc::ServerUnaryReactor* CreateChallenge(grpc::CallbackServerContext* context,
                                            const v1::CreateChallengeRequest* request,
                                            v1::CreateChallengeResponse* response) override;
  grpc::ServerUnaryReactor* ListRequests(grpc::CallbackServerContext* context,
                                         const v1::ListRequestsRequest* request,
                                         v1::ListRequestsResponse* response) override;
  grpc::ServerUnaryReactor* ApproveRequest(grpc::CallbackServerContext* context,
                                           const v1::ApproveRequestRequest* request,
                                           v1::ApproveRequestResponse* response) override;
  grpc::ServerUnaryReactor* RejectRequest(grpc::CallbackServerContext* context,
                                          const v1::RejectRequestRequest* request,
                                          v1::RejectRequestResponse* response) override;
  grpc::ServerUnaryReactor* RevokeCertificate(
      grpc::CallbackServerContext* context, const v1::RevokeCertificateRequest* request,
      v1::RevokeCertificateResponse* response) override;
  grpc::ServerUnaryReactor* GetCertificate(grpc::CallbackServerContext* context,
                                           const v1::GetCertificateRequest* request,
                                           v1::Certificate* response) override;
  grpc::ServerUnaryReactor* ListCertificates(
      grpc::CallbackServerContext* context, const v1::ListCertificatesRequest* request,
      v1::ListCertificatesResponse* response) override;
  grpc::ServerUnaryReactor* GetCRL(grpc::CallbackServerContext* context,
                                   const v1::GetCRLRequest* request,
                                   v1::GetCRLResponse* response) override;
  grpc::ServerUnaryReactor* RestoreRevocations(
      grpc::CallbackServerContext* context, const v1::RestoreRevocationsRequest* request,
      v1::RestoreRevocationsResponse* response) override;
  grpc::ServerUnaryReactor* RestoreCertificates(
      grpc::CallbackServerContext* context, const v1::RestoreCertificatesRequest* request,
      v1::RestoreCertificatesResponse* response) override;
  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* context,
                                   const v1::EnrollRequest* request,
                                   v1::EnrollResponse* response) override;
  grpc::ServerUnaryReactor* GetProfile(grpc::CallbackServerContext* context,
                                       const v1::GetProfileRequest* request,
                                       v1::Profile* response) override;
  grpc::ServerUnaryReactor* ListProfiles(grpc::CallbackServerContext* context,
                                         const v1::ListProfilesRequest* request,
                                         v1::ListProfilesResponse* response) override;
  grpc::ServerUnaryReactor* ListGivenUpNotices(
      grpc::CallbackServerContext* context, const v1::ListGivenUpNoticesRequest* request,
      v1::ListGivenUpNoticesResponse* response) override;
  grpc::ServerUnaryReactor* RequeueNotices(grpc::CallbackServerContext* context,
                                           const v1::RequeueNoticesRequest* request,
                                           v1::RequeueNoticesResponse* response) override;

 private:
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Run(
      grpc::CallbackServerContext* context, absl::string_view method, const Request* request,
      Response* response,
      absl::StatusOr<Response> (AdminCore::*operation)(const Request&,
                                                       const std::string&));

  AdminCore* const core_;
  const AdminAuthenticator* const auth_;
  AdminCallLog* const calls_;
  base::ThreadPool pool_;
};

}  // namespace scep::admin

#endif  // SCEP_SERVICES_ADMIN_ADMIN_SERVICE_H_
