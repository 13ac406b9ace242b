package facade

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/state"
)

// TestForward: a member that does not own the task forwards to the owner
// with the same path, query and key, marked as forwarded, and relays the
// owner's answer unchanged.
func TestForward(t *testing.T) {
	owner := newFixture(t)
	id := owner.register(orgA, "Tom", "Sawyer", mobile("919111111111"))

	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(r.Context()))
		mu.Unlock()
		owner.f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	front := newFixture(t) // its own (empty) state: answers must come from the owner
	for p := int32(0); p < testParts; p++ {
		front.tasks.set(p, processor.Location{Remote: addr})
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
	// Errors are relayed too: the org check happens on the owner.
	if got := front.get(keyB, fmt.Sprintf("/v2/customers/%d", id)); got.code != 404 {
		t.Errorf("other org's customer through a forward: %d %s", got.code, got.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(paths)+1 {
		t.Fatalf("owner saw %d requests, want %d", len(seen), len(paths)+1)
	}
	for i, r := range seen[:len(paths)] {
		if r.Header.Get(ForwardedHeader) != "1" || r.Header.Get("Authorization") != "Bearer "+keyA || r.URL.RequestURI() != paths[i] {
			t.Errorf("forwarded request %d: %s %v", i, r.URL.RequestURI(), r.Header)
		}
	}
	if m := front.metrics(); !strings.Contains(m.body, `custream_http_forwarded_total{route="/v2/customers/{id}"} 2`) {
		t.Errorf("forward counter missing from\n%s", m.body)
	}
}

// TestNoSecondForward: a forwarded request that the receiver cannot serve
// locally gets 503, never another hop.
func TestNoSecondForward(t *testing.T) {
	fx := newFixture(t)
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	hops := 0
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hops++ }))
	defer other.Close()
	fx.tasks.set(state.TaskOf(id, testParts), processor.Location{Remote: other.URL})
	r := serve(fx.f, http.MethodGet, keyA, fmt.Sprintf("/v2/customers/%d", id), http.Header{ForwardedHeader: {"1"}})
	r.wantError(t, 503, CodeUnavailable)
	if r.header.Get("Retry-After") == "" || hops != 0 {
		t.Errorf("Retry-After %q, hops %d", r.header.Get("Retry-After"), hops)
	}
}

// TestForwardOwnerDown: an owner that does not answer gives 503 + Retry-After.
func TestForwardOwnerDown(t *testing.T) {
	fx := newFixture(t)
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
