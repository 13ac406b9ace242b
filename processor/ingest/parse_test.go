package ingest

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

func parseAll(t *testing.T, f Format, text string) []Row {
	t.Helper()
	var rows []Row
	if err := Parse(strings.NewReader(text), f, func(r Row) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return rows
}

func TestCSVEveryColumn(t *testing.T) {
	text := "\xEF\xBB\xBFOP,customerId,accountId,firstName,lastName,mobile,email,externalId,wechat,martjackId,fbId,email," +
		"channel.email,channel.mobile,channel.wechat,channel.mobile.verified,loyaltyType,createDate,ext.city,field.Favorite Color\n" +
		`register,,22232,Tom,"Sawyer, Jr.",919111111111,tom@example.com,x-1,wc_1,mj-1,fb-1,TOM2@example.com,` +
		`tom@example.com,919111111111,wc_1,true,non_loyalty,2016-06-23T19:11:18+08:00,Bangalore,"Green ""dark"""` + "\n"
	rows := parseAll(t, CSV, text)
	if len(rows) != 1 || rows[0].Err != nil {
		t.Fatalf("rows = %+v", rows)
	}
	want := customer.Command{Op: customer.OpRegister, AccountID: "22232", Register: &customer.CustomerBody{
		Profiles: []customer.ProfileInput{{
			FirstName: "Tom", LastName: "Sawyer, Jr.",
			Fields: map[string]string{"Favorite Color": `Green "dark"`},
			Identifiers: []customer.Identifier{
				{Type: "mobile", Value: "919111111111"}, {Type: "email", Value: "tom@example.com"},
				{Type: "externalId", Value: "x-1"}, {Type: "wechat", Value: "wc_1"}, {Type: "martjackId", Value: "mj-1"},
				{Type: "fbId", Value: "fb-1"}, {Type: "email", Value: "TOM2@example.com"},
			},
			CommChannels: []customer.CommChannel{
				{Type: "email", Value: "tom@example.com", Primary: true},
				{Type: "mobile", Value: "919111111111", Primary: true, Verified: true},
				{Type: "wechat", Value: "wc_1", Primary: true},
			},
		}},
		LoyaltyInfo:    &customer.LoyaltyInput{LoyaltyType: "non_loyalty"},
		ExtendedFields: map[string]string{"city": "Bangalore"},
		AttributionV2:  &customer.AttributionInput{CreateDate: "2016-06-23T19:11:18+08:00"},
	}}
	if rows[0].Line != 2 {
		t.Errorf("line = %d, want 2", rows[0].Line)
	}
	if !reflect.DeepEqual(rows[0].Cmd, want) {
		t.Errorf("got\n%+v\nwant\n%+v", *rows[0].Cmd.Register, *want.Register)
	}
}

func TestCSVOpsAndBadLines(t *testing.T) {
	text := strings.Join([]string{
		"op,customerId,mobile,firstName,add.email,remove.mobile", // 1
		"update,42,,Huck,,", // 2: update
		"changeIdentifier,42,,,a@example.com,919111111111", // 3
		"update,,,Huck,,",       // 4: bad, no customerId
		"delete,1,9191,,,",      // 5: bad op
		"register,,9191,Tom",    // 6: bad, 4 cells
		`register,,"9191,Tom,,`, // 7..8: quote runs to the next line
		"register,,9192,Tom,,",  // 9 (consumed by the broken quote? no: see below)
	}, "\n") + "\n"
	rows := parseAll(t, CSV, text)
	byLine := map[int]Row{}
	for _, r := range rows {
		byLine[r.Line] = r
	}
	if r := byLine[2]; r.Err != nil || r.Cmd.Op != customer.OpUpdate || r.Cmd.CustomerID != 42 || r.Cmd.Update.Profiles[0].FirstName != "Huck" {
		t.Errorf("line 2: %+v", r)
	}
	if r := byLine[3]; r.Err != nil || r.Cmd.Op != customer.OpChangeIdentifier ||
		!reflect.DeepEqual(r.Cmd.ChangeIdentifier, &customer.ChangeIdentifierBody{
			Add: []customer.Identifier{{Type: "email", Value: "a@example.com"}}, Remove: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}) {
		t.Errorf("line 3: %+v", r)
	}
	for _, line := range []int{4, 5, 6, 7} {
		if byLine[line].Err == nil {
			t.Errorf("line %d: want a bad line, got %+v", line, byLine[line])
		}
	}
	// Every row was reported: good or bad, none dropped.
	if len(rows) < 6 {
		t.Errorf("%d rows reported, want at least 6: %+v", len(rows), rows)
	}
}

func TestCSVRowsThatMixOps(t *testing.T) {
	text := "op,customerId,mobile,add.mobile,field.x\n" +
		"register,,919111111111,919111111112,\n" + // add. on register
		"changeIdentifier,7,919111111111,,\n" + // identifier column on changeIdentifier
		"subscriptions,7,,,\n" + // no sub.<channel>.<priority> cell
		"changeIdentifier,7,,919111111112,\n" // good
	rows := parseAll(t, CSV, text)
	for i, r := range rows[:3] {
		if r.Err == nil {
			t.Errorf("row %d (line %d): want a bad line", i, r.Line)
		}
	}
	if rows[3].Err != nil || rows[3].Line != 5 {
		t.Errorf("last row: %+v", rows[3])
	}
}

// A subscriptions row gives the same command as the API doc's sample body
// in JSONL.
func TestCSVSubscriptions(t *testing.T) {
	text := "op,customerId,sub.EMAIL.BULK,sub.sms.bulk,sub.email.trans,sub.sms.trans.123,communicationId,campaignId,reason,scope,subScope\n" +
		"subscriptions,17742,OPTOUT,OPTOUT,OPTIN,OPTIN,-1,-1,Example reason,USER,NONE\n"
	rows := parseAll(t, CSV, text)
	jsonl := `{"op":"subscriptions","customerId":17742,"communicationId":-1,"campaignId":-1,"reason":"Example reason",` +
		`"scope":{"scope":"USER","subScope":"NONE"},"subscriptions":[` +
		`{"channel":"EMAIL","accountId":"","priority":"BULK","type":"OPTOUT"},` +
		`{"channel":"SMS","accountId":"","priority":"BULK","type":"OPTOUT"},` +
		`{"channel":"EMAIL","accountId":"","priority":"TRANS","type":"OPTIN"},` +
		`{"channel":"SMS","accountId":"123","priority":"TRANS","type":"OPTIN"}]}` + "\n"
	want := parseAll(t, JSONL, jsonl)
	if len(rows) != 1 || rows[0].Err != nil || len(want) != 1 || want[0].Err != nil {
		t.Fatalf("rows = %+v, want = %+v", rows, want)
	}
	if !reflect.DeepEqual(rows[0].Cmd, want[0].Cmd) {
		t.Errorf("CSV row\n%+v\nJSONL line\n%+v", rows[0].Cmd.Subscriptions, want[0].Cmd.Subscriptions)
	}

	bad := "op,customerId,mobile,sub.sms.bulk,communicationId\n" +
		"register,,919111111111,OPTIN,\n" + // sub. on register
		"subscriptions,7,919111111111,OPTIN,\n" + // identifier on subscriptions
		"subscriptions,7,,OPTIN,x\n" + // communicationId not an integer
		"subscriptions,,,OPTIN,\n" + // no customerId
		"subscriptions,7,,OPTIN,5\n" // good
	rows = parseAll(t, CSV, bad)
	for i, r := range rows[:4] {
		if r.Err == nil {
			t.Errorf("row %d (line %d): want a bad line", i, r.Line)
		}
	}
	if r := rows[4]; r.Err != nil || r.Cmd.Subscriptions.CommunicationID != 5 || r.Cmd.Subscriptions.Subscriptions[0] != (customer.Subscription{Channel: "SMS", Priority: "BULK", Type: "OPTIN"}) {
		t.Errorf("last row: %+v", r)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	for _, text := range []string{
		"",
		"firstName,mobil\nTom,9191\n",        // misspelt column
		"firstName,lastName\nTom,Sawyer\n",   // no identifier, no customerId
		"firstName,ext.\nTom,x\n",            // empty ext name
		"mobile,channel.fax\n9191,1\n",       // unknown channel type
		"customerId,sub.fax.bulk\n7,OPTIN\n", // unknown subscription channel
		"customerId,sub.sms\n7,OPTIN\n",      // no priority
		"customerId,sub.sms.now\n7,OPTIN\n",  // unknown priority
	} {
		err := Parse(strings.NewReader(text), CSV, func(Row) error { return nil })
		if err == nil {
			t.Errorf("%q: want a header error", text)
		}
	}
}

func TestCSVQuotedNewlineKeepsLineNumbers(t *testing.T) {
	text := "firstName,mobile\n\"Tom\nSawyer\",919111111111\nHuck,919111111112\n"
	rows := parseAll(t, CSV, text)
	if len(rows) != 2 || rows[0].Line != 2 || rows[1].Line != 4 || rows[0].Cmd.Register.Profiles[0].FirstName != "Tom\nSawyer" {
		t.Fatalf("rows = %+v", rows)
	}
}

func TestJSONL(t *testing.T) {
	text := "\xEF\xBB\xBF" + `{"profiles":[{"firstName":"Tom","identifiers":[{"type":"mobile","value":919111111111}]}],"loyaltyInfo":{"loyaltyType":"loyalty","_comment":"x"}}` + "\n" +
		"\n" + // 2: blank, not a record
		`{"op":"update","customerId":"42","accountId":"22232","profiles":[{"firstName":"Huck"}]}` + "\r\n" +
		`{"op":"changeIdentifier","customerId":42,"add":[{"type":"wechat","value":"ray11"}]}` + "\n" +
		`{"op":"subscriptions","customerId":42,"subscriptions":[{"channel":"SMS","priority":"BULK","type":"OPTOUT"}]}` + "\n" +
		`{"profiles":[` + "\n" + // 6: broken JSON
		`{"op":"update","profiles":[]}` + "\n" + // 7: no customerId
		`{"op":"nope"}` + "\n" + // 8
		`[1,2]` + "\n" + // 9
		`{"profiles":"x"}` // 10: wrong shape, no final newline
	rows := parseAll(t, JSONL, text)
	lines := []int{}
	for _, r := range rows {
		lines = append(lines, r.Line)
	}
	if !reflect.DeepEqual(lines, []int{1, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("lines = %v", lines)
	}
	if r := rows[0]; r.Err != nil || r.Cmd.Register.Profiles[0].Identifiers[0].Value != "919111111111" || r.Cmd.Register.LoyaltyInfo.LoyaltyType != "loyalty" {
		t.Errorf("line 1: %+v", r)
	}
	if r := rows[1]; r.Err != nil || r.Cmd.Op != customer.OpUpdate || r.Cmd.CustomerID != 42 || r.Cmd.AccountID != "22232" {
		t.Errorf("line 3: %+v", r)
	}
	if r := rows[2]; r.Err != nil || r.Cmd.ChangeIdentifier.Add[0].Value != "ray11" {
		t.Errorf("line 4: %+v", r)
	}
	if r := rows[3]; r.Err != nil || r.Cmd.Subscriptions.Subscriptions[0].Type != "OPTOUT" {
		t.Errorf("line 5: %+v", r)
	}
	for _, r := range rows[4:] {
		if r.Err == nil {
			t.Errorf("line %d: want a bad line, got %+v", r.Line, r.Cmd)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	a, err := HashFile(strings.NewReader("mobile\n919111111111\n"))
	if err != nil {
		t.Fatal(err)
	}
	// sha256("mobile\n919111111111\n"), first 12 hex digits.
	if len(a.Hash) != 12 || a.Lines != 2 {
		t.Fatalf("id = %+v", a)
	}
	b, _ := HashFile(strings.NewReader("mobile\n919111111112\n"))
	if a.Hash == b.Hash {
		t.Errorf("different files, same hash %s", a.Hash)
	}
	c, _ := HashFile(strings.NewReader("mobile\n919111111111"))
	if c.Lines != 2 {
		t.Errorf("a last line without newline: lines = %d, want 2", c.Lines)
	}
	again, _ := HashFile(bytes.NewReader([]byte("mobile\n919111111111\n")))
	if again != a {
		t.Errorf("same bytes, different id: %+v vs %+v", again, a)
	}
	scope := Scope("INSTORE", "")
	rid := RequestID(scope, a.Hash, 17)
	if rid != "load-instore-"+a.Hash+"-17" {
		t.Errorf("RequestID = %q", rid)
	}
	if got := RequestID(Scope("WECHAT", "22232"), a.Hash, 3); got != "load-wechat.22232-"+a.Hash+"-3" {
		t.Errorf("RequestID with an account = %q", got)
	}
	if n, ok := LineOf(scope, a.Hash, rid); !ok || n != 17 {
		t.Errorf("LineOf(%q) = %d, %v", rid, n, ok)
	}
	for _, other := range []string{RequestID(scope, b.Hash, 17), RequestID("martjack", a.Hash, 17),
		"load-instore-" + a.Hash + "-x", "load-instore-" + a.Hash + "-0", "r1"} {
		if _, ok := LineOf(scope, a.Hash, other); ok {
			t.Errorf("LineOf(%q) matched", other)
		}
	}
}

func TestParseStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	err := Parse(strings.NewReader("mobile\n1\n2\n"), CSV, func(Row) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want stop", err)
	}
}

func TestCheckHeader(t *testing.T) {
	if err := CheckHeader(strings.NewReader("mobile,firstName\n1,Tom\n"), CSV); err != nil {
		t.Errorf("good header: %v", err)
	}
	if err := CheckHeader(strings.NewReader("mobil\n1\n"), CSV); err == nil {
		t.Errorf("misspelt column: want an error")
	}
	if err := CheckHeader(strings.NewReader("not json\n"), JSONL); err != nil {
		t.Errorf("JSONL has no header: %v", err)
	}
}
