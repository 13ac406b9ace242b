package dlq

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custream/custream/sink"
)

// Filter selects DLQ records; its zero value selects every one. The
// conditions combine with "and"; the values of one condition with "or".
type Filter struct {
	// Codes are error.code values.
	Codes []string
	// OriginTopics are origin.topic values.
	OriginTopics []string
	// Since and Until bound when a record was refused (DeadLetter.When):
	// Since <= when < Until; a zero bound is open.
	Since, Until time.Time
	// Positions name records by partition and offset; reading is
	// narrowed to them.
	Positions []Position
}

// Match reports whether f selects d.
func (f Filter) Match(d sink.DeadLetter) bool {
	if len(f.Codes) > 0 && !slices.Contains(f.Codes, d.Code) {
		return false
	}
	if len(f.OriginTopics) > 0 && (!d.OriginOK || !slices.Contains(f.OriginTopics, d.Origin.Topic)) {
		return false
	}
	when := d.When()
	if !f.Since.IsZero() && when.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !when.Before(f.Until) {
		return false
	}
	if len(f.Positions) > 0 && !slices.Contains(f.Positions, Position{d.Record.Partition, d.Record.Offset}) {
		return false
	}
	return true
}

// String says what f selects, for reports: "all" or the conditions.
func (f Filter) String() string {
	var parts []string
	if len(f.Codes) > 0 {
		parts = append(parts, "code="+strings.Join(f.Codes, ","))
	}
	if len(f.OriginTopics) > 0 {
		parts = append(parts, "origin-topic="+strings.Join(f.OriginTopics, ","))
	}
	if !f.Since.IsZero() {
		parts = append(parts, "since="+f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "until="+f.Until.UTC().Format(time.RFC3339))
	}
	if len(f.Positions) > 0 {
		var ps []string
		for _, p := range f.Positions {
			ps = append(ps, p.String())
		}
		parts = append(parts, "offset="+strings.Join(ps, ","))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// Position names one record of the DLQ topic.
type Position struct {
	Partition int32
	Offset    int64
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Partition, p.Offset) }

// ParsePosition reads "P:O", e.g. "3:120".
func ParsePosition(s string) (Position, error) {
	ps, os, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Position{}, fmt.Errorf("offset %q: want PARTITION:OFFSET, e.g. 3:120", s)
	}
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return Position{}, fmt.Errorf("offset %q: want PARTITION:OFFSET with non-negative integers, e.g. 3:120", s)
	}
	return Position{int32(p), o}, nil
}

// SplitList turns repeated flag values, each possibly a comma-separated
// list, into one list: ["a,b", " c"] is [a b c]. Empty items are dropped.
func SplitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// ParseTime reads a time bound: an RFC 3339 time
// ("2026-12-01T10:00:00Z", fractions and offsets allowed) or a duration
// before now ("2h", "90m", "3d", "1d12h": Go's duration syntax, plus a
// leading whole number of days).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, badTime(s)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	var ago time.Duration
	rest := s
	if days, after, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return time.Time{}, badTime(s)
		}
		ago, rest = time.Duration(n)*24*time.Hour, after
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 {
			return time.Time{}, badTime(s)
		}
		ago += d
	}
	return now.Add(-ago), nil
}

func badTime(s string) error {
	return fmt.Errorf("time %q: want an RFC 3339 time (2026-12-01T10:00:00Z) or a duration ago (2h, 90m, 3d)", s)
}
