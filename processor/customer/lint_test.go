package customer_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureDomain fails if the domain package depends, even indirectly, on
// Kafka, Pebble, Avro or HTTP (like Pebble's internal/lint): the rules must
// stay runnable and testable without any of them. Test files may import the
// real state (Pebble) and are not checked.
func TestPureDomain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/custream/custream/processor/customer").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/twmb/franz-go", // kgo, kadm, kfake, kmsg
		"github.com/cockroachdb/pebble",
		"github.com/linkedin/goavro",
		"net/http",
		"github.com/custream/custream/state",
		"github.com/custream/custream/schemas",
		"github.com/custream/custream/sink",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("processor/customer depends on %s (forbidden: %s)", dep, f)
			}
		}
		if !strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") || strings.HasPrefix(dep, "github.com/custream/custream/processor/customer") {
			continue // standard library or this package
		}
		t.Errorf("processor/customer depends on %s: the domain uses the standard library only", dep)
	}
}
