package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// Balance files: the loyalty engine's balances for a first import
// (custream load --points), one balance a row, each with the names of the
// points topic's JSON form (schemas.BalanceFields) plus org. Every row is
// decoded by the processor's own decoder (schemas.DecodeBalance), so a row
// the loader accepts is one the processor reads the same way, and a row it
// refuses would have gone to the DLQ.

// orgField is the loader's name for a row's org, beside the balance's
// fields; the points topic carries the org as the record key instead.
const orgField = "org"

// ParseBalances reads a balance file and calls fn with every row in file
// order, bad rows included. A good row's Cmd is an OpPoints command with
// Org (the row's own, else org), CustomerID, Balance and RequestID (the
// row's requestId, else schemas.BalanceRequestID) set. org 0 means rows
// must carry their own. It stops at the first error of fn, of reading, or
// of the CSV header (an unknown or repeated column, or a missing one that a
// balance cannot do without), and returns it.
func ParseBalances(r io.Reader, f Format, org int64, fn func(Row) error) error {
	switch f {
	case CSV:
		return parseCSV(newReader(r), func(header []string) (func([]string) (customer.Command, error), error) {
			return balanceColumns(header, org)
		}, fn)
	case JSONL:
		return parseJSONL(newReader(r), func(text []byte) (customer.Command, error) {
			return balanceLine(text, org)
		}, fn)
	}
	return fmt.Errorf("format %q: want csv or jsonl", f)
}

// balanceNames maps the lower-case spelling of every name a balance row
// may have to its own: the JSON form's fields and org.
var balanceNames = func() map[string]string {
	m := map[string]string{orgField: orgField}
	for _, n := range schemas.BalanceFields() {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// knownNames lists the names for error messages.
func knownNames() string {
	return strings.Join(append(schemas.BalanceFields(), orgField), ", ")
}

// balanceColumns reads a balance file's CSV header, names matched
// case-insensitively, and returns the decoder of its rows. An unknown
// column is an error, not ignored: a misspelt counter would load as 0 for
// every customer. A repeated column is one too, as nothing says which
// cell wins. So is a header without customerId, programId, version or
// asOf, or org when there is no default: no row could be a balance.
func balanceColumns(header []string, org int64) (func([]string) (customer.Command, error), error) {
	names := make([]string, len(header))
	at := map[string]int{}
	for i, h := range header {
		n, ok := balanceNames[strings.ToLower(strings.TrimSpace(h))]
		if !ok {
			return nil, fmt.Errorf("CSV header, column %d: unknown column %q (a balance's columns are %s)", i+1, h, knownNames())
		}
		if j, dup := at[n]; dup {
			return nil, fmt.Errorf("CSV header, column %d: %s again (first in column %d)", i+1, n, j+1)
		}
		names[i], at[n] = n, i
	}
	_, version := at["version"]
	_, asOf := at["asOf"]
	_, hasOrg := at[orgField]
	switch {
	case !has(at, "customerId") || !has(at, "programId"):
		return nil, errors.New("CSV header needs customerId and programId columns: no row could be a balance")
	case !version && !asOf:
		return nil, errors.New("CSV header needs a version or an asOf column: no row could be a balance")
	case !hasOrg && org <= 0:
		return nil, errors.New("CSV header has no org column and no --org is given: no row would have an org")
	}
	return func(rec []string) (customer.Command, error) { return balanceRow(names, rec, org) }, nil
}

func has(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

// balanceRow decodes one CSV row. Its cells become a JSON object of
// strings (the decoder reads a number given as its string), empty cells
// left out as absent, so that the cells mean exactly what the same names
// mean on the points topic: one decoder, one set of rules.
func balanceRow(names []string, rec []string, org int64) (customer.Command, error) {
	obj := make(map[string]string, len(names))
	for i, n := range names {
		if v := strings.TrimSpace(rec[i]); v != "" {
			obj[n] = v
		}
	}
	if s, ok := obj[orgField]; ok {
		o, err := parseOrg(s)
		if err != nil {
			return customer.Command{}, err
		}
		org = o
		delete(obj, orgField)
	}
	value, err := json.Marshal(obj)
	if err != nil {
		return customer.Command{}, fmt.Errorf("re-encoding the row: %w", err)
	}
	return decodeBalanceRow(value, org)
}

// balanceLine decodes one JSONL line: a points-topic JSON value, with an
// optional org beside its fields. Names are matched exactly, as the
// decoder matches them, and a name it does not read is an error here,
// where the decoder would ignore it (see balanceColumns).
func balanceLine(text []byte, org int64) (customer.Command, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(text, &obj); err != nil {
		return customer.Command{}, fmt.Errorf("not a JSON object: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		switch n, ok := balanceNames[strings.ToLower(k)]; {
		case !ok:
			return customer.Command{}, fmt.Errorf("unknown key %q (a balance's keys are %s)", k, knownNames())
		case n != k:
			return customer.Command{}, fmt.Errorf("key %q: the name is %s (JSON names are case-sensitive)", k, n)
		}
	}
	if raw, ok := obj[orgField]; ok && string(raw) != "null" {
		// A number or its string, as ids come both ways.
		o, err := parseOrg(strings.Trim(string(raw), `"`))
		if err != nil {
			return customer.Command{}, err
		}
		org = o
	}
	// The decoder ignores org (the points topic's JSON has none).
	return decodeBalanceRow(text, org)
}

// decodeBalanceRow decodes a balance with the processor's decoder, which
// applies customer.CheckBalance too, and checks the request id as the
// processor does: a row the processor would dead-letter is a bad line of
// the report instead, never sent.
func decodeBalanceRow(value []byte, org int64) (customer.Command, error) {
	if org <= 0 {
		return customer.Command{}, errors.New("no org: give the row an org, or give --org")
	}
	// No registry: a row is JSON, never the Confluent wire format.
	cmd, _, err := schemas.DecodeBalance(context.Background(), nil, value)
	if err != nil {
		return customer.Command{}, err
	}
	if err := customer.CheckRequestID(cmd.RequestID); err != nil {
		return customer.Command{}, err
	}
	cmd.Org = org
	return cmd, nil
}

// parseOrg reads an org id: a positive decimal integer.
func parseOrg(s string) (int64, error) {
	o, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || o <= 0 {
		return 0, fmt.Errorf("org %q: want a positive integer", s)
	}
	return o, nil
}
