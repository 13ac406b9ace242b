package ingest

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custream/custream/processor/customer"
)

// Reject report codes that are not API codes.
const (
	CodeBadLine  = "bad-line"  // the line did not parse; it was not sent
	CodeNoResult = "no-result" // sent, but no result arrived within the wait
)

// Reject is one row of the reject report.
type Reject struct {
	Line      int
	RequestID string
	Code      string // an API code such as "8007", or CodeBadLine, CodeNoResult
	Message   string
}

// WriteRejects writes the reject report: a header row and one row per
// reject, in the order given (Load sorts by line).
func WriteRejects(w io.Writer, rejects []Reject) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"line", "requestId", "code", "message"}); err != nil {
		return fmt.Errorf("writing reject report: %w", err)
	}
	for _, r := range rejects {
		if err := cw.Write([]string{strconv.Itoa(r.Line), r.RequestID, r.Code, r.Message}); err != nil {
			return fmt.Errorf("writing reject report: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing reject report: %w", err)
	}
	return nil
}

// Summary counts the outcome of one load.
type Summary struct {
	File string
	// Points marks a load of balances (Config.Points).
	Points bool
	Prefix string // request ids of this file start with it; "" for balances
	// Records are the data lines read: Produced + BadLines.
	Records  int
	Produced int
	BadLines int
	// Of the results received: Accepted succeeded (Joined and Merged are
	// among them: successes with warning 8050 or 8051; for balances,
	// Redirected: successes with 8909, applied to a merged-away customer's
	// survivor); Rejected counts failures by their first error code.
	Accepted   int
	Joined     int
	Merged     int
	Redirected int
	Rejected   map[customer.Code]int
	// Duplicates are results the processor answered from an earlier run
	// of the same file (header custream.duplicate: true), or for balances
	// from an earlier record of the same figure. They are also counted
	// above, with the earlier outcome.
	Duplicates int
	// Missing were produced but got no result within the wait.
	Missing     int
	RejectsPath string
	Elapsed     time.Duration
}

// RejectedTotal is the number of results that failed.
func (s Summary) RejectedTotal() int {
	n := 0
	for _, c := range s.Rejected {
		n += c
	}
	return n
}

// count adds one result to the summary.
func (s *Summary) count(r customer.Result, duplicate bool) {
	if duplicate {
		s.Duplicates++
	}
	if !r.Success || len(r.Errors) > 0 {
		if s.Rejected == nil {
			s.Rejected = map[customer.Code]int{}
		}
		code := customer.Code(0)
		if len(r.Errors) > 0 {
			code = r.Errors[0].Code
		}
		s.Rejected[code]++
		return
	}
	s.Accepted++
	for _, w := range r.Warnings {
		switch w.Code {
		case customer.CodeJoined:
			s.Joined++
		case customer.CodeMerged:
			s.Merged++
		case customer.CodePointsRedirected:
			s.Redirected++
		}
	}
}

// addResults adds the result counts of o (what count gathered) to s.
func (s *Summary) addResults(o Summary) {
	s.Accepted += o.Accepted
	s.Joined += o.Joined
	s.Merged += o.Merged
	s.Redirected += o.Redirected
	s.Duplicates += o.Duplicates
	for c, n := range o.Rejected {
		if s.Rejected == nil {
			s.Rejected = map[customer.Code]int{}
		}
		s.Rejected[c] += n
	}
}

// Write prints the summary for a person.
func (s Summary) Write(w io.Writer) {
	if s.Points {
		fmt.Fprintf(w, "load of balances %s (request ids points-<customerId>-<programId>-<version>, or the row's requestId)\n", s.File)
	} else {
		fmt.Fprintf(w, "load of %s (request ids %s<line>)\n", s.File, s.Prefix)
	}
	fmt.Fprintf(w, "  records:    %d (%d sent, %d bad lines)\n", s.Records, s.Produced, s.BadLines)
	if s.Points {
		fmt.Fprintf(w, "  applied:    %d (to a merged-away customer's survivor 8909: %d)\n", s.Accepted, s.Redirected)
	} else {
		fmt.Fprintf(w, "  accepted:   %d (joined 8050: %d, merged 8051: %d)\n", s.Accepted, s.Joined, s.Merged)
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(s.Rejected)) {
		parts = append(parts, fmt.Sprintf("%d: %d", c, s.Rejected[c]))
	}
	fmt.Fprintf(w, "  rejected:   %d (%s)\n", s.RejectedTotal(), strings.Join(parts, ", "))
	fmt.Fprintf(w, "  bad lines:  %d\n", s.BadLines)
	switch {
	case s.Duplicates > 0 && s.Points:
		fmt.Fprintf(w, "  duplicates: %d (figures already sent, by an earlier load or by the loyalty engine; outcomes above are the first ones)\n", s.Duplicates)
	case s.Duplicates > 0:
		fmt.Fprintf(w, "  duplicates: %d (already applied by an earlier load of this file; outcomes above are the first ones)\n", s.Duplicates)
	}
	if s.Missing > 0 {
		fmt.Fprintf(w, "  no result:  %d (listed as %s; loading the same file again is safe and collects them)\n", s.Missing, CodeNoResult)
	}
	fmt.Fprintf(w, "  rejects:    %s\n", s.RejectsPath)
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Records) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "  took %s, %.0f records/s\n", s.Elapsed.Round(10*time.Millisecond), rate)
}
