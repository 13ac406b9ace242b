package deploytest

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	// metricDef finds `prometheus.XxxOpts{ Name: "custream_…"` in Go source.
	metricDef = regexp.MustCompile(`prometheus\.(Counter|Gauge|Histogram|Summary)Opts\{\s*Name:\s*"(custream_[a-z0-9_]+)"`)
	// metricDesc finds `prometheus.NewDesc("custream_…"` (state's
	// collector of Pebble's figures).
	metricDesc = regexp.MustCompile(`prometheus\.NewDesc\("(custream_[a-z0-9_]+)"`)
	metricUse  = regexp.MustCompile(`\bcustream_[a-z0-9_]+\b`)
)

// exportedSeries are the series names custream exports, read from the
// source of processor/ (processor/metrics.go and the facade) and state/
// (Pebble's figures): histograms contribute their _bucket, _sum and _count
// series.
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	series := map[string]bool{}
	for _, dir := range []string{"processor", "state"} {
		walkMetrics(t, filepath.Join(root, dir), series)
	}
	for _, must := range []string{"custream_records_in_total", "custream_tasks", "custream_http_request_duration_seconds", "custream_pebble_flushes_total"} {
		if !series[must] {
			t.Fatalf("did not find %s in processor/ or state/: has the metrics code moved? found %v", must, series)
		}
	}
	return series
}

func walkMetrics(t *testing.T, dir string, series map[string]bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricDef.FindAllStringSubmatch(string(b), -1) {
			series[m[2]] = true
			if m[1] == "Histogram" || m[1] == "Summary" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					series[m[2]+s] = true
				}
			}
		}
		for _, m := range metricDesc.FindAllStringSubmatch(string(b), -1) {
			series[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkExpr(t *testing.T, where, expr string, series map[string]bool) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expr", where)
	}
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
	uses := metricUse.FindAllString(expr, -1)
	if len(uses) == 0 {
		t.Errorf("%s: queries no custream metric: %q", where, expr)
	}
	for _, m := range uses {
		if !series[m] {
			t.Errorf("%s: %s is not a metric custream exports", where, m)
		}
	}
}

func TestAlertRules(t *testing.T) {
	series := exportedSeries(t)
	doc := readYAML(t, deployPath("prometheus", "alerts.yaml"))[0]
	rules := 0
	for _, g := range list(doc, "groups") {
		for _, r := range list(g, "rules") {
			rules++
			name := str(r, "alert")
			if name == "" {
				t.Errorf("rule %d has no alert name", rules)
			}
			checkExpr(t, name, str(r, "expr"), series)
			if d, err := time.ParseDuration(str(r, "for")); err != nil || d < time.Minute {
				t.Errorf("%s: for %q: want a window of a minute or more", name, str(r, "for"))
			}
			if s := str(r, "labels", "severity"); s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", name, s)
			}
			if str(r, "annotations", "summary") == "" || str(r, "annotations", "runbook") == "" {
				t.Errorf("%s: needs annotations summary and runbook", name)
			}
		}
	}
	if rules < 5 {
		t.Errorf("%d alert rules, want at least 5", rules)
	}
}

type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ X, W int } `json:"gridPos"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboard(t *testing.T) {
	series := exportedSeries(t)
	b, err := os.ReadFile(deployPath("grafana", "custream.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" {
		t.Error("dashboard has no uid (provisioning needs a stable one)")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q overflows the 24-column grid", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		// The datasource variable lets the dashboard be imported anywhere.
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource must be ${datasource}", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			checkExpr(t, "panel "+p.Title, tg.Expr, series)
		}
	}
	for _, v := range d.Templating.List {
		q, _ := json.Marshal(v.Query)
		for _, m := range metricUse.FindAllString(string(q), -1) {
			if !series[m] {
				t.Errorf("variable %s: %s is not a metric custream exports", v.Name, m)
			}
		}
	}
	// The panels the operations guide promises.
	want := []string{"custream_records_in_total", "custream_results_total", "custream_dlq_total",
		"custream_transactions_total", "custream_transaction_seconds_bucket", "custream_restore_remaining",
		"custream_http_request_duration_seconds_bucket"}
	for _, m := range want {
		if !strings.Contains(string(b), m) {
			t.Errorf("dashboard does not show %s", m)
		}
	}
}
