package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/schemas"
)

// TestLoadPointsFlags: --points goes alone, and -h names every field a
// balance row may have.
func TestLoadPointsFlags(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
		out    string
	}{
		{[]string{"load", "--points", "b.csv", "--source", "INSTORE", "--org", "100"}, 2, "--points FILE loads balances on its own"},
		{[]string{"load", "--points", "b.csv", "--org", "100", "customers.csv"}, 2, "--points FILE loads balances on its own"},
		{[]string{"load", "--points", "b.csv", "--account", "22232"}, 2, "--points FILE loads balances on its own"},
		{[]string{"load", "--points", "b.csv", "--org", "-3"}, 2, "--org -3: want a positive org id"},
		{[]string{"load", "--org", "100", "customers.csv"}, 2, "want --source, --org and exactly one FILE, or --points FILE"},
		{[]string{"load", "-h"}, 0, "custream load --points FILE [--org O]"},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(c.args, &stdout, &stderr); got != c.status || !strings.Contains(stdout.String()+stderr.String(), c.out) {
			t.Errorf("custream %s: status %d, want %d, output lacks %q:\n%s%s", strings.Join(c.args, " "), got, c.status, c.out, stdout.String(), stderr.String())
		}
	}
	var stdout bytes.Buffer
	run([]string{"load", "-h"}, &stdout, &stdout)
	for _, name := range schemas.BalanceFields() {
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("custream load -h does not name the balance field %s", name)
		}
	}
}

// TestLoadPointsCommand runs `custream load --points` against the real
// broker with no processor: the good rows land on the points topic
// (--points-topic when given) keyed by their org, in the canonical JSON
// form; the bad row is reported and not sent; the results that cannot
// come are reported missing (exit status 1) once --wait has passed.
func TestLoadPointsCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a broker (make test)")
	}
	c := kafkatest.Start(t)
	group := kafkatest.Topic(t, "loadpts")
	topo := processor.DefaultTopology(group, group, customer.DefaultSources())
	pointsTopic := group + ".engine-balances"
	for i := range topo.Inputs {
		if topo.Inputs[i].Balances {
			topo.Inputs[i].Topic = pointsTopic
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := c.Admin(t)
	if _, err := processor.EnsureTopics(ctx, adm, topo, processor.TopicsConfig{Partitions: 2}); err != nil {
		t.Fatalf("creating topics: %v", err)
	}
	c.DeleteAfter(t, topo.Names()...)

	path := filepath.Join(t.TempDir(), "balances.csv")
	file := "customerId,programId,asOf,loyaltyPoints,org\n" +
		"11,3,2024-01-02T03:04:05Z,350,\n" + // --org's
		"12,3,2024-01-02T03:04:05Z,lots,\n" + // bad
		"13,3,2024-01-02T03:04:05Z,12.5,7\n" // its own org
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	status := run([]string{"load", "--brokers", strings.Join(c.Brokers, ","), "--group", group, "--topic-prefix", group,
		"--points-topic", pointsTopic, "--points", path, "--org", "100", "--wait", "2s"}, &stdout, &stderr)
	out := stdout.String()
	if status != 1 || !strings.Contains(out, "records:    3 (2 sent, 1 bad lines)") || !strings.Contains(out, "no result:  2") ||
		!strings.Contains(out, "load of balances "+path) {
		t.Fatalf("status %d, want 1 (no processor: results missing); output:\n%s%s", status, out, stderr.String())
	}
	rejects, err := os.ReadFile(path + ".rejects.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3,,bad-line,", "2,points-11-3-1704164645000,no-result,", "4,points-13-3-1704164645000,no-result,"} {
		if !strings.Contains(string(rejects), want) {
			t.Errorf("reject report lacks %q:\n%s", want, rejects)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumeTopics(pointsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < 2 && ctx.Err() == nil {
		fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		fs.EachRecord(func(r *kgo.Record) {
			cmd, _, err := schemas.DecodeBalance(ctx, nil, r.Value)
			if err != nil {
				t.Errorf("%s: %v", r.Value, err)
				return
			}
			got = append(got, string(r.Key)+" "+cmd.RequestID)
		})
	}
	slices.Sort(got)
	if want := []string{"100 points-11-3-1704164645000", "7 points-13-3-1704164645000"}; !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", pointsTopic, got, want)
	}
}

// TestLoadDocumented: docs/operations.md's "Loading files" names every
// flag load adds to the Kafka flags and has the balances' paragraph, and
// the README's bulk loads name --points.
func TestLoadDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Loading files")
	if i < 0 {
		t.Fatal(`docs/operations.md has no "Loading files" section`)
	}
	section := doc[i+3:]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	var kf kafkaFlags
	kfs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	kf.register(kfs)
	var usage bytes.Buffer
	run([]string{"load", "-h"}, &usage, &usage)
	flagLine := regexp.MustCompile(`(?m)^  --([a-z-]+)  \[`)
	var own int
	for _, m := range flagLine.FindAllStringSubmatch(usage.String(), -1) {
		if kfs.Lookup(m[1]) != nil {
			continue
		}
		own++
		if !strings.Contains(section, "`--"+m[1]) {
			t.Errorf("the section does not document --%s", m[1])
		}
	}
	if own < 7 {
		t.Errorf("found %d of load's own flags in `custream load -h`, want 7 or more:\n%s", own, usage.String())
	}
	for _, w := range []string{"### First import of balances", "custream load --points", "8908", "bad-line", "no-result"} {
		if !strings.Contains(section, w) {
			t.Errorf("the section does not mention %s", w)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(string(readme)), " "), "custream load --points FILE") {
		t.Error("README's bulk loads lack custream load --points")
	}
}
