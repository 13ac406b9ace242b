package processor_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
)

// results follows the committed results topic, so a test can wait for the
// result of each record it sends before sending the next: with records on
// two topics of one task, that fixes the order they are applied in.
type results struct {
	t    *testing.T
	cl   *kgo.Client
	seen map[string]schemas.ResultRecord
}

func (h *harness) followResults(t *testing.T) *results {
	return &results{t: t, seen: map[string]schemas.ResultRecord{}, cl: h.client(t, kgo.ConsumeTopics(h.topo.Results),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))}
}

func (rs *results) of(requestID string) schemas.ResultRecord {
	rs.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		if rr, ok := rs.seen[requestID]; ok {
			return rr
		}
		if time.Now().After(deadline) {
			rs.t.Fatalf("no result for %s within a minute", requestID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := rs.cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			rr, err := schemas.DecodeResult(r.Value)
			if err != nil {
				rs.t.Fatalf("result at %d: %v", r.Offset, err)
			}
			rs.seen[rr.RequestID] = rr
		})
	}
}

// TestPointsScenarios runs the cases of docs/points.md through a
// processor on the real broker, one record at a time: a balance before
// its customer's registration, versions out of order, a merge with
// balances on both sides, a late balance for the victim, and the engine's
// own figure for the survivor.
func TestPointsScenarios(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 1) // one task: customer ids are 1, 2, 3, …
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)
	rs := h.followResults(t)
	const org = 7
	send := func(cmd customer.Command) schemas.ResultRecord {
		t.Helper()
		h.produce(t, []customer.Command{cmd})
		return rs.of(cmd.RequestID)
	}
	n := 0
	balance := func(cid int64, b customer.Balance) customer.Command {
		n++
		return customer.Command{RequestID: fmt.Sprintf("b%d", n), Org: org, Op: customer.OpPoints, CustomerID: cid, Balance: &b}
	}
	register := func(id string, source, account string, ident customer.Identifier) customer.Command {
		return customer.Command{RequestID: id, Org: org, Op: customer.OpRegister, Source: source, AccountID: account,
			Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom", Identifiers: []customer.Identifier{ident}}}}}
	}
	wantCodes := func(what string, rr schemas.ResultRecord, success bool, codes ...customer.Code) {
		t.Helper()
		var got []customer.Code
		for _, i := range append(rr.Errors, rr.Warnings...) {
			got = append(got, i.Code)
		}
		if rr.Success != success || !reflect.DeepEqual(got, codes) {
			t.Fatalf("%s: %+v, want success %v with codes %v", what, rr.Result, success, codes)
		}
	}

	// A balance before its customer's registration is refused, not kept.
	wantCodes("balance before the registration", send(balance(1, customer.Balance{ProgramID: 1, Version: 9, LoyaltyPoints: 999})), false, customer.CodeNoSuchCustomer)
	if rr := send(register("r1", "INSTORE", "", customer.Identifier{Type: "mobile", Value: "919111111111"})); rr.CreatedID != 1 {
		t.Fatalf("registration: %+v, want customer 1", rr.Result)
	}
	// Out of order: 3, then 1 and 2 are late; the refused 9 never counted.
	wantCodes("v3", send(balance(1, customer.Balance{ProgramID: 1, Version: 3, LoyaltyPoints: 100, CurrentSlab: "Gold", SlabSNo: 2, NextSlabSerialNumber: -1})), true)
	wantCodes("v1", send(balance(1, customer.Balance{ProgramID: 1, Version: 1, LoyaltyPoints: 1})), false, customer.CodeStaleBalance)
	wantCodes("v2", send(balance(1, customer.Balance{ProgramID: 1, Version: 2, LoyaltyPoints: 2})), false, customer.CodeStaleBalance)

	// V (customer 2) has balances in programs 1 and 2, S (customer 1) in 1.
	if rr := send(register("r2", "WECHAT", "22232", customer.Identifier{Type: "wechat", Value: "ray11"})); rr.CreatedID != 2 {
		t.Fatalf("registration: %+v, want customer 2", rr.Result)
	}
	wantCodes("V p1", send(balance(2, customer.Balance{ProgramID: 1, Version: 4, LoyaltyPoints: 40, CumulativePurchases: 500, CurrentSlab: "Silver", SlabSNo: 1, NextSlabSerialNumber: -1})), true)
	wantCodes("V p2", send(balance(2, customer.Balance{ProgramID: 2, Version: 1, LoyaltyPoints: 10, CurrentSlab: "Tier1", SlabSNo: 1, NextSlabSerialNumber: -1})), true)
	merge := customer.Command{RequestID: "merge", Org: org, Op: customer.OpChangeIdentifier, Source: "WECHAT", AccountID: "22232", CustomerID: 2,
		ChangeIdentifier: &customer.ChangeIdentifierBody{Add: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}}
	wantCodes("merge", send(merge), true, customer.CodeMerged)
	notices := h.readTopic(t, h.topo.Merges, 1, time.Minute)
	notice, err := schemas.DecodeMerge(notices[0].Value)
	if err != nil || notice.VictimID != 2 || len(notice.Balances) != 2 {
		t.Fatalf("merge notice %+v (%v), want V's two balances", notice, err)
	}
	// A late balance for V moves S by the difference: 100 + 40 → 100 + 70.
	late := send(balance(2, customer.Balance{ProgramID: 1, Version: 5, LoyaltyPoints: 70, CumulativePurchases: 600, CurrentSlab: "Silver", SlabSNo: 1, NextSlabSerialNumber: -1}))
	wantCodes("late balance for V", late, true, customer.CodePointsRedirected)
	if late.CreatedID != 1 {
		t.Fatalf("late balance for V landed on %d, want the survivor 1", late.CreatedID)
	}
	s := lastSnapshotOf(t, h, 1)
	want := []customer.ProgramDetails{
		{LoyaltyPoints: 170, CumulativePurchases: 600, LoyaltyID: 1, CurrentSlab: "Gold", SlabSNo: 2, NextSlabSerialNumber: -1, ProgramID: 1},
		{LoyaltyPoints: 10, LoyaltyID: 1, CurrentSlab: "Tier1", SlabSNo: 1, NextSlabSerialNumber: -1, ProgramID: 2},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("survivor's balances after the late one\n got %+v\nwant %+v", s, want)
	}
	// The engine's own merged figure for S wins by version, whole.
	wantCodes("S's merged figure", send(balance(1, customer.Balance{ProgramID: 1, Version: 4, LoyaltyPoints: 1000, CurrentSlab: "Platinum", SlabSNo: 3, NextSlabSerialNumber: -1})), true)
	if s := lastSnapshotOf(t, h, 1); s[0].LoyaltyPoints != 1000 || s[0].CurrentSlab != "Platinum" || s[1].LoyaltyPoints != 10 {
		t.Fatalf("survivor's balances after its own figure: %+v", s)
	}
}

// lastSnapshotOf reads customer id's last committed snapshot's balances.
func lastSnapshotOf(t *testing.T, h *harness, id int64) []customer.ProgramDetails {
	t.Helper()
	var last map[string]any
	for _, r := range h.readTopic(t, h.topo.Snapshots, -1, time.Minute) {
		if string(r.Key) == strconv.FormatInt(id, 10) {
			d, err := schemas.DecodeSnapshot(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			last = d
		}
	}
	var out []customer.ProgramDetails
	list, _ := last["loyaltyProgramDetails"].([]any)
	for _, x := range list {
		p, _ := x.(map[string]any)
		f := func(k string) float64 { v, _ := p[k].(float64); return v }
		i := func(k string) int64 { v, _ := p[k].(int64); return v }
		s := func(k string) string { v, _ := p[k].(string); return v }
		out = append(out, customer.ProgramDetails{Redeemed: f("redeemed"), Expired: f("expired"), Returned: f("returned"), Adjusted: f("adjusted"),
			LifetimePoints: f("lifetimePoints"), LoyaltyPoints: f("loyaltyPoints"), CumulativePurchases: f("cumulativePurchases"), LoyaltyID: i("loyaltyId"),
			CurrentSlab: s("currentSlab"), NextSlab: s("nextSlab"), NextSlabSerialNumber: int(i("nextSlabSerialNumber")), NextSlabDescription: s("nextSlabDescription"),
			SlabSNo: int(i("slabSNo")), SlabExpiryDate: s("slabExpiryDate"), ProgramID: i("programId")})
	}
	return out
}

// TestBadBalancesGoToDLQ: records on the points topic that are not
// balances go to the DLQ with their reason and the points topic as their
// origin, and so does a balance of an org the points topic may not carry
// (--points-orgs); the good balance beside them is applied.
func TestBadBalancesGoToDLQ(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 1)
	h.tune = func(c *processor.Config) {
		c.Admission = processor.Admission{Orgs: map[string][]int64{processor.PointsSource: {7}}}
	}
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)
	rs := h.followResults(t)
	h.produce(t, []customer.Command{{RequestID: "r1", Org: 7, Op: customer.OpRegister, Source: "INSTORE",
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}}}}})
	rs.of("r1")
	cmdAvro, err := schemas.EncodeCommand(customer.Command{RequestID: "a1", Org: 7, Op: customer.OpRegister, Source: "INSTORE",
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{Identifiers: []customer.Identifier{{Type: "email", Value: "a@b.co"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	otherOrg, err := schemas.EncodeBalance(customer.Command{Org: 8, CustomerID: 1, Balance: &customer.Balance{ProgramID: 1, Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		code  string
		key   string
		value []byte
	}{
		{schemas.ErrCodeUndecodable, "7", []byte(`{"customerId":1,`)},
		{schemas.ErrCodeUndecodable, "7", []byte(`{"customerId":1,"programId":1,"version":1,"loyaltyPoints":[1]}`)},
		{schemas.ErrCodeUndecodable, "7", cmdAvro}, // a command is not a balance
		{schemas.ErrCodeBadBalance, "7", []byte(`{"customerId":1,"programId":1}`)},
		{schemas.ErrCodeBadBalance, "7", []byte(`{"customerId":1,"programId":1,"version":1,"expired":1e16}`)},
		{schemas.ErrCodeBadKey, "7", otherOrg},
		{schemas.ErrCodeBadKey, "seven", []byte(`{"customerId":1,"programId":1,"version":1}`)},
		{schemas.ErrCodeOrgNotAllowed, "8", []byte(`{"customerId":1,"programId":1,"version":1}`)},
	}
	var recs []*kgo.Record
	for _, b := range bad {
		recs = append(recs, &kgo.Record{Topic: h.topo.PointsTopic(), Key: []byte(b.key), Value: b.value})
	}
	recs = append(recs, &kgo.Record{Topic: h.topo.PointsTopic(), Key: []byte("7"), Value: []byte(`{"requestId":"good","customerId":1,"programId":1,"version":1,"loyaltyPoints":5}`)})
	if err := h.producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if rr := rs.of("good"); !rr.Success {
		t.Fatalf("the good balance: %+v", rr.Result)
	}
	got := map[string]int{}
	for _, r := range h.readTopic(t, h.topo.DLQ, len(bad), time.Minute) {
		hs := map[string]string{}
		for _, x := range r.Headers {
			hs[x.Key] = string(x.Value)
		}
		if hs[sink.HeaderOriginTopic] != h.topo.PointsTopic() || hs[sink.HeaderErrorMessage] == "" {
			t.Errorf("DLQ record %v: want origin %s and a message", hs, h.topo.PointsTopic())
		}
		got[hs[sink.HeaderErrorCode]]++
		t.Logf("DLQ %s: %s", hs[sink.HeaderErrorCode], hs[sink.HeaderErrorMessage])
	}
	want := map[string]int{}
	for _, b := range bad {
		want[b.code]++
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DLQ codes %v, want %v", got, want)
	}
}
