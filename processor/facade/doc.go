// Package facade is custream's read-only HTTP facade: the loyalty API's
// customer GET endpoints (fetch, lookup, search, subscriptions, loyalty
// details) answered from the committed state of the member that owns the
// customer's task, plus /healthz, /readyz and /openapi.yaml. Metrics are kept in
// Options.Registry but served elsewhere (cmd/custream's --metrics-addr),
// never on the API port.
//
// Routing: a query keyed by org (lookup, search) belongs to the task the
// org's id hashes to (processor.TaskOfOrg); a query keyed by customer
// id belongs to the task the id encodes (state.TaskOf), and the org check
// happens on that task's owner. If another member owns the task, the
// request is forwarded there (httputil.ReverseProxy) once, marked with
// ForwardedHeader; while the task restores or moves, the answer is 503 with
// Retry-After. docs/http.md explains the choices and the consistency model.
//
// Forwarding trusts nothing from the group (Peers, peers.go): the owner's
// address must be on the allow-list (PeerAllow), a TLS member reaches it
// only by https (PeerClient verifies it against --peer-ca), the client's
// Authorization is stripped, and the request carries a peerauth assertion
// of the org instead. With no cluster secret nothing is forwarded (503).
//
// Auth: "Authorization: Bearer <key>", each key naming one org (Keys). A
// request forwarded by another member is authenticated by its assertion
// alone, and refused (401) without a valid one. A customer of another org
// answers exactly like one that does not exist.
//
// Edge (edge.go): heads over MaxHeaderBytes answer 431, two Authorization
// headers 400, per-client and per-key token buckets 429 + Retry-After, and
// failed authentications are counted and logged (rate-limited, no key).
// tls.go has the server's TLS config and the certificate reloader.
//
// Metrics, registered with Options.Registry:
//
//	custream_http_request_duration_seconds{route,code}  latency by route pattern and status
//	custream_http_forwarded_total{route}                requests forwarded to the owning member
//	custream_http_auth_failures_total{reason}           requests refused for their credentials
//	custream_http_rate_limited_total{by}                requests answered 429, by client or key
package facade
