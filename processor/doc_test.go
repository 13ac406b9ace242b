package processor

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDocListsMetrics: the package doc's metric list (doc.go) is the set
// NewMetrics registers, no more, no less.
func TestDocListsMetrics(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	listed := regexp.MustCompile(`(?m)^//\t(custream_[a-z_]+)`).FindAllStringSubmatch(string(b), -1)
	var doc []string
	for _, m := range listed {
		doc = append(doc, m[1])
	}
	reg := &describer{}
	NewMetrics(reg)
	slices.Sort(doc)
	slices.Sort(reg.names)
	if !slices.Equal(doc, reg.names) {
		t.Errorf("doc.go lists the metrics\n%v\nNewMetrics registers\n%v", doc, reg.names)
	}
}

// describer is a Registerer that only notes the names of what is
// registered.
type describer struct{ names []string }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names = append(d.names, m[1])
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return true }
