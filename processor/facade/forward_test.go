package facade

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/facade/peerauth"
	"github.com/custream/custream/state"
)

var clusterSecret = []byte("a cluster secret of at least 32 bytes, for tests")

func newAuth(t *testing.T, now func() time.Time, secret []byte) *peerauth.Auth {
	t.Helper()
	a, err := peerauth.New([][]byte{secret}, peerauth.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// withPeers gives a fixture the cluster secret, an advertised address and
// optionally an allow-list and a log.
func withPeers(t *testing.T, self string, allow string, log *bytes.Buffer) func(*Options) {
	return func(o *Options) {
		o.Peers = Peers{Auth: newAuth(t, nil, clusterSecret), Self: self}
		if allow != "" {
			a, err := ParsePeerAllow(allow)
			if err != nil {
				t.Fatal(err)
			}
			o.Peers.Allow = a
		}
		if log != nil {
			o.Logger = slog.New(slog.NewTextHandler(&syncWriter{buf: log}, nil))
		}
	}
}

type syncWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (w *syncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

// recorder is an HTTP server that keeps what it receives and hands it to
// next (if set).
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	next http.Handler
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Clone(r.Context()))
		next := rec.next
		rec.mu.Unlock()
		if next != nil {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, `{"forged":true}`, http.StatusOK)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) addr() string { return strings.TrimPrefix(rec.srv.URL, "http://") }

func (rec *recorder) requests() []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*http.Request(nil), rec.seen...)
}

// TestForward: a member that does not own the task forwards to the owner
// with the same path and query, marked as forwarded, with an assertion and
// without the client's key, and relays the owner's answer unchanged.
func TestForward(t *testing.T) {
	rec := newRecorder(t)
	owner := newFixture(t, withPeers(t, rec.addr(), "", nil))
	rec.next = owner.f
	id := owner.register(orgA, "Tom", "Sawyer", mobile("919111111111"))

	front := newFixture(t, withPeers(t, "127.0.0.1:1", "", nil)) // its own (empty) state: answers must come from the owner
	for p := int32(0); p < testParts; p++ {
		front.tasks.set(p, processor.Location{Remote: rec.addr()})
	}
	paths := []string{
		fmt.Sprintf("/v2/customers/%d?source=ALL&embed=subscriptions", id),
		fmt.Sprintf("/v2/customers/%d/subscriptions", id),
		fmt.Sprintf("/v2/customers/%d/loyaltyDetails?programId=1", id),
		"/v2/customers/lookup?identifierName=mobile&identifierValue=919111111111",
		"/v2/customers/search?q=tom&limit=3",
	}
	for _, p := range paths {
		got, want := front.get(keyA, p), owner.get(keyA, p)
		if got.code != 200 || got.body != want.body {
			t.Errorf("%s forwarded: %d %s\nwant the owner's %d %s", p, got.code, got.body, want.code, want.body)
		}
	}
	// Errors are relayed too: the org check happens on the owner, as the
	// org the front member asserted.
	if got := front.get(keyB, fmt.Sprintf("/v2/customers/%d", id)); got.code != 404 {
		t.Errorf("other org's customer through a forward: %d %s", got.code, got.body)
	}
	// A bad key never leaves the front member.
	front.get("not-a-key", fmt.Sprintf("/v2/customers/%d", id)).wantError(t, 401, CodeUnauthorized)
	seen := rec.requests()
	if len(seen) != len(paths)+1 {
		t.Fatalf("owner saw %d requests, want %d", len(seen), len(paths)+1)
	}
	for i, r := range seen[:len(paths)] {
		if r.Header.Get(ForwardedHeader) != "1" || r.Header.Get(peerauth.Header) == "" || r.URL.RequestURI() != paths[i] {
			t.Errorf("forwarded request %d: %s %v", i, r.URL.RequestURI(), r.Header)
		}
		if v := r.Header.Values("Authorization"); len(v) != 0 {
			t.Errorf("forwarded request %d carries the client's Authorization %q", i, v)
		}
	}
	if m := front.metrics(); !strings.Contains(m.body, `custream_http_forwarded_total{route="/v2/customers/{id}"} 2`) {
		t.Errorf("forward counter missing from\n%s", m.body)
	}
}

// TestForwardOff: with no cluster secret a member does not forward; it
// says what to configure.
func TestForwardOff(t *testing.T) {
	rec := newRecorder(t)
	fx := newFixture(t)
	fx.tasks.set(processor.TaskOfOrg(orgA, testParts), processor.Location{Remote: rec.addr()})
	r := fx.get(keyA, "/v2/customers/search?q=tom")
	r.wantError(t, 503, CodeUnavailable)
	if !strings.Contains(r.body, "--cluster-secret-file") || len(rec.requests()) != 0 {
		t.Errorf("answer %s, %d requests reached the owner", r.body, len(rec.requests()))
	}
}

// TestForwardRefusesAddress: an owner address outside --peer-allow gets
// nothing (503, one warn line naming the address, however many requests).
func TestForwardRefusesAddress(t *testing.T) {
	rogue := newRecorder(t)
	var log bytes.Buffer
	fx := newFixture(t, withPeers(t, "10.0.0.1:8080", ".custream-headless.ns.svc,10.0.0.0/8", &log))
	for _, addr := range []string{rogue.addr(), "http://" + rogue.addr(), "localhost:" + strings.Split(rogue.addr(), ":")[1]} {
		fx.tasks.set(processor.TaskOfOrg(orgA, testParts), processor.Location{Remote: addr})
		for range 3 {
			r := fx.get(keyA, "/v2/customers/search?q=tom")
			r.wantError(t, 503, CodeUnavailable)
			if !strings.Contains(r.body, "--peer-allow") {
				t.Errorf("%s: %s", addr, r.body)
			}
		}
	}
	if n := len(rogue.requests()); n != 0 {
		t.Fatalf("the rogue address received %d requests", n)
	}
	lines := strings.Count(log.String(), "outside --peer-allow")
	if lines != 1 || !strings.Contains(log.String(), rogue.addr()) || strings.Contains(log.String(), keyA) {
		t.Errorf("want one rate-limited warn line naming the address and no key, got %d lines:\n%s", lines, log.String())
	}
}

// TestForwardTLSOnly: a member serving TLS reaches peers only by https:
// an http:// owner is refused, a bare host:port is dialled with TLS and
// verified against the peer CA.
func TestForwardTLSOnly(t *testing.T) {
	pki := NewTestPKI(t)
	owner := newFixture(t)
	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		owner.f.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Cert}}
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	owner = newFixture(t, withPeers(t, "https://"+addr, "", nil))
	id := owner.register(orgA, "Tom", "Sawyer", mobile("919111111111"))

	client, err := PeerClient(pki.CAFile, "", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	front := newFixture(t, withPeers(t, "https://127.0.0.1:1", "", nil), func(o *Options) {
		o.Peers.TLSOnly = true
		o.Client = client
	})
	task := state.TaskOf(id, testParts)
	path := fmt.Sprintf("/v2/customers/%d", id)

	front.tasks.set(task, processor.Location{Remote: "http://" + addr})
	front.get(keyA, path).wantError(t, 503, CodeUnavailable)
	if len(seen) != 0 {
		t.Fatal("a TLS member forwarded in cleartext")
	}
	for _, remote := range []string{addr, "https://" + addr} {
		front.tasks.set(task, processor.Location{Remote: remote})
		if r := front.get(keyA, path); r.code != 200 {
			t.Errorf("forward to %s over TLS: %d %s", remote, r.code, r.body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].TLS == nil {
		t.Fatalf("owner saw %d requests, want 2 over TLS", len(seen))
	}

	// Without the private CA the owner cannot be verified: no forward.
	plainClient, _ := PeerClient("", "", "", 5*time.Second)
	front2 := newFixture(t, withPeers(t, "https://127.0.0.1:1", "", nil), func(o *Options) {
		o.Peers.TLSOnly = true
		o.Client = plainClient
	})
	front2.tasks.set(task, processor.Location{Remote: addr})
	front2.get(keyA, path).wantError(t, 503, CodeUnavailable)
	if len(seen) != 2 {
		t.Error("an owner whose certificate does not verify was sent the request")
	}
}

// TestOwnerRefusesBadAssertions: sent directly to an owner, a forwarded
// request is served only with a valid, fresh, unused assertion for this
// very request and member; anything else is 401 in the API's error
// shape, whatever Authorization it carries, with one rate-limited warn
// line and no key in it.
func TestOwnerRefusesBadAssertions(t *testing.T) {
	const self = "127.0.0.1:8081"
	var log bytes.Buffer
	fx := newFixture(t, withPeers(t, self, "", &log))
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	path := fmt.Sprintf("/v2/customers/%d", id)
	good := newAuth(t, nil, clusterSecret)
	sign := func(a *peerauth.Auth, c peerauth.Claim) string {
		h, err := a.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	claim := peerauth.Claim{Org: orgA, Audience: self, Method: http.MethodGet, Route: path}
	send := func(key string, assertion string) response {
		hdr := http.Header{ForwardedHeader: {"1"}}
		if assertion != "" {
			hdr.Set(peerauth.Header, assertion)
		}
		return serve(fx.f, http.MethodGet, key, path, hdr)
	}

	valid := sign(good, claim)
	if r := send("", valid); r.code != 200 || !strings.Contains(r.body, fmt.Sprintf(`"id":%d`, id)) {
		t.Fatalf("valid assertion: %d %s", r.code, r.body)
	}
	past := newAuth(t, func() time.Time { return time.Now().Add(-time.Minute) }, clusterSecret)
	wrongOrg := claim
	wrongOrg.Org = orgB
	otherRoute, otherMember := claim, claim
	otherRoute.Route = fmt.Sprintf("/v2/customers/%d", id+1)
	otherMember.Audience = "127.0.0.1:9999"
	for name, tc := range map[string]struct{ key, assertion string }{
		"marker only":             {"", ""},
		"marker and a valid key":  {keyA, ""},
		"replayed":                {"", valid},
		"wrong secret":            {"", sign(newAuth(t, nil, []byte("not the cluster secret, 32 bytes long")), claim)},
		"expired":                 {"", sign(past, claim)},
		"for another route":       {"", sign(good, otherRoute)},
		"for another member":      {"", sign(good, otherMember)},
		"garbage":                 {keyA, "v1.100.x.y.z"},
		"org swapped in a header": {"", strings.Replace(sign(good, wrongOrg), ".200.", ".100.", 1)},
	} {
		r := send(tc.key, tc.assertion)
		if r.code != 401 {
			t.Errorf("%s: %d %s, want 401", name, r.code, r.body)
			continue
		}
		r.wantError(t, 401, CodeUnauthorized)
	}
	// Another org asserted validly sees org B's view: not A's customer.
	if r := send("", sign(good, wrongOrg)); r.code != 404 {
		t.Errorf("org B asserted: %d %s, want 404", r.code, r.body)
	}
	if n := strings.Count(log.String(), "refused a forwarded request"); n != 1 || strings.Contains(log.String(), keyA) {
		t.Errorf("want one rate-limited warn line without keys, got %d:\n%s", n, log.String())
	}
	// With no cluster secret, every forwarded request is refused.
	bare := newFixture(t)
	bare.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	serve(bare.f, http.MethodGet, "", path, http.Header{ForwardedHeader: {"1"}, peerauth.Header: {sign(good, claim)}}).wantError(t, 401, CodeUnauthorized)
}

// TestNoSecondForward: a forwarded request that the receiver cannot serve
// locally gets 503, never another hop.
func TestNoSecondForward(t *testing.T) {
	const self = "127.0.0.1:8081"
	fx := newFixture(t, withPeers(t, self, "", nil))
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	other := newRecorder(t)
	fx.tasks.set(state.TaskOf(id, testParts), processor.Location{Remote: other.addr()})
	path := fmt.Sprintf("/v2/customers/%d", id)
	a, _ := newAuth(t, nil, clusterSecret).Sign(peerauth.Claim{Org: orgA, Audience: self, Method: http.MethodGet, Route: path})
	r := serve(fx.f, http.MethodGet, "", path, http.Header{ForwardedHeader: {"1"}, peerauth.Header: {a}})
	r.wantError(t, 503, CodeUnavailable)
	if r.header.Get("Retry-After") == "" || len(other.requests()) != 0 {
		t.Errorf("Retry-After %q, hops %d", r.header.Get("Retry-After"), len(other.requests()))
	}
}

// TestForwardOwnerDown: an owner that does not answer gives 503 + Retry-After.
func TestForwardOwnerDown(t *testing.T) {
	fx := newFixture(t, withPeers(t, "127.0.0.1:1", "", nil))
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.Listener.Addr().String()
	dead.Close()
	fx.tasks.set(processor.TaskOfOrg(int64(orgA), testParts), processor.Location{Remote: addr})
	r := fx.get(keyA, "/v2/customers/search?q=tom")
	r.wantError(t, 503, CodeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestPeerAllow(t *testing.T) {
	a, err := ParsePeerAllow(" .custream-headless.ns.svc , 10.0.0.0/8, fd00::/8, 192.168.1.7, localhost")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"custream-0.custream-headless.ns.svc":          true,
		"CUSTREAM-1.custream-headless.ns.svc.":         true,
		".custream-headless.ns.svc":                    false,
		"custream-headless.ns.svc":                     false,
		"evil-custream-headless.ns.svc":                false,
		"custream-0.custream-headless.ns.svc.evil.com": false,
		"10.1.2.3":        true,
		"11.1.2.3":        false,
		"::ffff:10.1.2.3": true,
		"fd00::1":         true,
		"fe80::1%eth0":    false,
		"192.168.1.7":     true,
		"192.168.1.8":     false,
		"localhost":       true,
		"localhost.evil":  false,
		"127.0.0.1":       false,
		"sub.localhost":   false,
	} {
		if got := a.Allows(host); got != want {
			t.Errorf("Allows(%q) = %v, want %v", host, got, want)
		}
	}
	d := DefaultPeerAllow()
	for host, want := range map[string]bool{"127.0.0.1": true, "127.3.2.1": true, "::1": true, "localhost": true, "10.0.0.1": false, "example.com": false} {
		if got := d.Allows(host); got != want {
			t.Errorf("default Allows(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"", " , ", "10.0.0.0/33", "host:8080", ".", "a b"} {
		if _, err := ParsePeerAllow(bad); err == nil {
			t.Errorf("ParsePeerAllow(%q) accepted", bad)
		}
	}
}
