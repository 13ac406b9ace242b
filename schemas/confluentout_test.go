package schemas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas/registrytest"
)

// The Confluent form of an output is the single-object form's Avro binary
// under the other header, and reads back to the same record.
func TestToConfluent(t *testing.T) {
	rr := ResultRecord{Result: customer.Result{RequestID: "r-1", Org: 7, Source: "WECHAT", AccountID: "22232",
		Op: customer.OpRegister, Success: true, CreatedID: 329}, Origin: Origin{Topic: "customers.wechat", Partition: 3, Offset: 1042}}
	soe, err := EncodeResult(rr)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Clone(soe[soeHeaderLen:])
	cf, err := ToConfluent(bytes.Clone(soe), KindResult, 0x01020304)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0, 1, 2, 3, 4}, body...); !bytes.Equal(cf, want) {
		t.Fatalf("confluent form % x, want % x", cf, want)
	}
	id, b, err := ConfluentBody(cf)
	if err != nil || id != 0x01020304 || !bytes.Equal(b, body) {
		t.Fatalf("ConfluentBody: %d % x %v", id, b, err)
	}
	back, err := SingleObjectFromConfluent(cf, KindResult)
	if err != nil || !bytes.Equal(back, soe) {
		t.Fatalf("back to single-object: % x, %v", back, err)
	}
	if _, err := ToConfluent(bytes.Clone(soe), KindMerge, 1); err == nil {
		t.Error("a result reframed as a merge")
	}
	if _, err := ToConfluent(bytes.Clone(soe), KindResult, 0); err == nil {
		t.Error("schema id 0 accepted")
	}
}

func TestSubjectStrategy(t *testing.T) {
	if FullName(KindResult) == "" || !strings.HasSuffix(FullName(KindSnapshot), ".Customer") {
		t.Fatalf("full names %q %q", FullName(KindResult), FullName(KindSnapshot))
	}
	for _, c := range []struct {
		s    string
		want string
	}{
		{"", "customers.results-value"},
		{"topic", "customers.results-value"},
		{"record", FullName(KindResult)},
		{"topic-record", "customers.results-" + FullName(KindResult)},
	} {
		st, err := ParseSubjectStrategy(c.s)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.ValueSubject("customers.results", KindResult); got != c.want {
			t.Errorf("%q: %s, want %s", c.s, got, c.want)
		}
	}
	if _, err := ParseSubjectStrategy("TopicNameStrategy"); err == nil {
		t.Error("an unknown strategy accepted")
	}
}

// RegisterOutputs against the test registry: every subject registered,
// new ones set to BACKWARD before their first version, an existing one
// keeps its level, a second run gets the same ids, and an incompatible
// schema and an unreachable registry are told apart.
func TestRegisterOutputs(t *testing.T) {
	reg := registrytest.Start(t)
	cl := reg.Client(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("reg%d", time.Now().UnixNano())
	topics := OutputTopics{Results: prefix + ".results", Merges: prefix + ".merges", Snapshots: prefix + ".snapshots"}
	// One subject exists already, with a level of its own.
	if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, topics.Merges+"-key"); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if _, err := cl.RegisterSchema(ctx, topics.Merges+"-key", sr.Schema{Schema: KeySchema}, -1, -1); err != nil {
		t.Fatal(err)
	}
	srr := NewSRRegistry(cl)
	ids, regs, err := RegisterOutputs(ctx, srr, topics, SubjectTopic)
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 6 || ids.Result == 0 || ids.Merge == 0 || ids.Snapshot == 0 {
		t.Fatalf("ids %+v, registrations %+v", ids, regs)
	}
	for _, r := range regs {
		level, err := srr.Compatibility(ctx, r.Subject)
		if err != nil {
			t.Fatal(err)
		}
		want := "BACKWARD"
		if r.Subject == topics.Merges+"-key" {
			want = "FULL"
			if r.Created {
				t.Errorf("%s: reported as created", r.Subject)
			}
		} else if !r.Created {
			t.Errorf("%s: not reported as created", r.Subject)
		}
		if level != want {
			t.Errorf("%s: compatibility %s, want %s", r.Subject, level, want)
		}
		got, err := cl.SchemaByVersion(ctx, r.Subject, -1)
		if err != nil || got.ID != r.ID {
			t.Errorf("%s: latest %+v %v, registered id %d", r.Subject, got, err, r.ID)
		}
	}
	again, _, err := RegisterOutputs(ctx, srr, topics, SubjectTopic)
	if err != nil || again != ids {
		t.Errorf("second registration: %+v %v, want the same ids %+v", again, err, ids)
	}

	if reg.Fake != nil {
		reg.Fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/subjects/"+prefix+"x.results-value/versions") {
				return false
			}
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error_code":409,"message":"incompatible"}`))
			return true
		})
	} else {
		subject := prefix + "x.results-value"
		if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, subject); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		old := `{"type":"record","name":"Result","namespace":"io.custream.v1","fields":[{"name":"legacy","type":"string"}]}`
		if _, err := cl.RegisterSchema(ctx, subject, sr.Schema{Schema: old}, -1, -1); err != nil {
			t.Fatal(err)
		}
	}
	x := OutputTopics{Results: prefix + "x.results", Merges: prefix + "x.merges", Snapshots: prefix + "x.snapshots"}
	_, _, err = RegisterOutputs(ctx, srr, x, SubjectTopic)
	if !errors.Is(err, ErrIncompatibleSchema) || errors.Is(err, ErrRegistryUnavailable) || !strings.Contains(err.Error(), x.Results+"-value") {
		t.Errorf("incompatible: %v", err)
	}

	down, err := sr.NewClient(sr.URLs(reg.Later(t).URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := RegisterOutputs(ctx, NewSRRegistry(down), topics, SubjectTopic); !errors.Is(err, ErrRegistryUnavailable) {
		t.Errorf("unreachable registry: %v, want ErrRegistryUnavailable", err)
	}
}
