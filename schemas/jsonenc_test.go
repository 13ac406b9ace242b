package schemas

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/custream/custream/processor/customer"
)

// jsonWire is cmd as the JSON form gives it back: what decoding gives
// (wireCommand: empty lists and maps nil), without what the form does not
// carry (Org is the key's, Source the topic's, Time the record's; register
// has no customer id), accountId and requestId trimmed as headers are.
func jsonWire(cmd customer.Command) customer.Command {
	cmd = wireCommand(cmd)
	cmd.Org, cmd.Source, cmd.Time = 0, "", time.Time{}
	cmd.AccountID, cmd.RequestID = strings.TrimSpace(cmd.AccountID), strings.TrimSpace(cmd.RequestID)
	if cmd.Op == customer.OpRegister {
		cmd.CustomerID = 0
	}
	return cmd
}

// jsonCommands are the commands the JSON encoder tests run on: the
// fixtures and n random ones (nil and empty lists and maps, present but
// empty pointers, hostile strings, extreme integers).
func jsonCommands(n int) []customer.Command {
	cmds := sampleCommands()
	g := newRecordGen(20260611)
	for i := range n {
		g.maxMap = 1 + 3*(i%2)
		cmds = append(cmds, g.command())
	}
	return cmds
}

// TestEncodeJSONBodyMatchesOld: EncodeJSONBody writes, byte for byte, what
// encoding/json wrote from the domain's tagged types before it
// (jsonenc_old_test.go), nil and empty lists included.
func TestEncodeJSONBodyMatchesOld(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	cmds := jsonCommands(n)
	for _, tc := range apiDocBodies() {
		cmds = append(cmds, tc.want)
	}
	for _, cmd := range cmds {
		got, err := EncodeJSONBody(cmd)
		if err != nil {
			t.Fatalf("%+v: %v", cmd, err)
		}
		want, _, err := encodeJSONBodyOld(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s body differs from encoding/json's\n got %s\nwant %s", cmd.Op, got, want)
		}
	}
}

// TestJSONCommandRoundTrip: for random commands, encoding in the JSON form
// and decoding gives the same command (as the form carries it), and the
// same command always encodes to the same bytes.
func TestJSONCommandRoundTrip(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	for _, cmd := range jsonCommands(n) {
		cmd.CustomerID = max(cmd.CustomerID, 1) // the header takes positive ids only
		value, hs, err := EncodeJSONCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		again, _, _ := EncodeJSONCommand(cmd)
		if !bytes.Equal(value, again) {
			t.Fatalf("two encodings differ\n%s\n%s", value, again)
		}
		want := jsonWire(cmd)
		back, err := DecodeJSONCommand(hs, value)
		if err != nil {
			t.Fatalf("decode %s: %v", value, err)
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("round trip of %s\n got %+v\nwant %+v", value, back, want)
		}
	}
}

// TestEncodeJSONBodyAPIDoc: the API doc's sample commands encode to their
// bodies in our field order, compact; a change here changes what load, gen
// and bench produce.
func TestEncodeJSONBodyAPIDoc(t *testing.T) {
	want := map[string]string{
		"register": `{"profiles":[{"firstName":"Tom","lastName":"Sawyer","fields":{"Favorite Color":"Green","Favorite Sport":"Cricket"},` +
			`"identifiers":[{"type":"email","value":"tom.sayer@example.com"}],` +
			`"commChannels":[{"type":"wechat","value":"ojOPTwFOX-aBmdRlE9MHptPjt2w19","primary":true,"verified":true}]}],` +
			`"loyaltyInfo":{"loyaltyType":"loyalty"},"extendedFields":{"city":"Bangalore","gender":"Male"}}`,
		"update": `{"profiles":[{"firstName":"Tom","lastName":"Sawyer","fields":{"city":"Bangalore","gender":"Male"},` +
			`"identifiers":[{"type":"mobile","value":"919111111111"},{"type":"email","value":"tom.sawyer@example.com"},{"type":"wechat","value":"wc_2"}],` +
			`"commChannels":[{"type":"email","value":"tom.sawyer@example.com","primary":true,"verified":false,"meta":{"residence":true}},` +
			`{"type":"wechat","value":"wc_2","primary":true,"verified":true,"meta":{"residence":true}}],"source":"WECHAT","accountId":"1234"}],` +
			`"loyaltyInfo":{"loyaltyType":"loyalty"},"extendedFields":{"city":"Bangalore","gender":"MALE"}}`,
		"changeIdentifier": `{"add":[{"type":"wechat","value":"ray11"}],"remove":[{"type":"email","value":"tom.sawyer@example.com"}]}`,
		"subscriptions": `{"communicationId":-1,"campaignId":-1,"reason":"Example reason","scope":{"scope":"USER","subScope":"NONE"},` +
			`"subscriptions":[{"channel":"EMAIL","accountId":"","priority":"BULK","type":"OPTOUT"},{"channel":"SMS","accountId":"","priority":"BULK","type":"OPTOUT"},` +
			`{"channel":"EMAIL","accountId":"","priority":"TRANS","type":"OPTIN"},{"channel":"SMS","accountId":"123","priority":"TRANS","type":"OPTIN"}]}`,
	}
	for _, tc := range apiDocBodies() {
		got, err := EncodeJSONBody(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want[tc.name] {
			t.Errorf("%s\n got %s\nwant %s", tc.name, got, want[tc.name])
		}
		// The API doc's body and ours mean the same command.
		if back, err := DecodeJSONBody(tc.op, got); err != nil || !reflect.DeepEqual(back, tc.want) {
			t.Errorf("%s: decoding our body gives %+v, %v", tc.name, back, err)
		}
	}
	if _, err := EncodeJSONBody(customer.Command{Op: customer.OpUpdate, Register: &customer.CustomerBody{}}); err == nil ||
		err.Error() != `encode JSON body: op "update" without its body` {
		t.Errorf("update without its body: %v", err)
	}
}

// jsonStrings are strings the escaper must write as encoding/json does.
var jsonStrings = []string{
	"", "plain", `"quoted"`, `back\slash`, "/", "<b>&amp;</b>", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
	"\u2028\u2029", "é顧客🚀", "\ufffd", "bad \xff\xfe byte", "cut \xc3", "surrogate \xed\xa0\x80", "\xf4\x90\x80\x80",
}

// TestAppendJSONString: the escaper's bytes are encoding/json's, and the
// decoder reads valid UTF-8 back unchanged.
func TestAppendJSONString(t *testing.T) {
	for _, s := range jsonStrings {
		checkJSONString(t, s)
	}
}

func checkJSONString(t *testing.T, s string) {
	t.Helper()
	got := appendJSONString(nil, s)
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%q: got %s, encoding/json writes %s", s, got, want)
	}
	cmd, err := DecodeJSONBody(customer.OpSubscriptions, append(append([]byte(`{"reason":`), got...), '}'))
	if err != nil {
		t.Fatalf("%q: decoding %s: %v", s, got, err)
	}
	if utf8.ValidString(s) && cmd.Subscriptions.Reason != s {
		t.Fatalf("%q: decoded as %q", s, cmd.Subscriptions.Reason)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}
