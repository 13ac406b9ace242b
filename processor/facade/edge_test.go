package facade

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
)

// TestHeaderTooLarge: a head over 32 KiB answers 431 in the API's error
// shape, through a real server configured as cmd/custream does.
func TestHeaderTooLarge(t *testing.T) {
	fx := newFixture(t)
	srv := httptest.NewUnstartedServer(fx.f)
	srv.Config.MaxHeaderBytes = ServerMaxHeaderBytes(DefaultMaxHeaderBytes)
	srv.Start()
	defer srv.Close()
	get := func(pad int) response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/customers/search?q=a", nil)
		req.Header.Set("Authorization", "Bearer "+keyA)
		req.Header.Set("X-Pad", strings.Repeat("p", pad))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return response{resp.StatusCode, resp.Header, b.String()}
	}
	get(1 << 10).wantOK(t)
	r := get(DefaultMaxHeaderBytes)
	r.wantError(t, http.StatusRequestHeaderFieldsTooLarge, CodeHeaderTooLarge)
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("431 content type %q", r.header.Get("Content-Type"))
	}
}

func TestTwoAuthorizationHeaders(t *testing.T) {
	fx := newFixture(t)
	two := http.Header{"Authorization": {"Bearer " + keyA, "Bearer " + keyB}}
	serve(fx.f, http.MethodGet, "", "/v2/customers/search?q=a", two).wantError(t, 400, CodeBadParameter)
	// Even when both are the same key: which one counts is not ours to guess.
	same := http.Header{"Authorization": {"Bearer " + keyA, "Bearer " + keyA}}
	serve(fx.f, http.MethodGet, "", "/v2/customers/search?q=a", same).wantError(t, 400, CodeBadParameter)
	if m := fx.metrics(); !strings.Contains(m.body, `custream_http_auth_failures_total{reason="two-authorization-headers"} 2`) {
		t.Errorf("two headers not counted:\n%s", m.body)
	}
}

// clock is a settable time for the limiters.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func limitedFixture(t *testing.T, perKey, perClient Limit) (*fixture, *clock) {
	t.Helper()
	fx := newFixture(t)
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	fx.f.perKey, fx.f.perClient, fx.f.now = newLimiter(perKey), newLimiter(perClient), c.now
	return fx, c
}

func from(addr, key string) http.Header {
	h := http.Header{"X-Test-Remote": {addr}}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	return h
}

// remote sets RemoteAddr from X-Test-Remote (httptest uses 192.0.2.1).
type remote struct{ h http.Handler }

func (rm remote) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a := r.Header.Get("X-Test-Remote"); a != "" {
		r.RemoteAddr = a
		r.Header.Del("X-Test-Remote")
	}
	rm.h.ServeHTTP(w, r)
}

func TestRateLimitPerKey(t *testing.T) {
	fx, c := limitedFixture(t, Limit{Rate: 1, Burst: 2}, Limit{})
	h := remote{fx.f}
	get := func(addr, key string) response {
		return serve(h, http.MethodGet, "", "/v2/customers/search?q=a", from(addr, key))
	}
	get("10.0.0.1:1", keyA).wantOK(t)
	get("10.0.0.2:1", keyA).wantOK(t) // another address, same key
	r := get("10.0.0.3:1", keyA)
	r.wantError(t, http.StatusTooManyRequests, CodeRateLimited)
	if ra := r.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	get("10.0.0.1:1", keyB).wantOK(t) // another key has its own bucket
	// Recovers once the bucket has refilled as Retry-After said.
	c.add(time.Second)
	get("10.0.0.1:1", keyA).wantOK(t)
	get("10.0.0.1:1", keyA).wantError(t, http.StatusTooManyRequests, CodeRateLimited)
	if m := fx.metrics(); !strings.Contains(m.body, `custream_http_rate_limited_total{by="key"} 2`) {
		t.Errorf("429s not counted:\n%s", m.body)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	fx, c := limitedFixture(t, Limit{}, Limit{Rate: 0.5, Burst: 3})
	h := remote{fx.f}
	get := func(addr, key string) response {
		return serve(h, http.MethodGet, "", "/v2/customers/search?q=a", from(addr, key))
	}
	// Bad keys spend the client's tokens too: guessing is limited.
	get("10.0.0.1:1", "wrong").wantError(t, 401, CodeUnauthorized)
	get("10.0.0.1:2", "").wantError(t, 401, CodeUnauthorized)
	get("10.0.0.1:3", keyA).wantOK(t)
	r := get("10.0.0.1:4", keyA)
	r.wantError(t, http.StatusTooManyRequests, CodeRateLimited)
	if ra := r.header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (one token at 0.5/s)", ra)
	}
	get("10.0.0.2:1", keyA).wantOK(t)
	// One IPv6 /64 is one client.
	for i := range 3 {
		get(fmt.Sprintf("[2001:db8:1:1::%d]:1", i+1), keyA).wantOK(t)
	}
	get("[2001:db8:1:1::99]:1", keyA).wantError(t, http.StatusTooManyRequests, CodeRateLimited)
	get("[2001:db8:1:2::1]:1", keyA).wantOK(t)
	// Health probes are not limited.
	get("10.0.0.1:5", "").wantError(t, http.StatusTooManyRequests, CodeRateLimited)
	serve(h, http.MethodGet, "", "/healthz", from("10.0.0.1:5", "")).wantOK(t)
	c.add(2 * time.Second)
	get("10.0.0.1:6", keyA).wantOK(t)
}

// TestLimiterBounded: buckets of callers gone quiet are dropped, and a
// flood of new callers past maxBuckets shares one bucket instead of
// growing the map or escaping the limit.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(Limit{Rate: 10, Burst: 2})
	now := time.Unix(1_700_000_000, 0)
	for i := range maxBuckets + 50 {
		l.allow("c"+strconv.Itoa(i), now)
	}
	if n := l.size(); n != maxBuckets {
		t.Fatalf("%d buckets, want the cap %d", n, maxBuckets)
	}
	// The overflow bucket (burst 2) took the 50 extra callers' requests.
	if _, ok := l.allow("another", now); ok {
		t.Error("a caller past the cap escaped the limit")
	}
	now = now.Add(l.idle + time.Millisecond)
	if _, ok := l.allow("late", now); !ok {
		t.Error("a new caller after the idle time was refused")
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d buckets after every old one went idle, want 1", n)
	}
}

// TestAuthFailureLog: each failed authentication is a warn line naming the
// client and the reason, never the key; a flood is cut to a few lines.
func TestAuthFailureLog(t *testing.T) {
	fx := newFixture(t)
	var buf bytes.Buffer
	fx.f.log = slog.New(slog.NewTextHandler(&buf, nil))
	h := remote{fx.f}
	const secret = "guessed-key-4711"
	serve(h, http.MethodGet, "", "/v2/customers/search?q=a", from("10.9.8.7:555", secret)).wantError(t, 401, CodeUnauthorized)
	line := buf.String()
	for _, want := range []string{"level=WARN", "authentication failed", "client=10.9.8.7:555", "reason=unknown-key"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %s", line, want)
		}
	}
	if strings.Contains(line, secret) {
		t.Errorf("log line shows the key: %q", line)
	}
	for range 2000 {
		serve(h, http.MethodGet, "", "/v2/customers/search?q=a", from("10.9.8.7:555", secret))
	}
	if n := strings.Count(buf.String(), "authentication failed"); n > 20 {
		t.Errorf("%d lines for 2001 failures: not rate-limited", n)
	}
	if m := fx.metrics(); !strings.Contains(m.body, `custream_http_auth_failures_total{reason="unknown-key"} 2001`) {
		t.Errorf("failures not all counted:\n%s", m.body)
	}
}

// failingReader fails every read, as a broken disk would.
type failingReader struct{}

var errDisk = errors.New("disk on fire")

func (failingReader) Customer(int64) (*customer.Customer, bool, error) { return nil, false, errDisk }
func (failingReader) OwnerInScope(int64, string, string, customer.Identifier) (int64, bool, error) {
	return 0, false, errDisk
}
func (failingReader) Holders(int64, customer.Identifier) ([]customer.Holding, error) {
	return nil, errDisk
}
func (failingReader) Search(int64, string, int, int) ([]int64, int, error) { return nil, 0, errDisk }

// TestQueryFailureLogsNoValues: a store failure is logged without the
// request's identifier value or search text.
func TestQueryFailureLogsNoValues(t *testing.T) {
	fx := newFixture(t)
	var buf bytes.Buffer
	fx.f.log = slog.New(slog.NewTextHandler(&buf, nil))
	fx.tasks.set(1, processor.Location{Reader: failingReader{}}) // org 100's task
	fx.get(keyA, "/v2/customers/search?q=secretname+other").wantError(t, 500, CodeInternal)
	fx.get(keyA, "/v2/customers/search?q=secretname").wantError(t, 500, CodeInternal)
	fx.get(keyA, "/v2/customers/lookup?identifierName=email&identifierValue=victim@example.com").wantError(t, 500, CodeInternal)
	fx.get(keyA, "/v2/customers/lookup?source=INSTORE&identifierName=email&identifierValue=victim@example.com").wantError(t, 500, CodeInternal)
	if n := strings.Count(buf.String(), "query failed"); n != 4 {
		t.Fatalf("%d log lines, want 4: %q", n, buf.String())
	}
	for _, v := range []string{"secretname", "other", "victim", "example.com"} {
		if strings.Contains(buf.String(), v) {
			t.Errorf("log shows %q: %s", v, buf.String())
		}
	}
}
