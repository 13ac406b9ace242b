package facade

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/custream/custream/processor/customer"
)

// DefaultMaxHeaderBytes is the largest request head (request line and
// headers) the facade serves; a larger one answers 431.
const DefaultMaxHeaderBytes = 32 << 10

// ServerMaxHeaderBytes is what http.Server.MaxHeaderBytes must be for a
// facade of maxHeader: larger, so that net/http lets heads between the two
// through to the facade, which answers them 431 in the API's error shape.
// Heads past it are cut off by net/http itself (its own plain-text 431).
func ServerMaxHeaderBytes(maxHeader int) int { return 2 * maxHeader }

// Auth failure reasons, the label of custream_http_auth_failures_total and
// the reason of the log line.
const (
	authMissing    = "missing"
	authNotBearer  = "not-bearer"
	authUnknownKey = "unknown-key"
	authTwoHeaders = "two-authorization-headers"
)

// headBytes is the size of r's head as it came on the wire: request line,
// Host and every header line (HTTP/2's are counted the same way).
func headBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: ") + len(r.Host) + 2
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n
}

// checkHead answers 431 to a head over the limit.
func (f *Facade) checkHead(w http.ResponseWriter, r *http.Request) bool {
	if n := headBytes(r); n > f.maxHeader {
		writeError(w, http.StatusRequestHeaderFieldsTooLarge, customer.Issuef(CodeHeaderTooLarge, "the request's headers are %d bytes; at most %d are accepted", n, f.maxHeader))
		return false
	}
	return true
}

// authed resolves the bearer key to its org, or answers 401 (400 for two
// Authorization headers: which one counts would be a guess), within the
// rate limits: per client address before the key is looked at (so guessing
// keys is slow too), per key after. The key is never logged, and unknown
// and missing keys get the same answer.
func (f *Facade) authed(h func(w http.ResponseWriter, r *http.Request, org int64)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if forwardedRequest(r) {
			// Authenticated by its signed assertion alone (it carries no
			// key), and limited already by the member the client reached:
			// its address here is that member's, shared by every client
			// it forwards for. A client that sets the forwarded headers
			// itself has no valid assertion and gets 401.
			if org, ok := f.peerOrg(w, r); ok {
				h(w, withOrg(r, org), org)
			}
			return
		}
		client := clientOf(r.RemoteAddr)
		if !f.allow(w, f.perClient, "client", client) {
			return
		}
		auths := r.Header.Values("Authorization")
		if len(auths) > 1 {
			f.authFailed(r, authTwoHeaders)
			writeError(w, http.StatusBadRequest, customer.NewIssue(CodeBadParameter, "send one Authorization header, not "+strconv.Itoa(len(auths))))
			return
		}
		reason := authMissing
		var org int64
		var keyID string
		ok := false
		if len(auths) == 1 {
			scheme, key, isPair := strings.Cut(auths[0], " ")
			if isPair && strings.EqualFold(scheme, "Bearer") {
				org, keyID, ok = f.opts.Keys.Match(strings.TrimSpace(key))
				reason = authUnknownKey
			} else {
				reason = authNotBearer
			}
		}
		if !ok {
			f.authFailed(r, reason)
			w.Header().Set("WWW-Authenticate", `Bearer realm="custream"`)
			writeError(w, http.StatusUnauthorized, customer.NewIssue(CodeUnauthorized, "a valid API key is required: Authorization: Bearer <key>"))
			return
		}
		if !f.allow(w, f.perKey, "key", keyID) {
			return
		}
		h(w, withOrg(r, org), org)
	})
}

// allow takes a token from who's bucket in l, or answers 429 with
// Retry-After.
func (f *Facade) allow(w http.ResponseWriter, l *limiter, by, who string) bool {
	wait, ok := l.allow(who, f.now())
	if ok {
		return true
	}
	if f.rateLimited != nil {
		f.rateLimited.WithLabelValues(by).Inc()
	}
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(w, http.StatusTooManyRequests, customer.Issuef(CodeRateLimited, "too many requests for this %s; retry after %ds", by, max(secs, 1)))
	return false
}

// authFailed counts a failed authentication and logs it, at most a few
// lines a second (a brute force must not flood the log; the count of
// lines left out goes in the next one). The line names the client's
// address and the reason, never the key.
func (f *Facade) authFailed(r *http.Request, reason string) {
	if f.authFailures != nil {
		f.authFailures.WithLabelValues(reason).Inc()
	}
	if !f.authLog.AllowN(f.now(), 1) {
		f.authSuppressed.Add(1)
		return
	}
	f.log.Warn("authentication failed", "client", r.RemoteAddr, "reason", reason, "route", r.Pattern,
		"forwarded", r.Header.Get(ForwardedHeader) != "", "not_logged_since_last", f.authSuppressed.Swap(0))
}

// newAuthLog limits auth failure lines to 2 a second (10 at once).
func newAuthLog() *rate.Limiter { return rate.NewLimiter(2, 10) }
