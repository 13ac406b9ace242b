package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
)

// readRejectLines returns the line numbers of a `custream load` reject
// report (columns line, requestId, code, message): lines whose command the
// processor refused, so their identifiers were never stored.
func readRejectLines(r io.Reader) (map[int]bool, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reject report: %w", err)
	}
	if len(head) == 0 || head[0] != "line" {
		return nil, errors.New(`reject report: first column is not "line"`)
	}
	skip := map[int]bool{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return skip, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reject report: %w", err)
		}
		n, err := strconv.Atoi(rec[0])
		if err != nil {
			return nil, fmt.Errorf("reject report: line %q: %w", rec[0], err)
		}
		skip[n] = true
	}
}

// readMobiles reads the mobile column of a `custream gen` CSV (or any CSV
// whose header names a "mobile" column) and returns a uniform sample of at
// most max of its values (reservoir sampling, seeded, so the same file
// gives the same sample), leaving out empty cells and the physical lines
// in skip (line numbers count from 1, the header being line 1, as in
// `custream load`'s reject report).
func readMobiles(r io.Reader, skip map[int]bool, max int, seed uint64) ([]string, error) {
	if max <= 0 {
		return nil, errors.New("sample size must be positive")
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("identifier file: %w", err)
	}
	col := -1
	for i, h := range head {
		if strings.EqualFold(strings.TrimSpace(h), "mobile") {
			col = i
			break
		}
	}
	if col < 0 {
		return nil, errors.New(`identifier file: no "mobile" column in the header`)
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	out := make([]string, 0, min(max, 1<<20))
	seen := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("identifier file: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if skip[line] || col >= len(rec) || rec[col] == "" {
			continue
		}
		seen++
		switch {
		case len(out) < max:
			out = append(out, strings.Clone(rec[col]))
		default:
			if j := rng.IntN(seen); j < max {
				out[j] = strings.Clone(rec[col])
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("identifier file: no usable mobile values")
	}
	return out, nil
}
