package main

import (
	"reflect"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// TestSourcesFlagDefault: --sources shows the domain's default sources in
// the form the flag parses back to the same sources.
func TestSourcesFlagDefault(t *testing.T) {
	s := formatSources(customer.DefaultSources())
	got, err := parseSources(s)
	if err != nil {
		t.Fatalf("parseSources(%q): %v", s, err)
	}
	if !reflect.DeepEqual(got, customer.DefaultSources()) {
		t.Errorf("parseSources(%q) = %v, want %v", s, got, customer.DefaultSources())
	}
}
