package state

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

const org = 7

func TestIndexesFollowPuts(t *testing.T) {
	forEachEnv(t, func(t *testing.T, _ env, db *DB) {
		task := db.Task(0, 1)
		b := task.NewBatch()
		defer b.Close()
		c := person(1, org, "Ada", "Lovelace", map[string][]string{
			"INSTORE/":   {"mobile:919111111111", "email:Ada@Example.com"},
			"WECHAT/acc": {"wechat:wx1"},
		})
		put(t, b, c)

		if got := owner(t, b, org, "INSTORE/", "email", "ada@example.COM"); got != 1 {
			t.Errorf("email lookup ignores case: owner %d, want 1", got)
		}
		if got := owner(t, b, org, "WECHAT/acc", "wechat", "wx1"); got != 1 {
			t.Errorf("wechat owner %d, want 1", got)
		}
		if got := owner(t, b, org, "WECHAT/other", "wechat", "wx1"); got != 0 {
			t.Errorf("other account: owner %d, want none", got)
		}
		if got := owner(t, b, org+1, "INSTORE/", "mobile", "919111111111"); got != 0 {
			t.Errorf("other org: owner %d, want none", got)
		}
		if got := search(t, b, org, "love", 10, 0); got != "[1] total=1" {
			t.Errorf("search love: %s", got)
		}

		// Drop the email and the WECHAT profile, add an external id, rename.
		c2 := person(1, org, "Augusta", "King", map[string][]string{
			"INSTORE/": {"mobile:919111111111", "externalId:X-1"},
		})
		put(t, b, c2)
		for _, tc := range []struct{ scope, typ, val string }{
			{"INSTORE/", "email", "ada@example.com"},
			{"WECHAT/acc", "wechat", "wx1"},
		} {
			if got := owner(t, b, org, tc.scope, tc.typ, tc.val); got != 0 {
				t.Errorf("removed %s %s still owned by %d", tc.scope, tc.val, got)
			}
		}
		if got := owner(t, b, org, "INSTORE/", "externalId", "X-1"); got != 1 {
			t.Errorf("added externalId: owner %d", got)
		}
		for prefix, want := range map[string]string{
			"love": "[] total=0", "ada": "[] total=0", "wx": "[] total=0",
			"aug": "[1] total=1", "x-": "[1] total=1", "9191": "[1] total=1",
		} {
			if got := search(t, b, org, prefix, 10, 0); got != want {
				t.Errorf("search %q after update: %s, want %s", prefix, got, want)
			}
		}
		hs, err := b.Holders(org, customer.Identifier{Type: "wechat", Value: "wx1"})
		must(t, err)
		if len(hs) != 0 {
			t.Errorf("removed identifier still has holders %v", hs)
		}

		got, ok, err := b.Customer(1)
		must(t, err)
		if !ok || !reflect.DeepEqual(got, c2) {
			t.Errorf("customer 1 = %+v, want %+v", got, c2)
		}
		if _, ok, _ := b.Customer(2); ok {
			t.Error("customer 2 exists")
		}
	})
}

// A merge moves the victim's identifiers to the survivor and tombstones
// the victim, in either order within one batch.
func TestMergeTombstone(t *testing.T) {
	for _, survivorFirst := range []bool{true, false} {
		forEachEnv(t, func(t *testing.T, _ env, db *DB) {
			task := db.Task(0, 1)
			b := task.NewBatch()
			defer b.Close()
			s := person(10, org, "Sam", "Survivor", map[string][]string{"INSTORE/": {"mobile:911"}})
			v := person(11, org, "Vic", "Victim", map[string][]string{"WECHAT/a": {"wechat:w1"}, "INSTORE/": {"mobile:922"}})
			put(t, b, s, v)
			apply(t, task, b, 5)

			b = task.NewBatch()
			defer b.Close()
			merged := person(10, org, "Sam", "Survivor", map[string][]string{
				"INSTORE/": {"mobile:911", "mobile:922"}, "WECHAT/a": {"wechat:w1"},
			})
			tomb := &customer.Customer{ID: 11, Org: org, MergedInto: 10}
			if survivorFirst {
				put(t, b, merged, tomb)
			} else {
				put(t, b, tomb, merged)
			}
			for _, r := range []customer.Reader{b} {
				if got := owner(t, r, org, "WECHAT/a", "wechat", "w1"); got != 10 {
					t.Errorf("survivorFirst=%v: wechat owner %d, want 10", survivorFirst, got)
				}
				if got := owner(t, r, org, "INSTORE/", "mobile", "922"); got != 10 {
					t.Errorf("survivorFirst=%v: mobile owner %d, want 10", survivorFirst, got)
				}
				if got := search(t, r, org, "vic", 10, 0); got != "[] total=0" {
					t.Errorf("tombstone still searchable: %s", got)
				}
				if got := search(t, r, org, "9", 10, 0); got != "[10] total=1" {
					t.Errorf("search 9: %s", got)
				}
				hs, err := r.Holders(org, customer.Identifier{Type: "mobile", Value: "922"})
				must(t, err)
				if want := []customer.Holding{{CustomerID: 10, Source: "INSTORE"}}; !reflect.DeepEqual(hs, want) {
					t.Errorf("holders %v, want %v", hs, want)
				}
			}
			apply(t, task, b, 6)
			if got := owner(t, task.Reader(), org, "WECHAT/a", "wechat", "w1"); got != 10 {
				t.Errorf("after apply: wechat owner %d, want 10", got)
			}
		})
	}
}

func TestHoldersOrder(t *testing.T) {
	forEachEnv(t, func(t *testing.T, _ env, db *DB) {
		task := db.Task(1, 4)
		b := task.NewBatch()
		defer b.Close()
		id := "email:x@y.io"
		put(t, b,
			person(9, org, "a", "", map[string][]string{"WECHAT/b": {id}, "WECHAT/a": {id}}),
			person(5, org, "b", "", map[string][]string{"INSTORE/": {"email:X@Y.io"}, "FACEBOOK/z": {id}}),
			person(13, org+1, "c", "", map[string][]string{"INSTORE/": {id}}), // other org
		)
		hs, err := b.Holders(org, customer.Identifier{Type: "email", Value: "x@Y.IO"})
		must(t, err)
		want := []customer.Holding{
			{CustomerID: 5, Source: "FACEBOOK", AccountID: "z"},
			{CustomerID: 5, Source: "INSTORE"},
			{CustomerID: 9, Source: "WECHAT", AccountID: "a"},
			{CustomerID: 9, Source: "WECHAT", AccountID: "b"},
		}
		if !reflect.DeepEqual(hs, want) {
			t.Errorf("holders\n got %v\nwant %v", hs, want)
		}

		// After an apply, customer 9 drops one scope and 5 is merged away:
		// only 9's other holding is left in the list.
		apply(t, task, b, 1)
		b = task.NewBatch()
		defer b.Close()
		gone := person(5, org, "b", "", nil)
		gone.MergedInto = 9
		put(t, b,
			person(9, org, "a", "", map[string][]string{"WECHAT/b": {id}}),
			gone,
		)
		hs, err = b.Holders(org, customer.Identifier{Type: "email", Value: "x@y.io"})
		must(t, err)
		if want := []customer.Holding{{CustomerID: 9, Source: "WECHAT", AccountID: "b"}}; !reflect.DeepEqual(hs, want) {
			t.Errorf("holders after edits\n got %v\nwant %v", hs, want)
		}
		put(t, b, person(9, org, "a", "", nil))
		if hs, err = b.Holders(org, customer.Identifier{Type: "email", Value: "x@y.io"}); err != nil || hs != nil {
			t.Errorf("holders after the last one left: %v %v", hs, err)
		}
		apply(t, task, b, 2)
		if kvs := dump(t, task); slices.ContainsFunc(kvs, func(kv KV) bool { return kv.Key[taskLen] == tabHolders && readInt64(kv.Key[taskLen+1:]) == org }) {
			t.Errorf("an empty holder list is still stored")
		}
	})
}

func TestSearch(t *testing.T) {
	forEachEnv(t, func(t *testing.T, _ env, db *DB) {
		task := db.Task(0, 1)
		b := task.NewBatch()
		defer b.Close()
		for id, name := range map[int64]string{1: "Anna Smith", 2: "Annabel Lee", 3: "Bob Annan", 4: "Carl Smithers", 5: "anna  maria"} {
			first, last, _ := strings.Cut(name, " ")
			put(t, b, person(id, org, first, last, map[string][]string{"INSTORE/": {"externalId:e" + string(rune('0'+id))}}))
		}
		put(t, b, person(6, org+1, "Anna", "Other", nil))
		for _, tc := range []struct {
			prefix        string
			limit, offset int
			want          string
		}{
			{"ann", 10, 0, "[5 3 2 1] total=4"}, // a customer counts once, newest first
			{"ann", 2, 0, "[5 3] total=4"},
			{"ann", 2, 2, "[2 1] total=4"},
			{"ann", 2, 3, "[1] total=4"},
			{"ann", 2, 4, "[] total=4"},
			{"ann", 0, 0, "[] total=4"},
			{"ann", 10, -1, "[5 3 2 1] total=4"},
			{"anna", 10, 0, "[5 3 2 1] total=4"},
			{"annab", 10, 0, "[2] total=1"},
			{"smith", 10, 0, "[4 1] total=2"},
			{"smithers", 10, 0, "[4] total=1"},
			{"smithersx", 10, 0, "[] total=0"},
			{"maria", 10, 0, "[5] total=1"},
			{"e", 10, 0, "[5 4 3 2 1] total=5"},
			{"", 3, 0, "[5 4 3] total=5"},
		} {
			if got := search(t, b, org, tc.prefix, tc.limit, tc.offset); got != tc.want {
				t.Errorf("Search(%q, %d, %d) = %s, want %s", tc.prefix, tc.limit, tc.offset, got, tc.want)
			}
		}
	})
}

func TestNextID(t *testing.T) {
	forEachEnv(t, func(t *testing.T, _ env, db *DB) {
		const parts = 3
		seen := map[int64]bool{}
		for p := int32(0); p < parts; p++ {
			task := db.Task(p, parts)
			b := task.NewBatch()
			for range 5 {
				id, err := b.NextID()
				must(t, err)
				if seen[id] {
					t.Fatalf("id %d allocated twice", id)
				}
				seen[id] = true
				if got := TaskOf(id, parts); got != p {
					t.Errorf("TaskOf(%d) = %d, want %d", id, got, p)
				}
			}
			apply(t, task, b, -1)
		}
		task := db.Task(2, parts)
		b := task.NewBatch()
		id, err := b.NextID()
		must(t, err)
		if id != 6*parts+2 {
			t.Errorf("after apply, next id of task 2 = %d, want %d", id, 6*parts+2)
		}
		b.Discard()
		b = task.NewBatch()
		defer b.Close()
		if again, _ := b.NextID(); again != id {
			t.Errorf("a discarded allocation is reused: got %d, want %d", again, id)
		}
		if err := b.PutCustomer(person(id+1, org, "x", "", nil)); err == nil {
			t.Error("PutCustomer accepted a customer of another task")
		}
	})
	if TaskOf(0, 4) != -1 || TaskOf(-5, 4) != -1 || TaskOf(5, 0) != -1 {
		t.Error("TaskOf of an invalid id or count is not -1")
	}
}

func TestDiscardAndApply(t *testing.T) {
	forEachEnv(t, func(t *testing.T, _ env, db *DB) {
		task := db.Task(0, 2)
		b := task.NewBatch()
		put(t, b, person(2, org, "a", "b", map[string][]string{"INSTORE/": {"mobile:1"}}))
		must(t, b.PutRequest(org, "r1", []byte("res"), t0))
		b.Discard()
		b.Close() // twice is fine
		if kvs := dump(t, task); len(kvs) != 0 {
			t.Fatalf("discarded batch left %d keys", len(kvs))
		}

		b = task.NewBatch()
		put(t, b, person(2, org, "a", "b", map[string][]string{"INSTORE/": {"mobile:1"}}))
		if got := owner(t, task.Reader(), org, "INSTORE/", "mobile", "1"); got != 0 {
			t.Error("unapplied write visible to the reader")
		}
		apply(t, task, b, 42)
		b.Close() // after apply is fine
		if err := task.Apply(b, 43); err == nil {
			t.Error("applying a closed batch succeeded")
		}
		ck, err := task.Checkpoint()
		must(t, err)
		if ck != 42 {
			t.Errorf("checkpoint %d, want 42", ck)
		}
		if got := owner(t, task.Reader(), org, "INSTORE/", "mobile", "1"); got != 2 {
			t.Errorf("applied write not visible: owner %d", got)
		}

		// -1 leaves the checkpoint alone.
		b = task.NewBatch()
		put(t, b, person(4, org, "c", "", nil))
		apply(t, task, b, -1)
		if ck, _ := task.Checkpoint(); ck != 42 {
			t.Errorf("checkpoint %d after Apply(b, -1), want 42", ck)
		}
		if ck, _ := db.Task(1, 2).Checkpoint(); ck != 0 {
			t.Errorf("fresh task checkpoint %d, want 0", ck)
		}
		if err := db.Task(1, 2).Apply(task.NewBatch(), 1); err == nil {
			t.Error("applying another task's batch succeeded")
		}
	})
}

func TestReopenKeepsData(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env, db *DB) {
		task := db.Task(0, 1)
		b := task.NewBatch()
		c := person(1, org, "Ada", "L", map[string][]string{"INSTORE/": {"mobile:1"}})
		put(t, b, c)
		_, err := b.NextID()
		must(t, err)
		apply(t, task, b, 9)
		before := dump(t, task)
		must(t, db.Close())

		db = e.open(t)
		task = db.Task(0, 1)
		if err := equalKVs(before, dump(t, task)); err != nil {
			t.Fatalf("after reopen: %v", err)
		}
		if ck, _ := task.Checkpoint(); ck != 9 {
			t.Errorf("checkpoint %d after reopen", ck)
		}
		got, ok, err := task.Reader().Customer(1)
		must(t, err)
		if !ok || !reflect.DeepEqual(got, c) {
			t.Errorf("customer after reopen = %+v", got)
		}
	})
}

func TestViewIsReadOnly(t *testing.T) {
	forEachEnv(t, func(t *testing.T, _ env, db *DB) {
		v := db.Task(0, 1).Reader()
		if err := v.PutCustomer(person(1, org, "a", "", nil)); !errors.Is(err, ErrReadOnly) {
			t.Errorf("PutCustomer through a view: %v", err)
		}
		if _, err := v.NextID(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("NextID through a view: %v", err)
		}
	})
}

func TestDrop(t *testing.T) {
	forEachEnv(t, func(t *testing.T, _ env, db *DB) {
		for p := int32(0); p < 3; p++ {
			task := db.Task(p, 3)
			b := task.NewBatch()
			id, err := b.NextID()
			must(t, err)
			put(t, b, person(id, org, "x", "", map[string][]string{"INSTORE/": {"mobile:1"}}))
			apply(t, task, b, 3)
		}
		before0, before2 := dump(t, db.Task(0, 3)), dump(t, db.Task(2, 3))
		must(t, db.Task(1, 3).Drop())
		if kvs := dump(t, db.Task(1, 3)); len(kvs) != 0 {
			t.Errorf("dropped task keeps %d keys", len(kvs))
		}
		if ck, _ := db.Task(1, 3).Checkpoint(); ck != 0 {
			t.Errorf("dropped task checkpoint %d", ck)
		}
		if equalKVs(before0, dump(t, db.Task(0, 3))) != nil || equalKVs(before2, dump(t, db.Task(2, 3))) != nil {
			t.Error("dropping task 1 changed its neighbours")
		}
	})
}
