package main

import (
	"log/slog"
	"os"
	"path/filepath"
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

// TestSourceSpecs: --sources' options and --source-orgs-file give the
// processor's admission; malformed ones are refused with the item named.
func TestSourceSpecs(t *testing.T) {
	specs, err := parseSourceSpecs("instore:orgs=42+43:signed, MARTJACK,WECHAT:multi:orgs=7")
	if err != nil {
		t.Fatal(err)
	}
	want := []sourceSpec{
		{source: customer.Source{Name: "INSTORE"}, orgs: []int64{42, 43}, signed: true},
		{source: customer.Source{Name: "MARTJACK"}},
		{source: customer.Source{Name: "WECHAT", MultiAccount: true}, orgs: []int64{7}},
	}
	if !reflect.DeepEqual(specs, want) {
		t.Fatalf("got %+v, want %+v", specs, want)
	}
	for _, bad := range []string{"INSTORE:orgs=", "INSTORE:orgs=42,43", "INSTORE:orgs=042", "INSTORE:orgs=-1", "INSTORE:sign", "INSTORE,instore", ":multi"} {
		if _, err := parseSourceSpecs(bad); err == nil {
			t.Errorf("--sources %q accepted", bad)
		}
	}

	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	log := slog.New(slog.DiscardHandler)
	pf := producerFlags{orgsFile: write("orgs", "# allow-lists\nwechat 7,8\n\nFACEBOOK 9\nFACEBOOK 10\n")}
	a, err := pf.admission("INSTORE:orgs=42:signed,WECHAT:multi,FACEBOOK:multi", log)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]int64{"INSTORE": {42}, "WECHAT": {7, 8}, "FACEBOOK": {9, 10}}; !reflect.DeepEqual(a.Orgs, want) {
		t.Errorf("orgs %v, want %v", a.Orgs, want)
	}
	if !a.Signed["INSTORE"] || a.Signed["WECHAT"] {
		t.Errorf("signed %v, want INSTORE only", a.Signed)
	}
	for name, tc := range map[string]struct{ sources, file string }{
		"a list in both places": {"INSTORE:orgs=42", "INSTORE 43"},
		"a line without orgs":   {"INSTORE", "INSTORE"},
		"a bad org":             {"INSTORE", "INSTORE 4x"},
	} {
		pf := producerFlags{orgsFile: write(strings.ReplaceAll(name, " ", "-"), tc.file)}
		if _, err := pf.admission(tc.sources, log); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	key := strings.Repeat("A", 43) + "="
	pf = producerFlags{keysFile: write("keys", "42 k1 "+key+"\n")}
	if a, err := pf.admission("INSTORE:orgs=42:signed", log); err != nil || !a.Keys.Has(42) {
		t.Errorf("keys file: %v, has 42: %v", err, a.Keys.Has(42))
	}
	pf = producerFlags{keysFile: write("short", "42 k1 AAAA\n")}
	if _, err := pf.admission("INSTORE", log); err == nil || strings.Contains(err.Error(), "AAAA") {
		t.Errorf("a 3-byte key: %v, want a refusal that does not quote it", err)
	}
}
