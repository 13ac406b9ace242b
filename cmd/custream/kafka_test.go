package main

import (
	"reflect"
	"strings"
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

// TestSASLNeedsTLS: SASL without TLS is refused unless the operator says
// the broker is reachable only where nobody can listen.
func TestSASLNeedsTLS(t *testing.T) {
	env := func(string) string { return "secret" }
	for _, tc := range []struct {
		name string
		k    kafkaFlags
		ok   bool
	}{
		{"PLAIN without TLS", kafkaFlags{saslMech: "PLAIN", saslUser: "u"}, false},
		{"SCRAM without TLS", kafkaFlags{saslMech: "SCRAM-SHA-512", saslUser: "u"}, false},
		{"PLAIN with TLS", kafkaFlags{saslMech: "PLAIN", saslUser: "u", tls: true}, true},
		{"SCRAM with a CA (TLS)", kafkaFlags{saslMech: "SCRAM-SHA-256", saslUser: "u", tlsCA: "testdata/none.pem"}, false}, // the CA file must exist
		{"PLAIN without TLS, allowed", kafkaFlags{saslMech: "PLAIN", saslUser: "u", plaintextAuth: true}, true},
		{"no SASL, no TLS", kafkaFlags{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.k.clientOpts(env)
			if (err == nil) != tc.ok {
				t.Fatalf("clientOpts: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && tc.k.tlsCA == "" && !strings.Contains(err.Error(), "--kafka-tls") {
				t.Errorf("the refusal %q does not say how to fix it", err)
			}
		})
	}
}
