package customer_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current output")

// TestGolden feeds the API doc's sample request bodies (verbatim, in
// testdata/golden/requests) through the rules and compares every response
// body with testdata/golden/*.json. Run with -update to rewrite them, then
// review the diff.
func TestGolden(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	// The bodies are read as the processor reads them: the JSON form is
	// schemas', not the domain's.
	body := func(op customer.Op) customer.Command {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", "requests", string(op)+".json"))
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := schemas.DecodeJSONBody(op, b)
		if err != nil {
			t.Fatalf("decoding the API doc's %s body: %v", op, err)
		}
		return cmd
	}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	run := func(golden string, cmd customer.Command) customer.Result {
		out := apply(t, cfg, st, cmd)
		compareGolden(t, golden, customer.Response(cmd, out.Result))
		return out.Result
	}

	id := run("register", customer.Command{RequestID: "g1", Org: 7, Op: customer.OpRegister, Source: "WECHAT", AccountID: "22232",
		Time: at("2016-06-23T19:11:18+08:00"), Register: body(customer.OpRegister).Register}).CreatedID

	run("update", customer.Command{RequestID: "g2", Org: 7, Op: customer.OpUpdate, Source: "WECHAT", AccountID: "22232", CustomerID: id,
		Time: at("2016-08-12T18:50:23+08:00"), Update: body(customer.OpUpdate).Update})

	// The sample changeIdentifier removes tom.sawyer@example.com, which
	// update did not add (update never adds identifiers): add it first.
	run("changeIdentifier-add", customer.Command{RequestID: "g3", Org: 7, Op: customer.OpChangeIdentifier, Source: "WECHAT", AccountID: "22232", CustomerID: id,
		Time: at("2016-08-12T19:00:00+08:00"), ChangeIdentifier: &customer.ChangeIdentifierBody{Add: ids(id2("email", "tom.sawyer@example.com"))}})
	run("changeIdentifier", customer.Command{RequestID: "g4", Org: 7, Op: customer.OpChangeIdentifier, Source: "WECHAT", AccountID: "22232", CustomerID: id,
		Time: at("2016-08-12T19:10:00+08:00"), ChangeIdentifier: body(customer.OpChangeIdentifier).ChangeIdentifier})

	run("subscriptions", customer.Command{RequestID: "g5", Org: 7, Op: customer.OpSubscriptions, Source: "WECHAT", CustomerID: id,
		Time: at("2016-08-12T19:20:00+08:00"), Subscriptions: body(customer.OpSubscriptions).Subscriptions})

	// Another source joins: the customer gets an INSTORE profile.
	run("register-join", customer.Command{RequestID: "g6", Org: 7, Op: customer.OpRegister, Source: "INSTORE",
		Time: at("2016-09-01T10:00:00+05:30"), Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{
			FirstName: "Tom", LastName: "Sawyer", Identifiers: ids(id2("mobile", "+91 91111 11111"), id2("email", "tom.sayer@example.com"))}}}})

	compareGolden(t, "fetch-all", fetch(t, cfg, st, 7, customer.FetchRequest{ID: id, Source: "ALL", Embed: "points,subscriptions,mlp"}))
	compareGolden(t, "fetch-wechat", fetch(t, cfg, st, 7, customer.FetchRequest{ID: id, Source: "WECHAT", AccountID: "22232"}))
	compareGolden(t, "lookup", lookup(t, cfg, st, 7, "WECHAT", "22232", "wechat", "ray11"))
	compareGolden(t, "lookup-not-found", lookup(t, cfg, st, 7, "INSTORE", "", "wechat", "ray11"))
	compareGolden(t, "search", search(t, cfg, st, 7, "tom", 10, 0))
	compareGolden(t, "subscriptions-get", subscriptionsOf(t, cfg, st, 7, id))
	compareGolden(t, "loyaltyDetails", loyaltyDetails(t, cfg, st, 7, id, 0))
	c := st.get(id)
	compareGolden(t, "snapshot", customer.Snapshot(c))
	checkSnapshotIsFetch(t, c, fetch(t, cfg, st, 7, customer.FetchRequest{ID: id, Source: "ALL", Embed: "subscriptions"}))
}

// checkSnapshotIsFetch: c's snapshot is the fetch body with source ALL and
// embed=subscriptions plus its org, and its Avro form (decoded with
// goavro) is the same document as its JSON form.
func checkSnapshotIsFetch(t *testing.T, c *customer.Customer, fetched customer.FetchView) {
	t.Helper()
	snap := customer.Snapshot(c)
	if snap.Org != c.Org || snap.MergedInto != 0 || snap.FetchView == nil || !reflect.DeepEqual(*snap.FetchView, fetched) {
		t.Errorf("snapshot %+v is not the fetch body %+v plus org %d", snap, fetched, c.Org)
	}
	js, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var jsDoc any
	if err := json.Unmarshal(js, &jsDoc); err != nil {
		t.Fatal(err)
	}
	avro, err := schemas.EncodeSnapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	avroDoc, err := schemas.DecodeSnapshot(avro)
	if err != nil {
		t.Fatal(err)
	}
	// Both marshalled again: keys sorted, numbers written alike.
	a, _ := json.Marshal(avroDoc)
	j, _ := json.Marshal(jsDoc)
	if !bytes.Equal(a, j) {
		t.Errorf("the Avro snapshot is another document than the JSON one:\navro %s\njson %s", a, j)
	}
}

func id2(t, v string) customer.Identifier { return customer.Identifier{Type: t, Value: v} }

func compareGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run with -update and review the diff):\n%s", name, path, got)
	}
}
