package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The package graph as a contract (DESIGN.md, "Shape"; STYLE.md, "Make the
// architecture checkable"), checked like Pebble's internal/lint: every
// package of the module, its imports read by `go list` in-process, held to
// one table. A new package, or a new edge between two, is a decision: make
// it here, where it can be reviewed. It runs always, -short included.

const module = "github.com/custream/custream"

// allowedImports maps each package of the module (path inside the module)
// to the packages of the module it may import: imports for its own code,
// tests for what its _test.go files may import besides those and itself.
var allowedImports = map[string]struct{ imports, tests []string }{
	// The pure domain: rules, types, the error catalogue. Nothing of ours;
	// its tests may run the rules on the real state and codecs.
	"processor/customer": {tests: []string{"schemas", "state"}},
	// state owns every byte in Pebble; schemas every byte on the wire.
	// Its tests restore a fixture made from the sample mix.
	"state":   {imports: []string{"processor/customer"}, tests: []string{"processor/sample"}},
	"schemas": {imports: []string{"processor/customer"}, tests: []string{"schemas/registrytest"}},
	// The canonical form of a signed command and its verification.
	"schemas/cmdsig": {imports: []string{"linefile", "schemas"}},
	// Tests' schema registry: the real one of CUSTREAM_TEST_REGISTRY, or srfake.
	"schemas/registrytest": {},
	// sink encodes output records from results and customers; the
	// changelog's framing is state's.
	"sink": {imports: []string{"processor/customer", "schemas"}},
	// processor: group, tasks, the transaction loop.
	"processor": {
		imports: []string{"processor/customer", "schemas", "schemas/cmdsig", "sink", "state"},
		tests:   []string{"processor/facade/peerauth", "processor/kafkatest", "schemas/registrytest"},
	},
	// The HTTP facade asks the processor who owns a task and reads state
	// through the domain's queries.
	"processor/facade": {
		imports: []string{"linefile", "processor", "processor/customer", "processor/facade/peerauth", "state"},
		tests:   []string{"processor/kafkatest", "schemas"},
	},
	// The signed assertion members forward queries with; nothing of ours.
	"processor/facade/peerauth":         {imports: []string{"linefile"}},
	"processor/facade/internal/loadgen": {},
	"processor/facade/internal/seed":    {imports: []string{"processor/customer", "schemas"}},
	// custream load: files to commands; its tests run a real processor.
	"processor/ingest": {
		imports: []string{"processor/customer", "processor/sample", "schemas"},
		tests:   []string{"processor", "processor/kafkatest", "state"},
	},
	// custream dlq: reads the DLQ back and replays it to the inputs.
	"processor/dlq": {imports: []string{"processor", "processor/ingest", "schemas", "sink"}},
	// custream reset: a stopped group's offsets, changelog and repartition
	// topics; its tests build the topology with the processor's EnsureTopics.
	"processor/reset":     {imports: []string{"processor"}, tests: []string{"processor/customer", "processor/kafkatest"}},
	"processor/sample":    {imports: []string{"processor/customer"}},
	"processor/embedded":  {},
	"processor/kafkatest": {},
	// The one binary wires everything.
	"cmd/custream": {
		imports: []string{
			"linefile", "processor", "processor/customer", "processor/dlq", "processor/embedded", "processor/facade",
			"processor/facade/peerauth", "processor/ingest", "processor/reset", "processor/sample", "schemas", "schemas/cmdsig", "sink", "state",
		},
		tests: []string{"processor/kafkatest", "schemas/registrytest"},
	},
	"deploy/deploytest": {},
	// linefile: the hand-written config files' line rules, for everyone.
	"linefile": {},
}

// testOnly are packages no package's own code may import.
var testOnly = []string{"processor/kafkatest", "schemas/registrytest"}

// externalOwners are the only packages of the module whose own code may
// import a path under these prefixes (their tests may use them freely, e.g.
// Pebble's vfs.NewMem).
var externalOwners = map[string][]string{
	"github.com/cockroachdb/pebble":      {"state"},
	"github.com/linkedin/goavro":         {"schemas"},
	"github.com/testcontainers":          {"processor/kafkatest"},
	"github.com/twmb/franz-go/pkg/kfake": {"processor/embedded", "processor/kafkatest"},
}

// domain is the package that must stay runnable and testable without
// Kafka, Pebble, Avro or HTTP: its own code depends, even indirectly, on
// the standard library only, and on none of domainForbidden.
const domain = "processor/customer"

// domainForbidden are DESIGN.md's "no Kafka, Pebble, Avro or HTTP" (kgo,
// kadm, kfake, kmsg; pebble; goavro; net/http and what it brings).
var domainForbidden = []string{
	"github.com/twmb/franz-go",
	"github.com/cockroachdb/pebble",
	"github.com/linkedin/goavro",
	"net/http",
}

type listedPackage struct {
	ImportPath   string
	Name         string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
	Error        *struct{ Err string }
}

func listModule(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Name,Imports,TestImports,XTestImports,Deps,Error", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < len(allowedImports)/2 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// internal returns path inside the module, or ok false for other paths.
func internal(path string) (rel string, ok bool) {
	if path == module {
		return ".", true
	}
	return strings.CutPrefix(path, module+"/")
}

func isStd(path string) bool {
	return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
}

func hasPrefixPath(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestImports(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range listModule(t) {
		rel, _ := internal(p.ImportPath)
		seen[rel] = true
		if rule, ok := allowedImports[rel]; ok {
			checkEdges(t, rel, "", p.Imports, rule.imports)
			checkEdges(t, rel, " (tests)", slices.Concat(p.TestImports, p.XTestImports), slices.Concat(rule.imports, rule.tests))
		} else {
			t.Errorf("package %s is not in allowedImports (cmd/custream/imports_test.go): add it with the packages it may import", rel)
		}
		for _, imp := range p.Imports {
			dep, ok := internal(imp)
			switch {
			case ok && hasPrefixPath(dep, "cmd"):
				t.Errorf("%s imports %s: nothing imports a command", rel, dep)
			case ok && slices.Contains(testOnly, dep):
				t.Errorf("%s imports %s, which is for tests only", rel, dep)
			case imp == "flag" && p.Name != "main":
				t.Errorf("%s imports flag: only commands read flags; packages take their config as values", rel)
			}
			for prefix, owners := range externalOwners {
				if hasPrefixPath(imp, prefix) && !slices.Contains(owners, rel) {
					t.Errorf("%s imports %s: only %v may", rel, imp, owners)
				}
			}
		}
		if rel == domain {
			checkDomain(t, p)
		}
	}
	for rel := range allowedImports {
		if !seen[rel] {
			t.Errorf("allowedImports lists %s, which is not a package of the module (any more)", rel)
		}
	}
}

// checkEdges reports the imports of the module's packages that allowed
// does not list.
func checkEdges(t *testing.T, rel, what string, imports, allowed []string) {
	t.Helper()
	for _, imp := range imports {
		if dep, ok := internal(imp); ok && dep != rel && !slices.Contains(allowed, dep) {
			t.Errorf("%s%s imports %s, which allowedImports does not allow", rel, what, dep)
		}
	}
}

// checkDomain: the domain imports the standard library only, and depends,
// even indirectly, on none of domainForbidden. Its tests are not checked: they may use
// the real state (Pebble).
func checkDomain(t *testing.T, p listedPackage) {
	t.Helper()
	if len(p.Deps) == 0 {
		t.Errorf("go list gave no dependencies of %s", domain)
	}
	for _, f := range domainForbidden {
		for _, dep := range p.Deps {
			if hasPrefixPath(dep, f) {
				t.Errorf("%s depends on %s (forbidden: %s)", domain, dep, f)
				break // once per forbidden part
			}
		}
	}
	// The standard library imports only itself, so direct imports decide.
	for _, imp := range p.Imports {
		if !isStd(imp) {
			t.Errorf("%s imports %s: the domain uses the standard library only", domain, imp)
		}
	}
}
