package facade

import (
	_ "embed"
	"net/http"
	"strconv"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/state"
)

// The facade's own codes, for answers that are about HTTP rather than the
// customer rules. They sit outside the API's 8000 range.
const (
	CodeBadParameter     customer.Code = 9400 // a parameter is not of its type (id, limit, offset, programId)
	CodeUnauthorized     customer.Code = 9401 // no API key, or an unknown one
	CodeNoRoute          customer.Code = 9404 // no such endpoint
	CodeMethodNotAllowed customer.Code = 9405 // not GET or HEAD
	CodeRateLimited      customer.Code = 9429 // the API key's or the client address's rate limit is reached; see Retry-After
	CodeHeaderTooLarge   customer.Code = 9431 // the request's headers exceed the facade's limit (32 KiB)
	CodeInternal         customer.Code = 9500 // a store failure (details in the log)
	CodeUnavailable      customer.Code = 9503 // the task is restoring or moving; retry
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the facade's OpenAPI 3 document (YAML).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPI)
}

// orgTask is the task holding an org's identifier and search indexes: the
// partition its commands are keyed to.
func (f *Facade) orgTask(org int64) int32 {
	return processor.TaskOfOrg(org, f.opts.Tasks.Partitions())
}

// source is the source parameter; absent means ALL, as in the API doc's
// own sample requests (lookup?identifierName=…&identifierValue=…).
// Given but empty is passed on, and the rules reject it (8012).
func source(r *http.Request) string {
	if s, ok := r.URL.Query()["source"]; ok {
		return s[0]
	}
	return customer.SourceAll
}

// customerID parses the {id} path segment: a positive integer. The task is
// encoded in the id (state.TaskOf), so no lookup is needed to route.
func customerID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, customer.Issuef(CodeBadParameter, "customer id %q: want a positive integer", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// intParam parses an optional integer query parameter. Given but empty
// ("limit=") is not absent: it is not an integer, so 400.
func intParam(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	vs, ok := r.URL.Query()[name]
	if !ok {
		return 0, true
	}
	v := vs[0]
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, customer.Issuef(CodeBadParameter, "%s %q: want an integer", name, v))
		return 0, false
	}
	return n, true
}

// lookup: GET /v2/customers/lookup. An identifier lives in its org's task.
func (f *Facade) lookup(w http.ResponseWriter, r *http.Request, org int64) {
	q := r.URL.Query()
	f.serve(w, r, f.orgTask(org), func(rd customer.Reader) (any, []customer.Issue, error) {
		v, err := customer.Lookup(f.opts.Domain, rd, org, source(r), q.Get("accountId"), q.Get("identifierName"), q.Get("identifierValue"))
		return v, v.Errors, err
	})
}

// search: GET /v2/customers/search. An org's search index lives in its
// org's task, so the total is exact without a scatter-gather.
func (f *Facade) search(w http.ResponseWriter, r *http.Request, org int64) {
	if !r.URL.Query().Has("q") {
		writeError(w, http.StatusBadRequest, customer.NewIssue(CodeBadParameter, "q is required: the prefix to search for"))
		return
	}
	limit, ok := intParam(w, r, "limit")
	if !ok {
		return
	}
	offset, ok := intParam(w, r, "offset")
	if !ok {
		return
	}
	if limit < 0 || offset < 0 || limit > 1<<20 || offset > 1<<30 {
		writeError(w, http.StatusBadRequest, customer.Issuef(CodeBadParameter, "limit %d, offset %d: want limit 0..%d (capped at %d) and offset ≥ 0", limit, offset, 1<<20, customer.MaxSearchLimit))
		return
	}
	f.serve(w, r, f.orgTask(org), func(rd customer.Reader) (any, []customer.Issue, error) {
		v, err := customer.Search(f.opts.Domain, rd, org, r.URL.Query().Get("q"), int(limit), int(offset))
		return v, v.Errors, err
	})
}

// fetch: GET /v2/customers/{id}. Routed by the id; the org check happens
// on the owner (a customer of another org answers 8009 like a missing one).
func (f *Facade) fetch(w http.ResponseWriter, r *http.Request, org int64) {
	id, ok := customerID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	req := customer.FetchRequest{ID: id, Source: source(r), AccountID: q.Get("accountId"), Embed: q.Get("embed")}
	f.serve(w, r, state.TaskOf(id, f.opts.Tasks.Partitions()), func(rd customer.Reader) (any, []customer.Issue, error) {
		v, err := customer.Fetch(f.opts.Domain, rd, org, req)
		return v, v.Errors, err
	})
}

// subscriptions: GET /v2/customers/{id}/subscriptions.
func (f *Facade) subscriptions(w http.ResponseWriter, r *http.Request, org int64) {
	id, ok := customerID(w, r)
	if !ok {
		return
	}
	f.serve(w, r, state.TaskOf(id, f.opts.Tasks.Partitions()), func(rd customer.Reader) (any, []customer.Issue, error) {
		v, err := customer.SubscriptionsOf(f.opts.Domain, rd, org, id)
		return v, v.Errors, err
	})
}

// loyaltyDetails: GET /v2/customers/{id}/loyaltyDetails?programId=.
func (f *Facade) loyaltyDetails(w http.ResponseWriter, r *http.Request, org int64) {
	id, ok := customerID(w, r)
	if !ok {
		return
	}
	program, ok := intParam(w, r, "programId")
	if !ok {
		return
	}
	f.serve(w, r, state.TaskOf(id, f.opts.Tasks.Partitions()), func(rd customer.Reader) (any, []customer.Issue, error) {
		v, err := customer.LoyaltyDetails(f.opts.Domain, rd, org, id, program)
		return v, v.Errors, err
	})
}
