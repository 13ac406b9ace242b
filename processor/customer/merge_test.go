package customer_test

import (
	"reflect"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// TestMergeMovesEverything checks what a merge does to both customers.
func TestMergeMovesEverything(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	s := apply(t, cfg, st, reg(1, wc, "22232", m1)).Result.CreatedID
	vReg := reg(1, wc, "22232", id("wechat", "w1"))
	vReg.Register.Profiles[0].FirstName = "Huck"
	vReg.Register.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: "non_loyalty"}
	vReg.Register.ExtendedFields = map[string]string{"city": "Hannibal"}
	v := apply(t, cfg, st, vReg).Result.CreatedID
	apply(t, cfg, st, reg(1, in, "", e1))                                                                         // unrelated
	apply(t, cfg, st, chg(1, v, in, "", ids(e2), nil))                                                            // V gains an INSTORE profile
	apply(t, cfg, st, subs(1, v, wc, customer.Subscription{Channel: "WECHAT", Priority: "BULK", Type: "OPTOUT"})) // V-only subscription
	apply(t, cfg, st, subs(1, s, wc, customer.Subscription{Channel: "SMS", Priority: "BULK", Type: "OPTOUT"}))

	c := chg(1, v, mj, "", ids(m1), nil)
	c.RequestID = "merge-1"
	out := apply(t, cfg, st, c)
	if !out.Result.Success || out.Result.CreatedID != s {
		t.Fatalf("merge result %+v", out.Result)
	}
	wantMerge := []customer.Merge{{Org: 1, SurvivorID: s, VictimID: v, Identifier: m1, Source: mj, RequestID: "merge-1", Time: t0}}
	if !reflect.DeepEqual(out.Merges, wantMerge) {
		t.Fatalf("merges %+v, want %+v", out.Merges, wantMerge)
	}
	if want := []int64{min(s, v), max(s, v)}; !reflect.DeepEqual(out.Changed, want) {
		t.Fatalf("changed %v, want %v", out.Changed, want)
	}

	tomb := st.get(v)
	if tomb.MergedInto != s || len(tomb.Profiles) != 0 {
		t.Fatalf("victim is not a tombstone: %+v", tomb)
	}
	if snap := customer.Snapshot(tomb); snap.ID != v || snap.Org != 1 || snap.MergedInto != s || snap.FetchView != nil {
		t.Fatalf("victim snapshot %+v, want only id, org and mergedInto", snap)
	}

	f := fetch(t, cfg, st, 1, customer.FetchRequest{ID: s, Source: "ALL", Embed: "subscriptions"})
	var scopes []string
	for _, p := range f.Profiles {
		scopes = append(scopes, p.Source+"/"+p.AccountID)
	}
	if want := []string{"INSTORE/", "MARTJACK/", "WECHAT/22232"}; !reflect.DeepEqual(scopes, want) {
		t.Fatalf("survivor profiles %v, want %v", scopes, want)
	}
	w := f.Profiles[2]
	if len(w.ConflictingProfileList) != 1 || w.ConflictingProfileList[0].FirstName != "Huck" {
		t.Fatalf("survivor's WECHAT profile should list the victim's as conflicting: %+v", w)
	}
	if want := []customer.Identifier{m1, id("wechat", "w1")}; !reflect.DeepEqual(w.Identifiers, want) {
		t.Fatalf("survivor's WECHAT identifiers %v, want %v", w.Identifiers, want)
	}
	if f.LoyaltyInfo.LoyaltyType != "loyalty" || f.ExtendedFields["city"] != "Hannibal" {
		t.Fatalf("loyalty/extended fields not merged: %+v %+v", f.LoyaltyInfo, f.ExtendedFields)
	}
	subs := map[string]string{}
	for _, x := range f.SubscriptionInfo.Subscriptions {
		subs[x.Channel+"/"+x.Priority] = x.Type
	}
	if subs["WECHAT/BULK"] != "OPTOUT" || subs["SMS/BULK"] != "OPTOUT" || len(subs) != 5 {
		t.Fatalf("subscriptions not merged (survivor's win): %v", subs)
	}
	// The survivor (three sources, a conflicting profile, extended fields,
	// subscriptions): its snapshot is this fetch body plus org, the same
	// document in Avro and JSON.
	checkSnapshotIsFetch(t, st.get(s), f)

	// Every identifier of the victim now leads to the survivor.
	for _, q := range []struct{ src, acct, name, val string }{
		{wc, "22232", "wechat", "w1"}, {in, "", "email", e2.Value}, {mj, "", "mobile", "+91 91111 11111"}, {"ALL", "", "wechat", "w1"},
	} {
		if got := lookup(t, cfg, st, 1, q.src, q.acct, q.name, q.val); got.Entity != s || len(got.Errors) != 0 {
			t.Fatalf("lookup %v = %+v, want entity %d", q, got, s)
		}
	}
	// The victim answers 8069 naming the survivor.
	if got := fetch(t, cfg, st, 1, customer.FetchRequest{ID: v, Source: "ALL"}); len(got.Errors) != 1 || got.Errors[0].Code != customer.CodeMergedAway {
		t.Fatalf("fetch victim: %+v", got.Errors)
	}
	// Search finds the survivor, never the victim.
	if got := search(t, cfg, st, 1, "huck", 10, 0); got.Pagination.Total != 1 || got.Data[0].UserID != s {
		t.Fatalf("search huck: %+v", got)
	}
}

// TestFailedCommandWritesNothing: a refused command leaves nothing in its
// batch (so nothing goes to the changelog) and the task's keyspace as it
// was, byte for byte.
func TestFailedCommandWritesNothing(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	a := apply(t, cfg, st, reg(1, in, "", m1)).Result.CreatedID
	apply(t, cfg, st, reg(1, in, "", m2))
	before := st.dump()
	for _, c := range []customer.Command{
		reg(1, mj, "", m1, m2),
		chg(1, a, in, "", ids(m2), nil),
		chg(1, a, in, "", nil, ids(m1)),
		upd(1, a, in, "", customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "X", Identifiers: ids(m2)}}}),
	} {
		// Apply in a group that stays open, to see the batch's own writes.
		st.group = 2
		if out := apply(t, cfg, st, c); out.Result.Success {
			t.Fatalf("%s succeeded", c.Op)
		}
		if w := st.pending(); len(w) != 0 {
			t.Fatalf("%s failed but wrote %d keys to its batch", c.Op, len(w))
		}
		if after := st.dump(); after != before {
			t.Fatalf("%s failed but changed the store", c.Op)
		}
	}
}
