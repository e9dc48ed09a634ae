"""A loopback stand-in for a Kubernetes API server's discovery endpoints.

`kubectl apply --dry-run=client` needs discovery to map each kind to a
resource, and GETs the object to decide between create and patch. This
server answers discovery for the API groups the chart uses and 404 for every
object, so kubectl validates and prints the manifest without a cluster.
Nothing is stored; nothing leaves 127.0.0.1.
"""

import http.server
import json
import threading

# group/version -> [(kind, plural, namespaced)]
RESOURCES = {
    "v1": [("ConfigMap", "configmaps", True), ("Secret", "secrets", True),
           ("Service", "services", True), ("ServiceAccount", "serviceaccounts", True),
           ("PersistentVolumeClaim", "persistentvolumeclaims", True),
           ("Namespace", "namespaces", False), ("Pod", "pods", True)],
    "apps/v1": [("Deployment", "deployments", True), ("StatefulSet", "statefulsets", True)],
    "autoscaling/v2": [("HorizontalPodAutoscaler", "horizontalpodautoscalers", True)],
    "policy/v1": [("PodDisruptionBudget", "poddisruptionbudgets", True)],
    "networking.k8s.io/v1": [("Ingress", "ingresses", True),
                             ("NetworkPolicy", "networkpolicies", True)],
    "monitoring.coreos.com/v1": [("ServiceMonitor", "servicemonitors", True),
                                 ("PrometheusRule", "prometheusrules", True)],
    "cert-manager.io/v1": [("Certificate", "certificates", True), ("Issuer", "issuers", True),
                           ("ClusterIssuer", "clusterissuers", False)],
}


def _resource_list(group_version):
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
        "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                       "kind": kind, "verbs": ["create", "delete", "get", "list", "patch",
                                               "update", "watch"]}
                      for kind, plural, namespaced in RESOURCES[group_version]],
    }


def _groups():
    groups = {}
    for group_version in RESOURCES:
        if "/" in group_version:
            group, version = group_version.split("/")
            groups.setdefault(group, []).append(version)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": group, "versions": [{"groupVersion": f"{group}/{v}", "version": v}
                                     for v in versions],
         "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]}}
        for group, versions in groups.items()]}


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server naming)
        path = self.path.split("?")[0].rstrip("/")
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                                    "serverAddressByClientCIDRs": []})
        if path == "/apis":
            return self._send(200, _groups())
        if path == "/api/v1":
            return self._send(200, _resource_list("v1"))
        if path.startswith("/apis/") and path.count("/") == 3:
            group_version = path[len("/apis/"):]
            if group_version in RESOURCES:
                return self._send(200, _resource_list(group_version))
        if path == "/version":
            return self._send(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"})
        return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                "reason": "NotFound", "code": 404,
                                "message": f"{path} not found"})

    def do_POST(self):  # noqa: N802 - a dry run never writes; refuse loudly
        self._send(405, {"kind": "Status", "status": "Failure", "code": 405,
                         "message": "fake API server: writes are not expected"})

    do_PUT = do_PATCH = do_DELETE = do_POST


class FakeApiServer:
    """Context manager: serves on a free loopback port, writes a kubeconfig."""

    def __init__(self, kubeconfig_path):
        self._kubeconfig_path = kubeconfig_path
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        port = self._server.server_address[1]
        with open(self._kubeconfig_path, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://127.0.0.1:{port}
contexts:
- name: fake
  context:
    cluster: fake
    namespace: scep-check
    user: fake
current-context: fake
users:
- name: fake
  user: {{}}
""")
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
