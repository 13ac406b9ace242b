package ingest

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

func TestWriteRejects(t *testing.T) {
	var buf bytes.Buffer
	in := []Reject{
		{Line: 3, RequestID: "load-abc-3", Code: CodeBadLine, Message: `CSV: bare " in non-quoted field`},
		{Line: 9, RequestID: "load-abc-9", Code: "8056", Message: "Invalid mobile number, with, commas"},
	}
	if err := WriteRejects(&buf, in); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("report is not CSV: %v", err)
	}
	want := [][]string{
		{"line", "requestId", "code", "message"},
		{"3", "load-abc-3", "bad-line", `CSV: bare " in non-quoted field`},
		{"9", "load-abc-9", "8056", "Invalid mobile number, with, commas"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report = %q", got)
	}
}

func TestSummaryCount(t *testing.T) {
	var s Summary
	s.count(customer.Result{Success: true}, false)
	s.count(customer.Result{Success: true, Warnings: []customer.Issue{{Code: customer.CodeJoined}}}, false)
	s.count(customer.Result{Success: true, Warnings: []customer.Issue{{Code: customer.CodeMerged}}}, true)
	s.count(customer.Result{Errors: []customer.Issue{{Code: customer.CodeDuplicateInScope}}}, false)
	s.count(customer.Result{Errors: []customer.Issue{{Code: customer.CodeDuplicateInScope}}}, true)
	s.count(customer.Result{Errors: []customer.Issue{{Code: customer.CodeInvalidMobile}, {Code: customer.CodeInvalidEmail}}}, false)
	if s.Accepted != 3 || s.Joined != 1 || s.Merged != 1 || s.Duplicates != 2 || s.RejectedTotal() != 3 ||
		!reflect.DeepEqual(s.Rejected, map[customer.Code]int{8007: 2, 8056: 1}) {
		t.Errorf("summary = %+v", s)
	}
	s.Records, s.Elapsed, s.Missing = 7, time.Second, 1
	var buf bytes.Buffer
	s.Write(&buf)
	for _, want := range []string{"rejected:   3 (8007: 2, 8056: 1)", "joined 8050: 1, merged 8051: 1", "no result:  1", "7 records/s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary text lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestSummaryOfBalances(t *testing.T) {
	s := Summary{Points: true, File: "b.csv"}
	s.count(customer.Result{Success: true, Op: customer.OpPoints}, false)
	s.count(customer.Result{Success: true, Op: customer.OpPoints, Warnings: []customer.Issue{{Code: customer.CodePointsRedirected}}}, true)
	s.count(customer.Result{Op: customer.OpPoints, Errors: []customer.Issue{{Code: customer.CodeStaleBalance}}}, false)
	s.count(customer.Result{Op: customer.OpPoints, Errors: []customer.Issue{{Code: customer.CodeNoSuchCustomer}}}, false)
	if s.Accepted != 2 || s.Redirected != 1 || s.Duplicates != 1 || !reflect.DeepEqual(s.Rejected, map[customer.Code]int{8009: 1, 8908: 1}) {
		t.Errorf("summary = %+v", s)
	}
	var buf bytes.Buffer
	s.Write(&buf)
	for _, want := range []string{"load of balances b.csv (request ids points-<customerId>-<programId>-<version>, or the row's requestId)",
		"applied:    2 (to a merged-away customer's survivor 8909: 1)", "rejected:   2 (8009: 1, 8908: 1)", "by the loyalty engine"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary text lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "joined") {
		t.Errorf("a balance summary speaks of joins:\n%s", buf.String())
	}
}

func TestProgressPlainLines(t *testing.T) {
	var buf syncBuffer
	p := NewProgress(&buf, false)
	p.Start("producing", 10)
	p.Add(10)
	p.Finish()
	if got := buf.String(); !strings.HasPrefix(got, "producing: 10/10 (100%)") || strings.Contains(got, "\r") {
		t.Errorf("plain progress = %q", got)
	}
	var nilp *Progress
	nilp.Start("x", 1) // a nil Progress shows nothing and does not panic
	nilp.Add(1)
	nilp.Finish()
}

func TestProgressBar(t *testing.T) {
	var buf syncBuffer
	p := NewProgress(&buf, true)
	p.Start("producing", 4)
	p.Add(2)
	p.Finish()
	got := buf.String()
	if !strings.HasPrefix(got, "\r\033[K") || !strings.Contains(got, "[===============               ]  50% 2/4") || !strings.HasSuffix(got, "\n") {
		t.Errorf("bar = %q", got)
	}
}
