package facade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
)

// ForwardedHeader marks a request one member forwarded to the owner of its
// task. A member never forwards a request that carries it: if the receiver
// cannot serve it (ownership moved meanwhile) it answers 503, so requests
// cannot loop between members that disagree during a rebalance. A request
// carrying it is served only with a valid peerauth assertion (401
// otherwise), as the org the assertion names.
const ForwardedHeader = "X-Custream-Forwarded"

// Tasks is what the facade needs of the processor: who owns a task and
// whether this member is ready. *processor.Processor implements it.
type Tasks interface {
	Locate(task int32) processor.Location
	Ready() (bool, string)
	Partitions() int32
}

// Options are the facade's dependencies; cmd/custream fills them.
type Options struct {
	// Tasks locates task state. Required.
	Tasks Tasks
	// Domain is the rules' configuration (sources, default program). It
	// must be the one the processor uses.
	Domain customer.Config
	// Keys maps API keys to orgs. Required; with no key no request gets in.
	Keys *Keys
	// Logger receives operator-facing events. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the facade's metrics. Nil: none are kept. The
	// facade does not serve them: /metrics belongs on its own listener
	// (cmd/custream's --metrics-addr), off the API port.
	Registry *prometheus.Registry
	// Client forwards requests to other members: its Transport (nil means
	// http.DefaultTransport) and its Timeout (0 means 10s) are used.
	// PeerClient builds the one cmd/custream uses (--peer-ca, no proxy).
	Client *http.Client
	// Peers configures forwarding to other members and accepting their
	// forwards. The zero value: forwarding off, loopback allow-list.
	Peers Peers
	// RetryAfter is what 503 answers tell clients to wait. Default 1s:
	// a restore or rebalance usually takes seconds.
	RetryAfter time.Duration
	// MaxHeaderBytes is the largest request head answered; a larger one
	// is 431. Default DefaultMaxHeaderBytes. The http.Server's own
	// MaxHeaderBytes must be ServerMaxHeaderBytes(MaxHeaderBytes).
	MaxHeaderBytes int
	// PerKey and PerClient limit the requests of one API key and of one
	// client address (IPv4 address or IPv6 /64); a zero Rate is no limit.
	PerKey, PerClient Limit
}

// Facade is the read-only HTTP facade. Build it with New; it is an
// http.Handler.
type Facade struct {
	opts      Options
	log       *slog.Logger
	mux       *http.ServeMux
	proxy     *httputil.ReverseProxy
	timeout   time.Duration
	latency   *prometheus.HistogramVec
	forward   *prometheus.CounterVec
	peerAllow *PeerAllow
	self      string // Peers.Self's host:port, the audience of assertions to us
	// Refused forwards are logged at most every 10s of each kind.
	assertWarn, addrWarn limitedWarn

	maxHeader      int
	perKey         *limiter
	perClient      *limiter
	authLog        *rate.Limiter
	authSuppressed atomic.Int64
	authFailures   *prometheus.CounterVec
	rateLimited    *prometheus.CounterVec
	// now is the limiters' clock; tests move it.
	now func() time.Time
}

// New builds the facade.
func New(opts Options) (*Facade, error) {
	if opts.Tasks == nil {
		return nil, errors.New("facade: no Tasks")
	}
	if opts.Keys == nil {
		return nil, errors.New("facade: no Keys")
	}
	if err := opts.Domain.Validate(); err != nil {
		return nil, fmt.Errorf("facade: domain config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	f := &Facade{opts: opts, log: opts.Logger.With("component", "facade"), timeout: 10 * time.Second, peerAllow: opts.Peers.Allow,
		maxHeader: opts.MaxHeaderBytes, perKey: newLimiter(opts.PerKey), perClient: newLimiter(opts.PerClient),
		authLog: newAuthLog(), now: time.Now}
	f.assertWarn.every, f.addrWarn.every = 10*time.Second, 10*time.Second
	if f.peerAllow == nil {
		f.peerAllow = DefaultPeerAllow()
	}
	if opts.Peers.Auth != nil {
		if opts.Peers.Self == "" {
			return nil, errors.New("facade: Peers.Auth needs Peers.Self, this member's advertised address")
		}
		self, err := ownerURL(opts.Peers.Self, opts.Peers.TLSOnly)
		if err != nil {
			return nil, fmt.Errorf("facade: Peers.Self: %w", err)
		}
		f.self = self.Host
	}
	var transport http.RoundTripper
	if opts.Client != nil {
		transport = opts.Client.Transport
		if opts.Client.Timeout > 0 {
			f.timeout = opts.Client.Timeout
		}
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:      rewriteForward,
		Transport:    transport,
		ErrorHandler: f.forwardFailed,
		// The owner's answer is complete JSON; no streaming to flush.
	}
	if err := f.registerMetrics(); err != nil {
		return nil, err
	}
	f.routes()
	return f, nil
}

func (f *Facade) registerMetrics() error {
	if f.opts.Registry == nil {
		return nil
	}
	f.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "custream_http_request_duration_seconds",
		Help: "Latency of HTTP facade requests, by route pattern and status code.",
		// Local reads are sub-millisecond; forwards add a network hop.
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"})
	f.forward = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "custream_http_forwarded_total",
		Help: "Requests forwarded to the member owning their task, by route pattern.",
	}, []string{"route"})
	f.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "custream_http_auth_failures_total",
		Help: "Requests refused for their credentials, by reason: missing, not-bearer, unknown-key, two-authorization-headers.",
	}, []string{"reason"})
	f.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "custream_http_rate_limited_total",
		Help: "Requests answered 429, by the limit they hit: client (address) or key.",
	}, []string{"by"})
	for _, c := range []prometheus.Collector{f.latency, f.forward, f.authFailures, f.rateLimited} {
		if err := f.opts.Registry.Register(c); err != nil {
			return fmt.Errorf("facade: registering metrics: %w", err)
		}
	}
	return nil
}

// routes registers the endpoints. Patterns carry no method so that other
// methods get our JSON 405 (ServeMux's own is plain text).
func (f *Facade) routes() {
	f.mux = http.NewServeMux()
	f.mux.Handle("/v2/customers/lookup", f.get(f.authed(f.lookup)))
	f.mux.Handle("/v2/customers/search", f.get(f.authed(f.search)))
	f.mux.Handle("/v2/customers/{id}", f.get(f.authed(f.fetch)))
	f.mux.Handle("/v2/customers/{id}/subscriptions", f.get(f.authed(f.subscriptions)))
	f.mux.Handle("/v2/customers/{id}/loyaltyDetails", f.get(f.authed(f.loyaltyDetails)))
	f.mux.Handle("/healthz", f.get(http.HandlerFunc(f.healthz)))
	f.mux.Handle("/readyz", f.get(http.HandlerFunc(f.readyz)))
	f.mux.Handle("/openapi.yaml", f.get(http.HandlerFunc(serveOpenAPI)))
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, customer.NewIssue(CodeNoRoute, "no such endpoint: "+r.URL.Path))
	})
}

// ServeHTTP serves one request and records its latency.
func (f *Facade) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	if f.checkHead(sw, r) {
		f.mux.ServeHTTP(sw, r)
	}
	if f.latency != nil {
		// r.Pattern is set by the mux on this very request; it keeps
		// the label set small (ids are not in it).
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		f.latency.WithLabelValues(route, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	}
}

// statusWriter remembers the status code for the latency metric.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (used by the reverse proxy) reach
// the real writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// get answers 405 to anything but GET and HEAD.
func (f *Facade) get(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, customer.NewIssue(CodeMethodNotAllowed, "the facade is read-only: use GET"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

type orgKey struct{}

// withOrg records the authenticated org for a forward (serve).
func withOrg(r *http.Request, org int64) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), orgKey{}, org))
}

func (f *Facade) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (f *Facade) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, why := f.opts.Tasks.Ready()
	if !ok {
		f.setRetryAfter(w)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": why})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "reason": why})
}

// query is a domain query against one task's committed state: the view to
// render and its errors (which pick the status).
type query func(r customer.Reader) (view any, errs []customer.Issue, err error)

// serve runs q where task's state is: here if this member owns it and has
// restored it, on the owner (forwarded) if another member does, and
// otherwise answers 503 with Retry-After.
func (f *Facade) serve(w http.ResponseWriter, r *http.Request, task int32, q query) {
	loc := f.opts.Tasks.Locate(task)
	switch {
	case loc.Reader != nil:
		view, errs, err := q(loc.Reader)
		if err != nil {
			// Store failures are ours, not the client's; details go to
			// the log, not the response.
			f.log.Error("query failed", "route", r.Pattern, "task", task, "err", err)
			writeError(w, http.StatusInternalServerError, customer.NewIssue(CodeInternal, "internal error"))
			return
		}
		if len(errs) > 0 {
			writeError(w, statusOf(errs[0].Code), errs...)
			return
		}
		writeJSON(w, http.StatusOK, view)
	case loc.Remote != "" && !forwardedRequest(r):
		f.forwardTo(w, r, task, loc.Remote, r.Context().Value(orgKey{}).(int64))
	case loc.Remote != "":
		f.unavailable(w, fmt.Sprintf("task %d moved while the request was forwarded", task))
	default:
		f.unavailable(w, loc.Reason)
	}
}

// statusOf maps a domain error code to the HTTP status: not-found kinds
// are 404 (a customer of another org is 8009 like a missing one), the rest
// are bad parameters.
func statusOf(c customer.Code) int {
	switch c {
	case customer.CodeNoSuchCustomer, customer.CodeNotFoundByIdentifier, customer.CodeNotFoundInSource,
		customer.CodeMergedAway, customer.CodeNotInLoyaltyProgram:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

func (f *Facade) setRetryAfter(w http.ResponseWriter) {
	secs := int((f.opts.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
}

func (f *Facade) unavailable(w http.ResponseWriter, reason string) {
	f.setRetryAfter(w)
	writeError(w, http.StatusServiceUnavailable, customer.NewIssue(CodeUnavailable, "the customer's data is moving or restoring; retry shortly ("+reason+")"))
}

// forwardFailed answers 503 when the owner cannot be reached: it is most
// likely gone, and the group will hand its tasks to a live member.
func (f *Facade) forwardFailed(w http.ResponseWriter, r *http.Request, err error) {
	// A *url.Error names the URL, query string (identifier values,
	// search text) included: log what failed, not the request.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	f.log.Warn("forwarding failed", "route", r.Pattern, "owner", r.URL.Host, "err", err)
	f.unavailable(w, "the owner did not answer")
}

// errorBody is every non-200 answer: the API's error shape.
type errorBody struct {
	Errors   []customer.Issue `json:"errors"`
	Warnings []customer.Issue `json:"warnings"`
}

func writeError(w http.ResponseWriter, status int, errs ...customer.Issue) {
	writeJSON(w, status, errorBody{Errors: errs, Warnings: []customer.Issue{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Views are plain structs; this cannot happen short of a bug.
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"code":9500,"message":"internal error"}],"warnings":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
