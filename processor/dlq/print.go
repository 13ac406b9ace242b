package dlq

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/custream/custream/sink"
)

// timeLayout is how times are shown: error.time's own layout.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Table prints DLQ records one line each: position, time, error.code,
// origin, key, value size and the start of error.message. Flush it.
type Table struct {
	tw *tabwriter.Writer
}

// messageChars is how much of error.message a table line shows.
const messageChars = 60

// NewTable returns a Table writing to w, header included.
func NewTable(w io.Writer) *Table {
	t := &Table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.tw, "OFFSET\tTIME\tCODE\tORIGIN\tKEY\tVALUE B\tMESSAGE")
	return t
}

// Add prints d.
func (t *Table) Add(d sink.DeadLetter) {
	origin := "-"
	if d.OriginOK {
		origin = originString(d.Origin)
	}
	when := "-"
	if w := d.When(); !w.IsZero() {
		when = w.UTC().Format(timeLayout)
		if d.Time.IsZero() {
			when += " (ts)" // no error.time: the record's timestamp
		}
	}
	fmt.Fprintf(t.tw, "%d:%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Record.Partition, d.Record.Offset, when, orDash(d.Code), origin,
		keyText(d.Record.Key, 24), len(d.Record.Value), oneLine(d.Message, messageChars))
}

// Flush writes out what Add buffered.
func (t *Table) Flush() error { return t.tw.Flush() }

// Counts counts DLQ records by error.code.
type Counts map[string]int

// Add counts d.
func (c Counts) Add(d sink.DeadLetter) { c[d.Code]++ }

// Total is the number of records counted.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// String is "12 records (bad-key: 3, misrouted: 7, undecodable: 2)".
func (c Counts) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s: %d", orDash(k), c[k]))
	}
	return fmt.Sprintf("%d records (%s)", c.Total(), strings.Join(parts, ", "))
}

// WriteRecord prints d in full: where it is, its DLQ fields, every header
// as stored, the key and the value. Values (the record's and its
// headers') longer than maxBytes are cut there (0: no bound); each is
// shown as text when it is valid UTF-8 without control characters other
// than tab and newline, else as hex.
func WriteRecord(w io.Writer, topic string, d sink.DeadLetter, maxBytes int) {
	r := d.Record
	fmt.Fprintf(w, "%s %d:%d\n", topic, r.Partition, r.Offset)
	fmt.Fprintf(w, "  code:      %s\n", orDash(d.Code))
	fmt.Fprintf(w, "  message:   %s\n", orDash(d.Message))
	if !d.Time.IsZero() {
		fmt.Fprintf(w, "  time:      %s\n", d.Time.UTC().Format(timeLayout))
	} else {
		fmt.Fprintf(w, "  time:      - (no error.time; record timestamp %s)\n", r.Timestamp.UTC().Format(timeLayout))
	}
	fmt.Fprintf(w, "  instance:  %s\n", orDash(d.Instance))
	if d.OriginOK {
		fmt.Fprintf(w, "  origin:    %s (requestId %s)\n", originString(d.Origin), requestID(d))
	} else {
		fmt.Fprintf(w, "  origin:    - (no valid origin headers)\n")
	}
	if d.Truncated != "" {
		fmt.Fprintf(w, "  truncated: %s\n", d.Truncated)
	}
	fmt.Fprintf(w, "  timestamp: %s\n", r.Timestamp.UTC().Format(timeLayout))
	fmt.Fprintf(w, "  key:       %s\n", keyText(r.Key, maxBytes))
	fmt.Fprintf(w, "  headers:   %d\n", len(r.Headers))
	for _, h := range r.Headers {
		fmt.Fprintf(w, "    %s: %s\n", strconv.Quote(h.Key), bytesText(h.Value, maxBytes))
	}
	fmt.Fprintf(w, "  value:     %d bytes\n", len(r.Value))
	if len(r.Value) > 0 {
		fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(bytesText(r.Value, maxBytes), "\n", "\n    "))
	}
}

// keyText shows a record key: "(none)", the text of a printable key, or
// hex — an 8-byte key that is not digits also as the big-endian integer it
// holds (Java's LongSerializer) — cut at max bytes (0: no bound).
func keyText(k []byte, max int) string {
	switch {
	case len(k) == 0:
		return "(none)"
	case printable(k):
		return cut(string(k), max)
	case len(k) == 8:
		return fmt.Sprintf("0x%x (int64 %d)", k, int64(binary.BigEndian.Uint64(k)))
	}
	return "0x" + cut(hex.EncodeToString(k), 2*max)
}

// bytesText is b as text when printable, else "hex " and its hex, cut
// at max bytes (0: no bound) with what was left out said.
func bytesText(b []byte, max int) string {
	rest := 0
	if max > 0 && len(b) > max {
		text := utf8.Valid(b)
		b, rest = b[:max], len(b)-max
		// Do not split a UTF-8 sequence of a text value.
		for back := 0; text && back < utf8.UTFMax-1 && len(b) > 0 && !utf8.Valid(b); back++ {
			b, rest = b[:len(b)-1], rest+1
		}
	}
	s := "hex " + hex.EncodeToString(b)
	if printable(b) {
		s = string(b)
	}
	if rest > 0 {
		s += fmt.Sprintf(" … (%d more bytes)", rest)
	}
	return s
}

// printable: valid UTF-8 without control characters but tab and newline.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\t' && r != '\n' {
			return false
		}
	}
	return true
}

// cut shortens s to max runes (0: no bound), marking the cut.
func cut(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

// oneLine is s on one line, at most n runes.
func oneLine(s string, n int) string {
	return cut(strings.Join(strings.Fields(s), " "), n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
