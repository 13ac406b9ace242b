package facade

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/state"
)

const (
	testParts = 4
	orgA      = 100 // task 1
	orgB      = 200 // task 2
	keyA      = "key-of-org-100"
	keyB      = "key-of-org-200"
)

// fakeTasks is the facade's own Tasks interface, answering from a map; the
// state behind its Readers is real.
type fakeTasks struct {
	mu    sync.Mutex
	locs  map[int32]processor.Location
	ready bool
}

func (f *fakeTasks) Locate(task int32) processor.Location {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.locs[task]; ok {
		return l
	}
	return processor.Location{Reason: fmt.Sprintf("no task %d", task)}
}

func (f *fakeTasks) Ready() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ready {
		return false, "restoring tasks [1]"
	}
	return true, "tasks ready"
}

func (f *fakeTasks) Partitions() int32 { return testParts }

func (f *fakeTasks) set(task int32, l processor.Location) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locs[task] = l
}

// fixture is a facade over real Pebble state in memory, every task local.
type fixture struct {
	t     *testing.T
	db    *state.DB
	tasks *fakeTasks
	reg   *prometheus.Registry
	f     *Facade
	seq   int
}

// newFixture builds the fixture; opts adjust the facade's Options (peers).
func newFixture(t *testing.T, opts ...func(*Options)) *fixture {
	t.Helper()
	db, err := state.Open("", state.Options{FS: vfs.NewMem(), CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fx := &fixture{t: t, db: db, tasks: &fakeTasks{locs: map[int32]processor.Location{}, ready: true}, reg: prometheus.NewRegistry()}
	for p := int32(0); p < testParts; p++ {
		fx.tasks.locs[p] = processor.Location{Reader: db.Task(p, testParts).Reader()}
	}
	keys := &Keys{}
	for key, org := range map[string]int64{keyA: orgA, keyB: orgB} {
		if err := keys.Add(key, org); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{
		Tasks:      fx.tasks,
		Domain:     customer.DefaultConfig(),
		Keys:       keys,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry:   fx.reg,
		RetryAfter: 2 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	fx.f, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// apply runs one command through the domain on its org's task and applies
// its batch.
func (fx *fixture) apply(cmd customer.Command) customer.Result {
	fx.t.Helper()
	fx.seq++
	cmd.RequestID = "req-" + strconv.Itoa(fx.seq)
	task := fx.db.Task(processor.TaskOfOrg(int64(cmd.Org), testParts), testParts)
	b := task.NewBatch()
	out, err := customer.Apply(customer.DefaultConfig(), b, cmd)
	if err != nil {
		fx.t.Fatalf("applying %s: %v", cmd.Op, err)
	}
	if err := task.Apply(b, -1); err != nil {
		fx.t.Fatal(err)
	}
	if !out.Result.Success {
		fx.t.Fatalf("%s of org %d failed: %v", cmd.Op, cmd.Org, out.Result.Errors)
	}
	return out.Result
}

// register creates a customer with one INSTORE profile and returns its id.
func (fx *fixture) register(org int64, first, last string, ids ...customer.Identifier) int64 {
	return fx.apply(customer.Command{Org: org, Op: customer.OpRegister, Source: "INSTORE", Register: &customer.CustomerBody{
		Profiles: []customer.ProfileInput{{FirstName: first, LastName: last, Identifiers: ids}},
	}}).CreatedID
}

func mobile(v string) customer.Identifier { return customer.Identifier{Type: "mobile", Value: v} }

type response struct {
	code   int
	header http.Header
	body   string
}

func (fx *fixture) do(method, key, target string) response {
	fx.t.Helper()
	return serve(fx.f, method, key, target, nil)
}

func (fx *fixture) get(key, target string) response {
	fx.t.Helper()
	return fx.do(http.MethodGet, key, target)
}

func serve(h http.Handler, method, key, target string, hdr http.Header) response {
	req := httptest.NewRequest(method, target, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// wantError checks status and the first error code of an error body.
func (r response) wantError(t *testing.T, status int, code customer.Code) {
	t.Helper()
	if r.code != status {
		t.Fatalf("status %d, want %d; body %s", r.code, status, r.body)
	}
	var b errorBody
	r.decode(t, &b)
	if len(b.Errors) == 0 || b.Errors[0].Code != code || b.Warnings == nil {
		t.Fatalf("body %s: want errors[0].code %d and warnings []", r.body, code)
	}
}

func (r response) wantOK(t *testing.T) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
}

func TestFetch(t *testing.T) {
	fx := newFixture(t)
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))

	r := fx.get(keyA, fmt.Sprintf("/v2/customers/%d?source=ALL&embed=points,subscriptions,mlp", id))
	r.wantOK(t)
	var v map[string]any
	r.decode(t, &v)
	for _, field := range []string{"id", "profiles", "loyaltyInfo", "segments", "extendedFields", "warnings", "pointsSummary", "subscriptionInfo", "loyaltyProgramDetails"} {
		if _, ok := v[field]; !ok {
			t.Errorf("fetch body has no %q: %s", field, r.body)
		}
	}
	if _, ok := v["errors"]; ok {
		t.Errorf("a successful fetch carries errors: %s", r.body)
	}
	var fv customer.FetchView
	r.decode(t, &fv)
	if fv.ID != id || len(fv.Profiles) != 1 || fv.Profiles[0].FirstName != "Tom" || fv.Profiles[0].UserID != id {
		t.Errorf("fetch view %+v", fv)
	}

	// No source parameter means ALL, as in the API doc's samples.
	fx.get(keyA, fmt.Sprintf("/v2/customers/%d", id)).wantOK(t)
	fx.get(keyA, fmt.Sprintf("/v2/customers/%d?source=INSTORE", id)).wantOK(t)
}

func TestFetchErrors(t *testing.T) {
	fx := newFixture(t)
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	for _, tc := range []struct {
		target string
		status int
		code   customer.Code
	}{
		{fmt.Sprintf("/v2/customers/%d?source=MARTJACK", id), 404, customer.CodeNotFoundInSource},
		{fmt.Sprintf("/v2/customers/%d?source=WECHAT", id), 400, customer.CodeMissingAccountID},
		{fmt.Sprintf("/v2/customers/%d?source=INSTORE&accountId=x", id), 400, customer.CodeInvalidSourceAccount},
		{fmt.Sprintf("/v2/customers/%d?source=NOPE", id), 400, customer.CodeInvalidSource},
		{fmt.Sprintf("/v2/customers/%d", id+testParts*1000), 404, customer.CodeNoSuchCustomer},
		{"/v2/customers/abc", 400, CodeBadParameter},
		{"/v2/customers/0", 400, CodeBadParameter},
		{"/v2/customers/-5", 400, CodeBadParameter},
		{"/v2/customers/99999999999999999999", 400, CodeBadParameter},
		{"/v2/customers/abc/subscriptions", 400, CodeBadParameter},
		{"/v2/customers/abc/loyaltyDetails", 400, CodeBadParameter},
		{"/v2/nothing", 404, CodeNoRoute},
	} {
		t.Run(tc.target, func(t *testing.T) {
			fx.get(keyA, tc.target).wantError(t, tc.status, tc.code)
		})
	}
}

// TestFetchMergedAway: a merged-away customer answers 404 with 8069 naming
// its survivor, and the survivor answers with both customers' profiles.
// The merge is the domain's (DOMAIN.md, changeIdentifier): adding to V an
// identifier S holds in another scope merges V, the command's customer,
// into S.
func TestFetchMergedAway(t *testing.T) {
	fx := newFixture(t)
	victim := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	email := customer.Identifier{Type: "email", Value: "tom@example.com"}
	survivor := fx.apply(customer.Command{Org: orgA, Op: customer.OpRegister, Source: "WECHAT", AccountID: "22232", Register: &customer.CustomerBody{
		Profiles: []customer.ProfileInput{{FirstName: "Tom", Identifiers: []customer.Identifier{email}}},
	}}).CreatedID
	res := fx.apply(customer.Command{Org: orgA, Op: customer.OpChangeIdentifier, Source: "INSTORE", CustomerID: victim,
		ChangeIdentifier: &customer.ChangeIdentifierBody{Add: []customer.Identifier{email}}})
	var merged []customer.Issue
	for _, w := range res.Warnings {
		if w.Code == customer.CodeMerged {
			merged = append(merged, w)
		}
	}
	if len(merged) != 1 || res.CreatedID != survivor {
		t.Fatalf("changeIdentifier gave warnings %v and id %d: want one %d merging customer %d into %d",
			res.Warnings, res.CreatedID, customer.CodeMerged, victim, survivor)
	}

	r := fx.get(keyA, fmt.Sprintf("/v2/customers/%d", victim))
	r.wantError(t, 404, customer.CodeMergedAway)
	if !strings.Contains(r.body, "user id "+strconv.FormatInt(survivor, 10)) {
		t.Errorf("the merged-away answer does not name the survivor %d: %s", survivor, r.body)
	}

	r = fx.get(keyA, fmt.Sprintf("/v2/customers/%d", survivor))
	r.wantOK(t)
	var fv customer.FetchView
	r.decode(t, &fv)
	scopes := map[string]bool{}
	for _, p := range fv.Profiles {
		scopes[p.Source+"/"+p.AccountID] = true
	}
	if fv.ID != survivor || len(fv.Profiles) != 2 || !scopes["INSTORE/"] || !scopes["WECHAT/22232"] {
		t.Errorf("survivor %d after the merge: %s", survivor, r.body)
	}
}

func TestLookup(t *testing.T) {
	fx := newFixture(t)
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))

	r := fx.get(keyA, "/v2/customers/lookup?source=INSTORE&identifierName=mobile&identifierValue=%2B91%2091111%2011111")
	r.wantOK(t)
	var v customer.LookupView
	r.decode(t, &v)
	if v.Entity != id || v.Warnings == nil {
		t.Errorf("lookup %s, want entity %d", r.body, id)
	}
	if strings.Contains(r.body, `"errors"`) {
		t.Errorf("a successful lookup carries errors: %s", r.body)
	}
	fx.get(keyA, "/v2/customers/lookup?identifierName=mobile&identifierValue=919111111111").wantOK(t)

	for _, tc := range []struct {
		query  string
		status int
		code   customer.Code
	}{
		{"identifierName=mobile&identifierValue=919222222222", 404, customer.CodeNotFoundByIdentifier},
		{"source=MARTJACK&identifierName=mobile&identifierValue=919111111111", 404, customer.CodeNotFoundInSource},
		{"identifierName=shoeSize&identifierValue=42", 400, customer.CodeInvalidIdentifier},
		{"identifierValue=42", 400, customer.CodeInvalidIdentifier},
		{"source=WECHAT&identifierName=mobile&identifierValue=919111111111", 400, customer.CodeMissingAccountID},
		{"source=NOPE&identifierName=mobile&identifierValue=919111111111", 400, customer.CodeInvalidSource},
		{"identifierName=email&identifierValue=not-an-email", 400, customer.CodeInvalidEmail},
	} {
		t.Run(tc.query, func(t *testing.T) {
			fx.get(keyA, "/v2/customers/lookup?"+tc.query).wantError(t, tc.status, tc.code)
		})
	}
}

func TestSearch(t *testing.T) {
	fx := newFixture(t)
	var ids []int64
	for i := range 12 {
		ids = append(ids, fx.register(orgA, "Tom", fmt.Sprintf("Sawyer%d", i), mobile(fmt.Sprintf("9191111111%02d", i))))
	}
	fx.register(orgA, "Huck", "Finn", mobile("919333333333"))

	r := fx.get(keyA, "/v2/customers/search?q=tom&limit=5&offset=2")
	r.wantOK(t)
	var v customer.SearchView
	r.decode(t, &v)
	if v.Pagination != (customer.Pagination{Limit: 5, Offset: 2, Total: 12}) || len(v.Data) != 5 {
		t.Fatalf("search page %+v with %d hits, want total 12 and 5 hits", v.Pagination, len(v.Data))
	}
	if v.Data[0].UserID != ids[9] { // newest first, two skipped
		t.Errorf("first hit %d, want %d", v.Data[0].UserID, ids[9])
	}
	if v.Errors == nil || v.Warnings == nil {
		t.Errorf("errors and warnings must be [] in %s", r.body)
	}
	fx.get(keyA, "/v2/customers/search?q=TOM").wantOK(t) // default limit
	r = fx.get(keyA, "/v2/customers/search?q=tom&limit=1000")
	r.decode(t, &v)
	if v.Pagination.Limit != customer.MaxSearchLimit {
		t.Errorf("limit 1000 gave %d, want the cap %d", v.Pagination.Limit, customer.MaxSearchLimit)
	}
	for _, q := range []string{"limit=x", "offset=1.5", "limit=-1", "offset=-3"} {
		fx.get(keyA, "/v2/customers/search?q=tom&"+q).wantError(t, 400, CodeBadParameter)
	}
}

func TestSubscriptionsAndLoyalty(t *testing.T) {
	fx := newFixture(t)
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))

	r := fx.get(keyA, fmt.Sprintf("/v2/customers/%d/subscriptions", id))
	r.wantOK(t)
	var s customer.SubscriptionsView
	r.decode(t, &s)
	if len(s.Subscriptions) != 4 || s.Warnings == nil {
		t.Errorf("subscriptions %s", r.body)
	}

	r = fx.get(keyA, fmt.Sprintf("/v2/customers/%d/loyaltyDetails", id))
	r.wantOK(t)
	var l customer.LoyaltyDetailsView
	r.decode(t, &l)
	if len(l.Data) != 1 || l.Data[0].ProgramID != 1 || l.Data[0].LoyaltyID != id {
		t.Errorf("loyalty details %s", r.body)
	}
	fx.get(keyA, fmt.Sprintf("/v2/customers/%d/loyaltyDetails?programId=1", id)).wantOK(t)
	fx.get(keyA, fmt.Sprintf("/v2/customers/%d/loyaltyDetails?programId=77", id)).wantError(t, 404, customer.CodeNotInLoyaltyProgram)
	fx.get(keyA, fmt.Sprintf("/v2/customers/%d/loyaltyDetails?programId=x", id)).wantError(t, 400, CodeBadParameter)
	fx.get(keyA, fmt.Sprintf("/v2/customers/%d/subscriptions", id+1000*testParts)).wantError(t, 404, customer.CodeNoSuchCustomer)
}

func TestAuth(t *testing.T) {
	fx := newFixture(t)
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	paths := []string{
		fmt.Sprintf("/v2/customers/%d", id),
		fmt.Sprintf("/v2/customers/%d/subscriptions", id),
		fmt.Sprintf("/v2/customers/%d/loyaltyDetails", id),
		"/v2/customers/lookup?identifierName=mobile&identifierValue=919111111111",
		"/v2/customers/search?q=tom",
	}
	for _, p := range paths {
		none := fx.get("", p)
		none.wantError(t, 401, CodeUnauthorized)
		wrong := fx.get("key-of-org-10", p)
		if wrong.code != none.code || wrong.body != none.body {
			t.Errorf("%s: a wrong key answers %d %s, no key %d %s; want the same", p, wrong.code, wrong.body, none.code, none.body)
		}
		basic := serve(fx.f, http.MethodGet, "", p, http.Header{"Authorization": {"Basic " + keyA}})
		basic.wantError(t, 401, CodeUnauthorized)
		if none.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", p)
		}
	}
	// Health and readiness need no key.
	fx.get("", "/healthz").wantOK(t)
	fx.get("", "/readyz").wantOK(t)
}

// TestOtherOrg: a customer of another org answers exactly like one that
// does not exist: same status, same body, byte for byte.
func TestOtherOrg(t *testing.T) {
	fx := newFixture(t)
	empty := newFixture(t) // no customers at all
	idB := fx.register(orgB, "Becky", "Thatcher", mobile("919444444444"))
	fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	for _, p := range []string{
		fmt.Sprintf("/v2/customers/%d", idB),
		fmt.Sprintf("/v2/customers/%d?source=INSTORE", idB),
		fmt.Sprintf("/v2/customers/%d/subscriptions", idB),
		fmt.Sprintf("/v2/customers/%d/loyaltyDetails", idB),
		"/v2/customers/lookup?identifierName=mobile&identifierValue=919444444444",
		"/v2/customers/lookup?source=INSTORE&identifierName=mobile&identifierValue=919444444444",
		"/v2/customers/search?q=becky",
		"/v2/customers/search?q=91944",
	} {
		got, want := fx.get(keyA, p), empty.get(keyA, p)
		if got.code != want.code || got.body != want.body {
			t.Errorf("%s as org %d: %d %s\nwant what a missing customer gives: %d %s", p, orgA, got.code, got.body, want.code, want.body)
		}
		if got := fx.get(keyB, p); got.code != http.StatusOK {
			t.Errorf("%s as the owning org: %d %s", p, got.code, got.body)
		}
	}
}

func TestMethods(t *testing.T) {
	fx := newFixture(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		r := fx.do(m, keyA, "/v2/customers/lookup?identifierName=mobile&identifierValue=1")
		r.wantError(t, 405, CodeMethodNotAllowed)
		if r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", m, r.header.Get("Allow"))
		}
	}
	fx.do(http.MethodPost, keyA, "/v2/customers/7").wantError(t, 405, CodeMethodNotAllowed)
	if r := fx.do(http.MethodHead, keyA, "/v2/customers/search?q=x"); r.code != 200 {
		t.Errorf("HEAD: %d", r.code)
	}
}

func TestUnavailable(t *testing.T) {
	fx := newFixture(t)
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	task := state.TaskOf(id, testParts)
	orgTask := processor.TaskOfOrg(int64(orgA), testParts)
	fx.tasks.set(task, processor.Location{Reason: fmt.Sprintf("task %d is restoring", task)})
	fx.tasks.set(orgTask, processor.Location{Reason: "the group is rebalancing"})
	fx.tasks.ready = false
	for _, p := range []string{
		fmt.Sprintf("/v2/customers/%d", id),
		fmt.Sprintf("/v2/customers/%d/subscriptions", id),
		fmt.Sprintf("/v2/customers/%d/loyaltyDetails", id),
		"/v2/customers/lookup?identifierName=mobile&identifierValue=919111111111",
		"/v2/customers/search?q=tom",
	} {
		r := fx.get(keyA, p)
		r.wantError(t, 503, CodeUnavailable)
		if r.header.Get("Retry-After") != "2" {
			t.Errorf("%s: Retry-After %q, want 2", p, r.header.Get("Retry-After"))
		}
	}
	r := fx.get("", "/readyz")
	if r.code != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "restoring") {
		t.Errorf("readyz while restoring: %d %v %s", r.code, r.header, r.body)
	}
	fx.get("", "/healthz").wantOK(t)
	// Auth is checked first: an unauthenticated caller learns nothing.
	fx.get("", fmt.Sprintf("/v2/customers/%d", id)).wantError(t, 401, CodeUnauthorized)
}

// metrics is what a scrape of the facade's registry shows (the facade
// itself does not serve it: --metrics-addr does).
func (fx *fixture) metrics() response {
	fx.t.Helper()
	return serve(promhttp.HandlerFor(fx.reg, promhttp.HandlerOpts{}), http.MethodGet, "", "/metrics", nil)
}

func TestMetrics(t *testing.T) {
	fx := newFixture(t)
	fx.get(keyA, "/v2/customers/search?q=x")
	fx.get("", "/v2/customers/search?q=x")
	r := fx.metrics()
	if r.code != 200 {
		t.Fatalf("/metrics: %d", r.code)
	}
	for _, want := range []string{
		`custream_http_request_duration_seconds_count{code="200",route="/v2/customers/search"} 1`,
		`custream_http_request_duration_seconds_count{code="401",route="/v2/customers/search"} 1`,
		`custream_http_auth_failures_total{reason="missing"} 1`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(r.body, keyA) {
		t.Error("/metrics shows an API key")
	}
	// Not on the API port: with or without a key, it is no endpoint.
	fx.get("", "/metrics").wantError(t, 404, CodeNoRoute)
	fx.get(keyA, "/metrics").wantError(t, 404, CodeNoRoute)
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{Keys: &Keys{}, Domain: customer.DefaultConfig()}); err == nil {
		t.Error("no Tasks: want an error")
	}
	if _, err := New(Options{Tasks: &fakeTasks{}, Domain: customer.DefaultConfig()}); err == nil {
		t.Error("no Keys: want an error")
	}
	if _, err := New(Options{Tasks: &fakeTasks{}, Keys: &Keys{}}); err == nil {
		t.Error("zero domain config: want an error")
	}
}

func TestEmptyIntParam(t *testing.T) {
	fx := newFixture(t)
	fx.get(keyA, "/v2/customers/search?q=a&limit=").wantError(t, 400, CodeBadParameter)
	fx.get(keyA, "/v2/customers/7/loyaltyDetails?programId=").wantError(t, 400, CodeBadParameter)
	fx.get(keyA, "/v2/customers/search?limit=3").wantError(t, 400, CodeBadParameter) // no q
	fx.get(keyA, "/v2/customers/7?source=").wantError(t, 400, customer.CodeInvalidSource)
	fx.get(keyA, "/v2/customers/search?q=").wantOK(t) // an empty query finds nothing
}
