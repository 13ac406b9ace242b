package facade_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/schemas"
)

// TestPointsThroughTheTopic feeds the API doc's loyalty figures through
// the points topic, as a loyalty engine in any language would write them
// (hand-written JSON, key = org), and checks that fetch embed=points,
// embed=mlp and loyaltyDetails answer the doc's samples
// (testdata/apidoc: cut verbatim from the API doc, wrapped in braces where
// the doc shows a fragment), and that the snapshot carries the same
// balances.
func TestPointsThroughTheTopic(t *testing.T) {
	if testing.Short() {
		t.Skip(integration)
	}
	c := kafkatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	group, topo := newTopology(ctx, t, c, "points")
	// The doc's samples are of an org whose default program is 1219.
	domain := customer.DefaultConfig()
	domain.LoyaltyProgramID = 1219
	m := startMember(t, c, group, topo, "m1", memberOpts{domain: &domain})
	defer m.stop()

	org := orgs[0]
	produce(ctx, t, c, topo) // perOrg customers in every org
	ids := registeredIDs(ctx, t, c, topo, org)
	details, mlp, summary := ids[0], ids[1], ids[2]

	// The loyalty engine's records: the doc's figures, one per program.
	balances := []string{
		fmt.Sprintf(`{"customerId":%d,"programId":1219,"version":1,"redeemed":200,"expired":0,"returned":1100.2139892578125,"adjusted":50,"lifetimePoints":500,"loyaltyPoints":350,"cumulativePurchases":8500,"loyaltyId":52350728,"currentSlab":"Gold","nextSlab":"Platinum","nextSlabSerialNumber":3,"nextSlabDescription":"Platinum tier","slabSNo":2,"slabExpiryDate":"2117-12-29T23:59:59+05:30"}`, details),
		fmt.Sprintf(`{"customerId":%d,"programId":1223,"asOf":"2024-05-01T10:00:00Z","redeemed":2500,"expired":300,"returned":102.68399810791016,"adjusted":30,"lifetimePoints":5000,"loyaltyPoints":2200,"cumulativePurchases":43560,"loyaltyId":52350728,"currentSlab":"Platinum","nextSlab":"Star","nextSlabSerialNumber":-1,"nextSlabDescription":"Top level tier","slabSNo":1,"slabExpiryDate":"2117-12-29T23:59:59+05:30"}`, details),
		fmt.Sprintf(`{"customerId":%d,"programId":1219,"version":7,"redeemed":8600,"expired":100,"returned":500,"adjusted":0,"lifetimePoints":10500,"loyaltyPoints":1000,"cumulativePurchases":103000,"loyaltyId":52350728,"currentSlab":"Silver","nextSlab":"Gold","nextSlabSerialNumber":3,"nextSlabDescription":"Gold tier","slabSNo":2,"slabExpiryDate":"2118-12-29T23:59:59+05:30"}`, mlp),
		fmt.Sprintf(`{"customerId":"%d","programId":"1223","version":"3","redeemed":100,"expired":0,"returned":10,"adjusted":0,"lifetimePoints":400,"loyaltyPoints":300,"cumulativePurchases":8800,"loyaltyId":52350728,"currentSlab":"Tier1","nextSlab":"Tier2","nextSlabSerialNumber":-1,"nextSlabDescription":"","slabSNo":1,"slabExpiryDate":"2118-12-29T23:59:59+05:30"}`, mlp),
		// A figure older than the one before it: ignored (8908).
		fmt.Sprintf(`{"customerId":%d,"programId":1219,"version":6,"loyaltyPoints":1}`, mlp),
		fmt.Sprintf(`{"customerId":%d,"programId":1219,"version":2,"adjusted":0.0,"cumulativePurchases":0.0,"currentSlab":"Platinum","expired":0.0,"lifetimePoints":0.0,"loyaltyId":51373283,"loyaltyPoints":0.0,"nextSlab":"","nextSlabDescription":"","nextSlabSerialNumber":-1,"redeemed":0.0,"returned":0.0,"slabExpiryDate":"2116-12-07T23:59:59+05:30","slabSNo":3}`, summary),
	}
	var recs []*kgo.Record
	for _, v := range balances {
		recs = append(recs, &kgo.Record{Topic: topo.PointsTopic(), Key: []byte(strconv.FormatInt(org, 10)), Value: []byte(v)})
	}
	if err := c.Client(t).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing balances: %v", err)
	}
	// Done when the results topic has answered every balance.
	results := readResults(ctx, t, c, topo, func(rr schemas.ResultRecord) bool { return rr.Op == customer.OpPoints }, len(balances))
	var stale int
	for _, rr := range results {
		switch {
		case rr.Success:
		case len(rr.Errors) == 1 && rr.Errors[0].Code == customer.CodeStaleBalance:
			stale++
		default:
			t.Errorf("balance %s: %+v", rr.RequestID, rr.Result)
		}
	}
	if stale != 1 {
		t.Errorf("%d balances refused as stale, want 1", stale)
	}

	var ld map[string]any
	if code := m.get(t, org, fmt.Sprintf("/v2/customers/%d/loyaltyDetails", details), &ld); code != 200 {
		t.Fatalf("loyaltyDetails: %d", code)
	}
	sameJSON(t, "loyaltyDetails", ld, doc(t, "loyaltyDetails.json"))
	var one map[string]any
	m.get(t, org, fmt.Sprintf("/v2/customers/%d/loyaltyDetails?programId=1223", details), &one)
	if data, _ := one["data"].([]any); len(data) != 1 || !reflect.DeepEqual(data[0], doc(t, "loyaltyDetails.json")["data"].([]any)[1]) {
		t.Errorf("loyaltyDetails?programId=1223: %v", one)
	}

	var f map[string]any
	m.get(t, org, fmt.Sprintf("/v2/customers/%d?source=ALL&embed=mlp", mlp), &f)
	sameJSON(t, "embed=mlp", map[string]any{"loyaltyProgramDetails": f["loyaltyProgramDetails"]}, doc(t, "loyaltyProgramDetails.json"))
	if lp := f["loyaltyInfo"].(map[string]any)["lifetimePurchases"]; lp != float64(103000+8800) {
		t.Errorf("loyaltyInfo.lifetimePurchases %v, want the programs' cumulative purchases summed (%d)", lp, 103000+8800)
	}
	m.get(t, org, fmt.Sprintf("/v2/customers/%d?source=ALL&embed=points", summary), &f)
	sameJSON(t, "embed=points", map[string]any{"pointsSummary": f["pointsSummary"]}, doc(t, "pointsSummary.json"))

	// A customer with no balance answers the zero shape, as before.
	m.get(t, org, fmt.Sprintf("/v2/customers/%d/loyaltyDetails", ids[3]), &ld)
	want := []any{map[string]any{"redeemed": 0.0, "expired": 0.0, "returned": 0.0, "adjusted": 0.0, "lifetimePoints": 0.0, "loyaltyPoints": 0.0,
		"cumulativePurchases": 0.0, "loyaltyId": float64(ids[3]), "currentSlab": "Base", "nextSlab": "", "nextSlabSerialNumber": -1.0,
		"nextSlabDescription": "", "slabSNo": 1.0, "slabExpiryDate": "", "programId": 1219.0}}
	if !reflect.DeepEqual(ld["data"], want) {
		t.Errorf("no balances: %v, want %v", ld["data"], want)
	}

	// The snapshot carries the stored balances: the loyaltyDetails data.
	snap := lastSnapshot(ctx, t, c, topo, details, 2)
	got, _ := json.Marshal(snap["loyaltyProgramDetails"])
	var gotv any
	_ = json.Unmarshal(got, &gotv)
	if wantv := doc(t, "loyaltyDetails.json")["data"]; !reflect.DeepEqual(gotv, wantv) {
		t.Errorf("snapshot loyaltyProgramDetails\n got %s\nwant %v", got, wantv)
	}
}

func doc(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "apidoc", name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func sameJSON(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("%s differs from the API doc's sample:\n got %s\nwant %s", what, g, w)
	}
}

// readResults reads committed results until n match keep; bounded by ctx.
func readResults(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topo processor.Topology, keep func(schemas.ResultRecord) bool, n int) []schemas.ResultRecord {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topo.Results), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var out []schemas.ResultRecord
	for len(out) < n {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d results before the deadline", len(out), n)
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			rr, err := schemas.DecodeResult(r.Value)
			if err != nil {
				t.Fatalf("result at %d: %v", r.Offset, err)
			}
			if keep(rr) {
				out = append(out, rr)
			}
		})
	}
	return out
}

// registeredIDs are the ids produce's registrations of org got, in order.
func registeredIDs(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topo processor.Topology, org int64) []int64 {
	t.Helper()
	rrs := readResults(ctx, t, c, topo, func(rr schemas.ResultRecord) bool { return rr.Org == org && rr.Op == customer.OpRegister }, perOrg)
	ids := make([]int64, perOrg)
	for _, rr := range rrs {
		var i int
		if _, err := fmt.Sscanf(rr.RequestID, fmt.Sprintf("r-%d-%%d", org), &i); err != nil || !rr.Success {
			t.Fatalf("registration %s: %+v (%v)", rr.RequestID, rr.Result, err)
		}
		ids[i] = rr.CreatedID
	}
	return ids
}

// lastSnapshot is customer id's snapshot with n balances, as a document:
// committed with the balances' results, so it is there to read.
func lastSnapshot(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topo processor.Topology, id int64, n int) map[string]any {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topo.Snapshots), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for {
		if ctx.Err() != nil {
			t.Fatalf("no snapshot of customer %d with %d balances before the deadline", id, n)
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		var found map[string]any
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) != strconv.FormatInt(id, 10) {
				return
			}
			d, err := schemas.DecodeSnapshot(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if l, _ := d["loyaltyProgramDetails"].([]any); len(l) == n {
				found = d
			}
		})
		if found != nil {
			return found
		}
	}
}
