package ingest

import (
	"bytes"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestGenerateParses checks that generated files load: every row parses,
// the same seed gives the same bytes, and the invalid and duplicate shares
// show.
func TestGenerateParses(t *testing.T) {
	for _, f := range []Format{CSV, JSONL} {
		var a, b bytes.Buffer
		cfg := GenConfig{Count: 2000, Seed: 7, Org: 5, Format: f, InvalidPct: 5, DuplicatePct: 10}
		if err := Generate(&a, cfg); err != nil {
			t.Fatal(err)
		}
		if err := Generate(&b, cfg); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: same seed, different files", f)
		}
		rows, invalid := 0, 0
		mobiles := map[string]int{}
		err := Parse(bytes.NewReader(a.Bytes()), f, func(r Row) error {
			rows++
			if r.Err != nil {
				t.Errorf("%s line %d: %v", f, r.Line, r.Err)
				return nil
			}
			m := r.Cmd.Register.Profiles[0].Identifiers[0].Value
			if m == "12" {
				invalid++
			}
			mobiles[m]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		dups := rows - len(mobiles) - invalid + 1
		if rows != 2000 || invalid < 40 || dups < 100 {
			t.Errorf("%s: %d rows, %d invalid, ~%d duplicates", f, rows, invalid, dups)
		}
	}
	var none bytes.Buffer
	if err := Generate(&none, GenConfig{Count: 500, Format: CSV}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(none.Bytes(), []byte(",12,")) {
		t.Errorf("InvalidPct 0 still wrote invalid mobiles")
	}
}
