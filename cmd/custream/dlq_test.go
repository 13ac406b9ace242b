package main

import (
	"bytes"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/custream/custream/processor/dlq"
)

// TestDLQFilterFlags: the filter flags take repeated values and comma
// lists (the environment a comma list), source names for origin topics,
// and times as RFC 3339 or a duration ago.
func TestDLQFilterFlags(t *testing.T) {
	t.Setenv("CUSTREAM_CODE", "too-large, bad-key")
	var f dlqFlags
	fs := flag.NewFlagSet("dlq list", flag.ContinueOnError)
	f.register(fs)
	if err := parseFlags(fs, []string{"--topic-prefix", "c", "--origin-topic", "instore,c.wechat", "--origin-topic", "Facebook",
		"--since", "2h", "--until", "2026-12-01T10:00:00Z", "--offset", "0:5,1:7", "--offset", "2:0", "--limit", "3"}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	s, err := f.setup(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := dlq.Filter{
		Codes:        []string{"too-large", "bad-key"},
		OriginTopics: []string{"c.instore", "c.wechat", "c.facebook"},
		Until:        time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Positions:    []dlq.Position{{Partition: 0, Offset: 5}, {Partition: 1, Offset: 7}, {Partition: 2, Offset: 0}},
	}
	got := s.filter
	if d := before.Add(-2 * time.Hour).Sub(got.Since); d < -time.Second || d > time.Second {
		t.Errorf("--since 2h gave %v, want about %v", got.Since, before.Add(-2*time.Hour))
	}
	got.Since = time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("filter\n%+v\nwant\n%+v", got, want)
	}
	if s.cfg.Topic != "c.dlq" || strings.Join(s.cfg.Brokers, ",") != "127.0.0.1:9092" || f.limit != 3 {
		t.Errorf("DLQ %s on %v, limit %d", s.cfg.Topic, s.cfg.Brokers, f.limit)
	}

	for _, bad := range [][]string{{"--since", "yesterday"}, {"--until", "-1h"}, {"--offset", "5"}, {"--limit", "-1"}} {
		var f dlqFlags
		fs := flag.NewFlagSet("dlq list", flag.ContinueOnError)
		f.register(fs)
		if err := parseFlags(fs, bad); err != nil {
			t.Fatal(err)
		}
		if _, err := f.setup(io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestDLQUsage(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
		out    string
	}{
		{[]string{"help", "dlq"}, 0, "list|show|replay"},
		{[]string{"dlq"}, 2, "list|show|replay"},
		{[]string{"dlq", "purge"}, 2, `unknown command "purge"`},
		{[]string{"dlq", "replay", "-h"}, 0, "--dry-run"},
		{[]string{"dlq", "show", "-h"}, 0, "--max-bytes"},
		{[]string{"dlq", "list", "--help"}, 0, "counts by code"},
		{[]string{"dlq", "list", "extra"}, 2, "unexpected arguments"},
		{[]string{"dlq", "replay", "--rate", "-5"}, 2, "--rate"},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(c.args, &stdout, &stderr); got != c.status || !strings.Contains(stdout.String()+stderr.String(), c.out) {
			t.Errorf("custream %s: status %d, want %d, output lacks %q:\n%s%s", strings.Join(c.args, " "), got, c.status, c.out, stdout.String(), stderr.String())
		}
	}
}
