package facade

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
)

// TestOpenAPIConformance sends real requests — successes and every kind of
// error — and validates each response (status documented, body matching
// its schema) against the embedded OpenAPI document.
func TestOpenAPIConformance(t *testing.T) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPI)
	if err != nil {
		t.Fatalf("loading openapi.yaml: %v", err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI 3: %v", err)
	}
	// The document's server is relative ("/"); the router needs a host.
	doc.Servers = openapi3.Servers{{URL: "http://custream.test"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

	fx := newFixture(t)
	id := fx.register(orgA, "Tom", "Sawyer", mobile("919111111111"))
	nonLoyal := fx.apply(customer.Command{Org: orgA, Op: customer.OpRegister, Source: "WECHAT", AccountID: "22232", Register: &customer.CustomerBody{
		Profiles:    []customer.ProfileInput{{FirstName: "Huck", Identifiers: []customer.Identifier{{Type: "email", Value: "huck@example.com"}}}},
		LoyaltyInfo: &customer.LoyaltyInput{LoyaltyType: customer.NonLoyalty},
	}}).CreatedID
	// Balances in two programs, one fractional: every loyalty shape with
	// real figures, not only the zero shape.
	for _, b := range []customer.Balance{
		{ProgramID: 1, Version: 1, LoyaltyPoints: 350, Returned: 1100.2139892578125, CurrentSlab: "Gold", SlabSNo: 2, SlabExpiryDate: "2117-12-29T23:59:59+05:30", NextSlabSerialNumber: 3, LoyaltyID: 52350728},
		{ProgramID: 1223, Version: 1, LoyaltyPoints: 2200, CumulativePurchases: 43560, NextSlabSerialNumber: -1},
	} {
		if r := fx.apply(customer.Command{Org: orgA, Op: customer.OpPoints, CustomerID: id, Balance: &b}); !r.Success {
			t.Fatalf("balance: %+v", r)
		}
	}
	restoring := newFixture(t)
	for p := int32(0); p < testParts; p++ {
		restoring.tasks.set(p, processor.Location{Reason: "restoring"})
	}
	restoring.tasks.ready = false

	cases := []struct {
		h      *Facade
		key    string
		target string
		status int
	}{
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d", id), 200},
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d?source=ALL&embed=points,subscriptions,mlp", id), 200},
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d?embed=points,mlp", nonLoyal), 200}, // 8089 as warnings
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d?source=WECHAT&accountId=22232", nonLoyal), 200},
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d?source=MARTJACK", id), 404},
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d?source=WECHAT", id), 400},
		{fx.f, keyB, fmt.Sprintf("/v2/customers/%d", id), 404},
		{fx.f, "", fmt.Sprintf("/v2/customers/%d", id), 401},
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d/subscriptions", id), 200},
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d/subscriptions", id+400), 404},
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d/loyaltyDetails", id), 200},
		{fx.f, keyA, fmt.Sprintf("/v2/customers/%d/loyaltyDetails", nonLoyal), 404},
		{fx.f, keyA, "/v2/customers/lookup?source=ALL&identifierName=mobile&identifierValue=919111111111", 200},
		{fx.f, keyA, "/v2/customers/lookup?source=ALL&identifierName=mobile&identifierValue=919111111112", 404},
		{fx.f, keyA, "/v2/customers/lookup?source=ALL&identifierName=size&identifierValue=1", 400},
		{fx.f, keyA, "/v2/customers/search?q=tom", 200},
		{fx.f, keyA, "/v2/customers/search?q=zzz&limit=5&offset=1", 200},
		{fx.f, keyA, "/v2/customers/search?q=tom&limit=x", 400},
		{restoring.f, keyA, fmt.Sprintf("/v2/customers/%d", id), 503},
		{restoring.f, keyA, "/v2/customers/search?q=tom", 503},
		{fx.f, "", "/healthz", 200},
		{fx.f, "", "/readyz", 200},
		{restoring.f, "", "/readyz", 503},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://custream.test"+tc.target, nil)
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("no route in the document: %v", err)
			}
			in := &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			}
			if tc.status < 400 {
				if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
					t.Fatalf("the request does not match the document: %v", err)
				}
			}
			err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in,
				Status:                 rec.Code,
				Header:                 rec.Header(),
				Body:                   io.NopCloser(strings.NewReader(rec.Body.String())),
				Options:                &openapi3filter.Options{IncludeResponseStatus: true},
			})
			if err != nil {
				t.Fatalf("response does not match the document: %v\n%s", err, rec.Body)
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	fx := newFixture(t)
	r := fx.get("", "/openapi.yaml")
	if r.code != 200 || !strings.HasPrefix(r.body, "openapi: 3") || string(OpenAPI()) != r.body {
		t.Fatalf("/openapi.yaml: %d %.80s", r.code, r.body)
	}
}
