package ingest

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

func parseBalances(t *testing.T, f Format, org int64, text string) map[int]Row {
	t.Helper()
	rows := map[int]Row{}
	err := ParseBalances(strings.NewReader(text), f, org, func(r Row) error {
		if _, dup := rows[r.Line]; dup {
			t.Errorf("line %d twice", r.Line)
		}
		rows[r.Line] = r
		return nil
	})
	if err != nil {
		t.Fatalf("ParseBalances: %v", err)
	}
	return rows
}

// wantErr checks that row is a bad line whose message has every one of
// parts.
func wantErr(t *testing.T, rows map[int]Row, line int, parts ...string) {
	t.Helper()
	r, ok := rows[line]
	if !ok {
		t.Errorf("line %d: no row", line)
		return
	}
	if r.Err == nil {
		t.Errorf("line %d: no error, want one with %q (cmd %+v)", line, parts, r.Cmd)
		return
	}
	for _, p := range parts {
		if !strings.Contains(r.Err.Error(), p) {
			t.Errorf("line %d: error %q, want it to say %q", line, r.Err, p)
		}
	}
}

func TestBalanceCSVEveryColumn(t *testing.T) {
	text := "\xEF\xBB\xBFORG,CustomerId,programId,version,asOf,requestId,loyaltyPoints,lifetimePoints,redeemed,expired,returned,adjusted," +
		"cumulativePurchases,loyaltyId,currentSlab,slabSNo,slabExpiryDate,nextSlab,nextSlabSerialNumber,nextSlabDescription\n" +
		`7,42,3,5,,r-1,350.5,1200,100,10,2.25,-5,99999.99,77,"Gold, dark",2,2117-12-29T23:59:59+05:30,Platinum,3,"the ""top"" one"` + "\n" +
		" , 43 ,3,,2024-01-02T03:04:05.5+01:00,,1,,,,,,,,,,,,,\n"
	rows := parseBalances(t, CSV, 100, text)
	want := customer.Command{Op: customer.OpPoints, Org: 7, CustomerID: 42, RequestID: "r-1", Balance: &customer.Balance{
		ProgramID: 3, Version: 5, LoyaltyID: 77, LoyaltyPoints: 350.5, LifetimePoints: 1200, Redeemed: 100, Expired: 10,
		Returned: 2.25, Adjusted: -5, CumulativePurchases: 99999.99, CurrentSlab: "Gold, dark", SlabSNo: 2,
		SlabExpiryDate: "2117-12-29T23:59:59+05:30", NextSlab: "Platinum", NextSlabSerialNumber: 3, NextSlabDescription: `the "top" one`}}
	if r := rows[2]; r.Err != nil || !reflect.DeepEqual(r.Cmd, want) {
		t.Errorf("line 2: %v\n got %+v %+v\nwant %+v %+v", r.Err, r.Cmd, r.Cmd.Balance, want, *want.Balance)
	}
	// Empty cells are absent: the default org, no request id (so the
	// figure's), version from asOf in milliseconds, no next slab (-1).
	const asOfMillis = 1704161045500 // 2024-01-02T02:04:05.5Z
	want = customer.Command{Op: customer.OpPoints, Org: 100, CustomerID: 43, RequestID: schemas.BalanceRequestID(43, 3, asOfMillis),
		Balance: &customer.Balance{ProgramID: 3, Version: asOfMillis, LoyaltyPoints: 1, NextSlabSerialNumber: -1}}
	if r := rows[3]; r.Err != nil || !reflect.DeepEqual(r.Cmd, want) {
		t.Errorf("line 3: %v\n got %+v %+v\nwant %+v %+v", r.Err, r.Cmd, r.Cmd.Balance, want, *want.Balance)
	}
	if len(rows) != 2 {
		t.Errorf("%d rows, want 2", len(rows))
	}
}

func TestBalanceCSVHeader(t *testing.T) {
	for _, tc := range []struct {
		header string
		org    int64
		want   string // "" for a header that is fine
	}{
		{"customerId,programId,version", 100, ""},
		{"customerId,programId,asOf,org", 0, ""},
		{"customerId,programId,version,loyaltyPoint", 100, `unknown column "loyaltyPoint"`}, // a typo
		{"customerId,programId,version,points", 100, `column 4: unknown column "points"`},
		{"customerId,programId,version,redeemed,Redeemed", 100, "column 5: redeemed again (first in column 4)"},
		{"programId,version,loyaltyPoints", 100, "needs customerId and programId"},
		{"customerId,version", 100, "needs customerId and programId"},
		{"customerId,programId,loyaltyPoints", 100, "needs a version or an asOf column"},
		{"customerId,programId,version", 0, "no org column and no --org"},
		{"", 100, "unknown column"},
	} {
		text := tc.header + "\n1,2,3,4,5\n"
		var rows int
		err := ParseBalances(strings.NewReader(text), CSV, tc.org, func(Row) error { rows++; return nil })
		// What Load runs before it connects: the header alone.
		cerr := checkHeader(CSV, func(fn func(Row) error) error { return ParseBalances(strings.NewReader(text), CSV, tc.org, fn) })
		switch {
		case tc.want == "" && (err != nil || cerr != nil):
			t.Errorf("%q: %v / %v, want no error", tc.header, err, cerr)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want an error with %q", tc.header, err, tc.want)
		case tc.want != "" && (cerr == nil || cerr.Error() != err.Error()):
			t.Errorf("%q: the header check says %v, ParseBalances %v", tc.header, cerr, err)
		case tc.want != "" && rows > 0:
			t.Errorf("%q: %d rows read past a bad header", tc.header, rows)
		}
	}
	if err := ParseBalances(strings.NewReader(""), CSV, 100, func(Row) error { return nil }); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Errorf("empty file: %v", err)
	}
}

func TestBalanceCSVBadRows(t *testing.T) {
	text := strings.Join([]string{
		"org,customerId,programId,version,asOf,loyaltyPoints,currentSlab,requestId", // 1
		"7,42,3,5,,350,Gold,",                    // 2: good
		"7,42,3,5,,lots,Gold,",                   // 3: not a number
		"7,42,3,0,,350,Gold,",                    // 4: version 0 (CheckBalance)
		"7,42,3,-2,,350,Gold,",                   // 5: negative version
		"7,,3,5,,350,Gold,",                      // 6: no customer
		"7,42,,5,,350,Gold,",                     // 7: no program
		"7,42,3,,,350,Gold,",                     // 8: neither version nor asOf
		"7,42,3,,yesterday,350,Gold,",            // 9: asOf not RFC 3339
		"x,42,3,5,,350,Gold,",                    // 10: org not a number
		",42,3,5,,350,Gold,",                     // 11: no org and no default
		"7,42,3,5,,2e15,Gold,",                   // 12: beyond ±1e15
		"7,42,3,5,,NaN,Gold,",                    // 13: not a finite number
		"7,42,3,5,,350,\"Go\x01ld\",",            // 14: control character
		"7,42,3,5,,350,Gold,\"r\x02\"",           // 15: bad request id
		"7,42,3,5,350,Gold,",                     // 16: too few cells
		"7,42,3,6,,1,Gold,r-1",                   // 17: good, own request id
		"7,42.5,3,5,,350,Gold,",                  // 18: customerId not an integer
		"7,42,3,2024-01-02T03:04:05Z,,350,Gold,", // 19: a time where the version goes
		"7,42,3,,2024-01-02T03:04:05Z,350,Gold,", // 20: good: asOf
		"7,42,3,9,not-a-time,350,Gold,",          // 21: good: the version wins, asOf unread
		`7,42,3,5,,"350,Gold,`,                   // 22: quote never closed
	}, "\n") + "\n"
	rows := parseBalances(t, CSV, 0, text)
	for _, line := range []int{2, 17, 20, 21} {
		if r := rows[line]; r.Err != nil {
			t.Errorf("line %d: %v", line, r.Err)
		}
	}
	if r := rows[17]; r.Cmd.RequestID != "r-1" || r.Cmd.Balance.Version != 6 {
		t.Errorf("line 17: %+v", r.Cmd)
	}
	if r := rows[21]; r.Cmd.Balance == nil || r.Cmd.Balance.Version != 9 {
		t.Errorf("line 21: version %+v, want 9", r.Cmd.Balance)
	}
	wantErr(t, rows, 3, "loyaltyPoints", "want a number", "lots")
	wantErr(t, rows, 4, "version 0")
	wantErr(t, rows, 5, "version -2")
	wantErr(t, rows, 6, "customerId 0")
	wantErr(t, rows, 7, "programId 0")
	wantErr(t, rows, 8, "version 0")
	wantErr(t, rows, 9, "asOf", "RFC 3339")
	wantErr(t, rows, 10, `org "x"`)
	wantErr(t, rows, 11, "no org")
	wantErr(t, rows, 12, "loyaltyPoints 2e+15")
	wantErr(t, rows, 13, "loyaltyPoints", "want a number")
	wantErr(t, rows, 14, "currentSlab", "control characters")
	wantErr(t, rows, 15, "request")
	wantErr(t, rows, 16, "7 cells, the header has 8")
	wantErr(t, rows, 18, "customerId", "want an integer")
	wantErr(t, rows, 19, "version", "want an integer")
	wantErr(t, rows, 22, "quote")
	if len(rows) != 21 {
		t.Errorf("%d rows, want 21", len(rows))
	}
}

func TestBalanceJSONL(t *testing.T) {
	text := strings.Join([]string{
		`{"customerId":42,"programId":3,"version":5,"loyaltyPoints":350,"currentSlab":"Gold"}`, // 1: default org
		`{"org":7,"customerId":"43","programId":"3","asOf":"2024-01-02T03:04:05Z","loyaltyPoints":"12.5"}`,
		``,
		`   `,
		`{"org":"8","customerId":44,"programId":3,"version":1,"requestId":"r-44","nextSlabSerialNumber":null}`, // 5
		`{"org":null,"customerId":45,"programId":3,"version":1}`,                                               // 6: null org is absent
		`{"customerId":42,"programId":3,"version":5,"loyaltyPoint":350}`,                                       // 7: a typo
		`{"customerId":42,"programId":3,"version":5,"LoyaltyPoints":350}`,                                      // 8: wrong case
		`{"customerId":42,"programId":3,"version":5`,                                                           // 9: cut short
		`[1,2]`, // 10
		`{"customerId":42,"programId":3,"version":0}`,                    // 11: CheckBalance
		`{"org":-1,"customerId":42,"programId":3,"version":5}`,           // 12
		`{"customerId":42,"programId":3,"asOf":"2024-13-01T00:00:00Z"}`,  // 13
		`{"customerId":42,"programId":3,"version":5,"redeemed":{"a":1}}`, // 14
		`{"org":7,"customerId":42,"programId":3,"version":5}`,            // 15: no newline at the end
	}, "\n")
	rows := parseBalances(t, JSONL, 100, text)
	check := func(line int, org, id, version int64, rid string) {
		t.Helper()
		r := rows[line]
		if r.Err != nil {
			t.Errorf("line %d: %v", line, r.Err)
			return
		}
		if r.Cmd.Op != customer.OpPoints || r.Cmd.Org != org || r.Cmd.CustomerID != id || r.Cmd.Balance.Version != version || r.Cmd.RequestID != rid {
			t.Errorf("line %d: %+v %+v, want org %d, customer %d, version %d, request id %q", line, r.Cmd, r.Cmd.Balance, org, id, version, rid)
		}
	}
	check(1, 100, 42, 5, "points-42-3-5")
	check(2, 7, 43, 1704164645000, "points-43-3-1704164645000")
	check(5, 8, 44, 1, "r-44")
	check(6, 100, 45, 1, "points-45-3-1")
	check(15, 7, 42, 5, "points-42-3-5")
	if b := rows[1].Cmd.Balance; b.LoyaltyPoints != 350 || b.CurrentSlab != "Gold" || b.NextSlabSerialNumber != -1 {
		t.Errorf("line 1: %+v", *b)
	}
	if b := rows[2].Cmd.Balance; b.LoyaltyPoints != 12.5 {
		t.Errorf("line 2: %+v", *b)
	}
	wantErr(t, rows, 7, `unknown key "loyaltyPoint"`)
	wantErr(t, rows, 8, `key "LoyaltyPoints": the name is loyaltyPoints`)
	wantErr(t, rows, 9, "not a JSON object")
	wantErr(t, rows, 10, "not a JSON object")
	wantErr(t, rows, 11, "version 0")
	wantErr(t, rows, 12, `org "-1"`)
	wantErr(t, rows, 13, "asOf")
	wantErr(t, rows, 14, "redeemed", "want a number")
	if _, ok := rows[3]; ok {
		t.Errorf("a blank line is a row")
	}
	if len(rows) != 13 {
		t.Errorf("%d rows, want 13", len(rows))
	}

	// Without --org, a line without one is a bad line, not an error.
	rows = parseBalances(t, JSONL, 0, `{"customerId":42,"programId":3,"version":5}`+"\n")
	wantErr(t, rows, 1, "no org")
}

// TestBalanceRecord: a good row goes out as the canonical JSON form keyed
// by its org, which decodes to the row's command; a repeated figure is a
// reject that names the first line; a bad row is a bad line.
func TestBalanceRecord(t *testing.T) {
	cfg := &Config{Points: true, Topic: "customers.points", Org: 100, Format: JSONL}
	b := newBalances(cfg)
	text := `{"org":7,"customerId":42,"programId":3,"asOf":"2024-01-02T03:04:05Z","loyaltyPoints":350,"ignored":1}` + "\n" +
		`{"org":7,"customerId":42,"programId":3,"asOf":"2024-01-02T03:04:05Z","loyaltyPoints":350}` + "\n" +
		`{"org":7,"customerId":42,"programId":3,"version":1704164645000,"loyaltyPoints":351}` + "\n" +
		`{"org":8,"customerId":42,"programId":3,"version":1704164645000,"loyaltyPoints":351}` + "\n"
	var out []string
	err := b.parse(strings.NewReader(text), func(row Row) error {
		rec, rej, err := b.record(row)
		switch {
		case err != nil:
			return err
		case rej != nil:
			out = append(out, rej.Code+" "+rej.RequestID+": "+rej.Message)
		default:
			cmd, _, err := schemas.DecodeBalance(t.Context(), nil, rec.Value)
			if err != nil {
				t.Fatalf("line %d: %s does not decode: %v", row.Line, rec.Value, err)
			}
			cmd.Org = row.Cmd.Org
			if !reflect.DeepEqual(cmd, row.Cmd) {
				t.Errorf("line %d: sent %s, which reads as %+v, want %+v", row.Line, rec.Value, cmd, row.Cmd)
			}
			out = append(out, rec.Topic+" "+string(rec.Key)+" "+string(rec.Value))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		CodeBadLine + ` : unknown key "ignored" (a balance's keys are ` + knownNames() + ")",
		`customers.points 7 {"requestId":"points-42-3-1704164645000","customerId":42,"programId":3,"version":1704164645000,"loyaltyPoints":350,"lifetimePoints":0,"redeemed":0,"expired":0,"returned":0,"adjusted":0,"cumulativePurchases":0,"currentSlab":"","slabSNo":0,"slabExpiryDate":"","nextSlab":"","nextSlabSerialNumber":-1,"nextSlabDescription":""}`,
		// The same figure (asOf is the version) with other points: not sent.
		CodeBadLine + " points-42-3-1704164645000: the same request id as line 2 (customer 42, program 3, version 1704164645000, org 7): a figure is loaded once; give a newer version",
		// Another org's: its own request.
		`customers.points 8 {"requestId":"points-42-3-1704164645000","customerId":42,"programId":3,"version":1704164645000,"loyaltyPoints":351,"lifetimePoints":0,"redeemed":0,"expired":0,"returned":0,"adjusted":0,"cumulativePurchases":0,"currentSlab":"","slabSNo":0,"slabExpiryDate":"","nextSlab":"","nextSlabSerialNumber":-1,"nextSlabDescription":""}`,
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("records\n got %q\nwant %q", out, want)
	}
	// Results are matched by org, request id and op.
	for _, tc := range []struct {
		res  customer.Result
		line int
		ok   bool
	}{
		{customer.Result{Org: 7, Op: customer.OpPoints, RequestID: "points-42-3-1704164645000"}, 2, true},
		{customer.Result{Org: 8, Op: customer.OpPoints, RequestID: "points-42-3-1704164645000"}, 4, true},
		{customer.Result{Org: 9, Op: customer.OpPoints, RequestID: "points-42-3-1704164645000"}, 0, false},
		{customer.Result{Org: 7, Op: customer.OpRegister, RequestID: "points-42-3-1704164645000"}, 0, false},
	} {
		if line, ok := b.lineOf(tc.res); line != tc.line || ok != tc.ok {
			t.Errorf("lineOf(%+v) = %d, %v; want %d, %v", tc.res, line, ok, tc.line, tc.ok)
		}
	}
	if got := b.requestIDs([]int{4, 2}); !reflect.DeepEqual(got, []string{"points-42-3-1704164645000", "points-42-3-1704164645000"}) {
		t.Errorf("requestIDs(4, 2) = %q", got)
	}
}

// TestBalanceRequestIDKeys: an id of BalanceRequestID's form is kept as
// its numbers, any other as it is, and a row's own id that spells a
// figure's is that figure's.
func TestBalanceRequestIDKeys(t *testing.T) {
	for _, tc := range []struct {
		rid string
		ok  bool
	}{
		{"points-42-3-5", true},
		{"points-42-3-1704164645000", true},
		{"points-042-3-5", false},
		{"points-42-3", false},
		{"points-42-3-5-6", false},
		{"points--42-3-5", false},
		{"points-x-3-5", false},
		{"r-1", false},
		{"42-3-5", false},
	} {
		f, ok := figureOf(7, tc.rid)
		if ok != tc.ok || (ok && f != (figure{7, 42, 3, f.version})) {
			t.Errorf("figureOf(%q) = %+v, %v; want ok %v", tc.rid, f, ok, tc.ok)
		}
	}
	cfg := &Config{Points: true, Topic: "customers.points", Org: 7, Format: JSONL}
	b := newBalances(cfg)
	text := `{"customerId":42,"programId":3,"version":5}` + "\n" +
		`{"customerId":43,"programId":3,"version":5,"requestId":"points-42-3-5"}` + "\n" + // spells line 1's
		`{"customerId":43,"programId":3,"version":5,"requestId":"points-043-3-5"}` + "\n" // another id
	var rejected []int
	err := b.parse(strings.NewReader(text), func(row Row) error {
		_, rej, err := b.record(row)
		if rej != nil {
			rejected = append(rejected, rej.Line)
		}
		return err
	})
	if err != nil || !reflect.DeepEqual(rejected, []int{2}) {
		t.Errorf("rejected lines %v (%v), want [2]", rejected, err)
	}
	if line, ok := b.lineOf(customer.Result{Org: 7, Op: customer.OpPoints, RequestID: "points-043-3-5"}); !ok || line != 3 {
		t.Errorf("points-043-3-5: line %d, %v; want 3", line, ok)
	}
}

// FuzzBalanceRow: no input makes the balance parser panic, and a row it
// accepts goes out (EncodeBalanceJSON) as a value that the processor's
// decoder reads as the same balance.
func FuzzBalanceRow(f *testing.F) {
	f.Add([]byte(`{"org":7,"customerId":42,"programId":3,"asOf":"2024-01-02T03:04:05Z","loyaltyPoints":"350.5","currentSlab":"Gold"}`), false)
	f.Add([]byte(`{"customerId":"42","programId":3,"version":5,"requestId":"r\u00e9","nextSlabSerialNumber":null,"redeemed":-1e3}`), false)
	f.Add([]byte("customerId,programId,version,loyaltyPoints,org\n42,3,5,12.25,9\n"), true)
	f.Add([]byte("CUSTOMERID,programid,asOf,slabExpiryDate\n42,3,2024-01-02T03:04:05+05:30,\"a,b\"\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		format := JSONL
		if csv {
			format = CSV
		}
		_ = ParseBalances(bytes.NewReader(data), format, 100, func(row Row) error {
			if row.Err != nil {
				return nil
			}
			value, err := schemas.EncodeBalanceJSON(row.Cmd)
			if err != nil {
				t.Fatalf("line %d: %+v does not encode: %v", row.Line, row.Cmd, err)
			}
			got, _, err := schemas.DecodeBalance(t.Context(), nil, value)
			if err != nil {
				t.Fatalf("line %d: %s does not decode: %v", row.Line, value, err)
			}
			got.Org = row.Cmd.Org
			if !reflect.DeepEqual(got, row.Cmd) {
				t.Fatalf("line %d: %s reads as %+v %+v, want %+v %+v", row.Line, value, got, *got.Balance, row.Cmd, *row.Cmd.Balance)
			}
			return nil
		})
	})
}
