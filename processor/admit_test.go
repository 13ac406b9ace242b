package processor_test

import (
	"strings"
	"testing"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas/cmdsig"
)

// TestAdmissionValidate: an admission that names unknown sources, or
// could never admit a command, is refused before anything runs.
func TestAdmissionValidate(t *testing.T) {
	keys, err := cmdsig.ParseKeys(strings.NewReader("42 k1 " + strings.Repeat("A", 43) + "="))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a    processor.Admission
		want string // "" = valid
	}{
		{"zero", processor.Admission{}, ""},
		{"lists and keys", processor.Admission{Orgs: map[string][]int64{"INSTORE": {42}}, Signed: map[string]bool{"INSTORE": true}, Keys: keys}, ""},
		{"signed, every org", processor.Admission{Signed: map[string]bool{"WECHAT": true}, Keys: keys}, ""},
		{"unknown source list", processor.Admission{Orgs: map[string][]int64{"POS": {42}}}, "not one of the sources"},
		{"empty list", processor.Admission{Orgs: map[string][]int64{"INSTORE": {}}}, "refuse every command"},
		{"unknown signed source", processor.Admission{Signed: map[string]bool{"POS": true}, Keys: keys}, "not one of the sources"},
		{"signed without keys", processor.Admission{Signed: map[string]bool{"INSTORE": true}}, "no org has a key"},
		{"allowed org without a key", processor.Admission{Orgs: map[string][]int64{"INSTORE": {42, 43}}, Signed: map[string]bool{"INSTORE": true}, Keys: keys}, "INSTORE:43"},
	} {
		cfg := processor.Config{Brokers: []string{"127.0.0.1:1"}, Group: "g", InstanceID: "i", Misrouted: processor.MisroutedRepartition,
			Topology: processor.DefaultTopology("c", "g", customer.DefaultSources()), Domain: customer.DefaultConfig(), Admission: tc.a}
		err := cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
