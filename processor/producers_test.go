package processor_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"

	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/schemas/cmdsig"
	"github.com/custream/custream/schemas/registrytest"
)

// TestProducersActOnlyForTheirOrgs: issue 13's second finding against the
// real broker. A producer keyed 43 on a source that allows only org 42
// added its own e-mail to org 43's customer; now it lands in the DLQ as
// org-not-allowed and the customer is unchanged. On a signed source a bad
// signature, a missing one, and one by a key rotated out land in the DLQ
// as bad-signature; either of an org's two keys applies, through the
// repartition hop too, signed exactly as docs/wire.md shows (Go, and
// Python with confluent-kafka when it is installed).
func TestProducersActOnlyForTheirOrgs(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 2)
	k1, k2 := newKey(t), newKey(t)
	keysFile := func(lines ...string) *cmdsig.Keys {
		k, err := cmdsig.ParseKeys(strings.NewReader(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	admission := processor.Admission{
		Orgs:   map[string][]int64{"INSTORE": {42}, "MARTJACK": {43}},
		Signed: map[string]bool{"INSTORE": true},
		Keys:   keysFile("42 k1 "+b64(k1), "42 k2 "+b64(k2)),
	}
	h.tune = func(c *processor.Config) { c.Admission = admission }
	m := h.startMember(t, "m1", t.TempDir())

	instore, martjack := h.inputTopic("INSTORE"), h.inputTopic("MARTJACK")
	home := processor.TaskOfOrg(42, h.partitions)
	away := 1 - home
	manual := h.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	send := func(r *kgo.Record) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl := h.producer
		if r.Partition >= 0 {
			cl = manual
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("producing %s: %v", r.Topic, err)
		}
	}
	results := newTail(t, h, h.topo.Results)
	dlq := newTail(t, h, h.topo.DLQ)

	// The victim: org 43's customer, registered by its own source.
	send(command(martjack, 43, -1, "victim", "register", 0, `{"profiles":[{"firstName":"Victim","identifiers":[{"type":"email","value":"victim@example.com"}]}]}`))
	victim := results.next(t).CreatedID
	// The attack of the finding: a producer of INSTORE (allowed org 42
	// only) keyed 43 adds its e-mail to the victim, signed or not.
	send(command(instore, 43, -1, "attack", "changeIdentifier", victim, addEmail("attacker@example.com")))
	signedAttack := command(instore, 43, -1, "attack-signed", "changeIdentifier", victim, addEmail("attacker2@example.com"))
	sign(signedAttack, "k1", k1)
	send(signedAttack)
	for _, id := range []string{"attack", "attack-signed"} {
		d := dlq.record(t)
		if code := string(headerOf(d, "error.code")); code != schemas.ErrCodeOrgNotAllowed || string(headerOf(d, "requestId")) != id {
			t.Errorf("DLQ record %s (%s): want %s", headerOf(d, "requestId"), code, schemas.ErrCodeOrgNotAllowed)
		}
	}

	// Org 42 on its signed source: either key applies, on its partition
	// or through the repartition hop.
	reg := command(instore, 42, home, "reg", "register", 0, `{"profiles":[{"firstName":"Signed","identifiers":[{"type":"email","value":"signed@example.com"}]}]}`)
	sign(reg, "k1", k1)
	send(reg)
	own := results.next(t)
	if !own.Success {
		t.Fatalf("register signed with k1: %+v", own.Errors)
	}
	good := func(id, email string, part int32, keyID string, key []byte) *kgo.Record {
		r := command(instore, 42, part, id, "changeIdentifier", own.CreatedID, addEmail(email))
		sign(r, keyID, key)
		return r
	}
	send(good("k2", "k2@example.com", home, "k2", k2))
	send(good("hop-k1", "hop@example.com", away, "k1", k1))
	tampered := good("tampered", "tampered@example.com", home, "k1", k1)
	tampered.Value = []byte(addEmail("evil@example.com"))
	send(tampered)
	unsigned := command(instore, 42, home, "unsigned", "changeIdentifier", own.CreatedID, addEmail("unsigned@example.com"))
	send(unsigned)
	hopTampered := good("hop-tampered", "hop-tampered@example.com", away, "k2", k2)
	hopTampered.Headers[1].Value = []byte(strconv.FormatInt(own.CreatedID+1, 10)) // customerId
	send(hopTampered)
	// Each takes its path: the direct ones arrive in order, the hop's a
	// transaction later; sort them by requestId.
	got := map[string]customer.Result{}
	for range 2 {
		r := results.next(t)
		got[r.RequestID] = r.Result
	}
	for _, id := range []string{"k2", "hop-k1"} {
		if r, ok := got[id]; !ok || !r.Success {
			t.Errorf("signed command %s: result %+v (present %v), want success", id, r, ok)
		}
	}
	refused := map[string]string{}
	for range 3 {
		d := dlq.record(t)
		refused[string(headerOf(d, "requestId"))] = string(headerOf(d, "error.code"))
		if string(headerOf(d, "requestId")) == "hop-tampered" && string(headerOf(d, "origin.partition")) != strconv.Itoa(int(away)) {
			t.Errorf("the hop's refusal names origin partition %s, want %d", headerOf(d, "origin.partition"), away)
		}
	}
	for _, id := range []string{"tampered", "unsigned", "hop-tampered"} {
		if refused[id] != schemas.ErrCodeBadSignature {
			t.Errorf("%s: DLQ code %q, want %s", id, refused[id], schemas.ErrCodeBadSignature)
		}
	}
	if n := m.counter(t, "custream_repartitioned_records_total", map[string]string{"topic": instore}); n != 2 {
		t.Errorf("repartitioned from %s: %v, want 2 (the two hops)", instore, n)
	}

	t.Run("python", func(t *testing.T) {
		py := registrytest.Python(t)
		script := filepath.Join(t.TempDir(), "sign.py")
		driver := `
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
produce_signed(p, sys.argv[2], 42, [("op", b"changeIdentifier"), ("customerId", sys.argv[3].encode()), ("requestId", b"python")],
               sys.argv[4].encode(), "k2", base64.b64decode(sys.argv[5]))
p.flush(30)
`
		if err := os.WriteFile(script, []byte(docBlock(t, "python")+driver), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, script, strings.Join(h.c.Brokers, ","), instore, strconv.FormatInt(own.CreatedID, 10),
			addEmail("python@example.com"), b64(k2)).CombinedOutput()
		if err != nil {
			t.Fatalf("docs/wire.md's Python example: %v\n%s", err, out)
		}
		if r := results.next(t); r.RequestID != "python" || !r.Success {
			t.Fatalf("the Python-signed command: %+v, want a success for requestId python", r.Result)
		}
	})

	// The sentinel, signed with k2, applied after everything above on its
	// task: once its e-mail is found, so would be anything applied before.
	send(good("sentinel", "sentinel@example.com", home, "k2", k2))
	if r := results.next(t); r.RequestID != "sentinel" || !r.Success {
		t.Fatalf("sentinel: %+v", r.Result)
	}
	lookup := func(org int64, email string) int64 {
		rd := m.db.Task(processor.TaskOfOrg(org, h.partitions), h.partitions).Reader()
		v, err := customer.Lookup(h.domain, rd, org, customer.SourceAll, "", "email", email)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Errors) > 0 {
			return 0
		}
		return v.Entity
	}
	for deadline := time.Now().Add(30 * time.Second); lookup(42, "sentinel@example.com") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the sentinel's e-mail is not in Pebble after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for org, emails := range map[int64][]string{
		43: {"attacker@example.com", "attacker2@example.com"},
		42: {"tampered@example.com", "evil@example.com", "unsigned@example.com", "hop-tampered@example.com"},
	} {
		for _, e := range emails {
			if id := lookup(org, e); id != 0 {
				t.Errorf("org %d: a refused command's e-mail %s finds customer %d", org, e, id)
			}
		}
	}
	if id := lookup(43, "victim@example.com"); id != victim {
		t.Errorf("the victim's own e-mail finds %d, want %d", id, victim)
	}
	for _, e := range []string{"signed@example.com", "k2@example.com", "hop@example.com"} {
		if id := lookup(42, e); id != own.CreatedID {
			t.Errorf("signed e-mail %s finds %d, want %d", e, id, own.CreatedID)
		}
	}
	for _, reason := range []string{schemas.ErrCodeOrgNotAllowed, schemas.ErrCodeBadSignature} {
		want := map[string]float64{schemas.ErrCodeOrgNotAllowed: 2, schemas.ErrCodeBadSignature: 3}[reason]
		if n := m.counter(t, "custream_dlq_total", map[string]string{"reason": reason}); n != want {
			t.Errorf("custream_dlq_total{reason=%q} = %v, want %v", reason, n, want)
		}
	}

	// Rotation's last step: k1 removed, the member restarted. A command
	// signed with k1 is refused; k2 goes on.
	m.stop(t)
	admission.Keys = keysFile("42 k2 " + b64(k2))
	m = h.startMember(t, "m1", m.dir)
	defer m.stop(t)
	send(good("removed-k1", "removed@example.com", home, "k1", k1))
	send(good("after-k2", "after@example.com", home, "k2", k2))
	if d := dlq.record(t); string(headerOf(d, "requestId")) != "removed-k1" || string(headerOf(d, "error.code")) != schemas.ErrCodeBadSignature {
		t.Errorf("a command signed by the removed key: DLQ %s %s, want removed-k1 %s", headerOf(d, "requestId"), headerOf(d, "error.code"), schemas.ErrCodeBadSignature)
	} else if !strings.Contains(string(headerOf(d, "error.message")), "k1") {
		t.Errorf("the refusal %q does not name the key", headerOf(d, "error.message"))
	}
	if r := results.next(t); r.RequestID != "after-k2" || !r.Success {
		t.Errorf("after the rotation, k2: %+v, want success", r.Result)
	}
}

// sign is docs/wire.md's Go example, character for character
// (TestWireDocSigningExamples checks it): the tests sign as integrations
// are told to.
//
// sign adds the signature header to r, a command keyed by its org.
func sign(r *kgo.Record, keyID string, key []byte) {
	r.Timestamp = time.UnixMilli(time.Now().UnixMilli()) // Kafka keeps milliseconds
	type header struct{ name, value string }
	var hs []header
	for _, h := range r.Headers {
		switch n := strings.ToLower(h.Key); n {
		case "accountid", "customerid", "op", "org", "requestid":
			hs = append(hs, header{n, string(h.Value)})
		}
	}
	sort.Slice(hs, func(i, j int) bool {
		return hs[i].name < hs[j].name || hs[i].name == hs[j].name && hs[i].value < hs[j].value
	})
	field := func(b []byte, v string) []byte { return append(strconv.AppendInt(b, int64(len(v)), 10), ":"+v+","...) }
	b := field(field(field(nil, "custream-command-v1"), r.Topic), string(r.Key))
	b = field(field(b, strconv.FormatInt(r.Timestamp.UnixMilli(), 10)), strconv.Itoa(len(hs)))
	for _, h := range hs {
		b = field(field(b, h.name), h.value)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(field(b, string(r.Value)))
	sig := "v1=" + keyID + ":" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: "signature", Value: []byte(sig)})
}

// TestWireDocSigningExamples: docs/wire.md's Go example is sign above, and
// it signs what cmdsig verifies.
func TestWireDocSigningExamples(t *testing.T) {
	src, err := os.ReadFile("producers_test.go")
	if err != nil {
		t.Fatal(err)
	}
	block := docBlock(t, "go")
	if !bytes.Contains(src, []byte(block)) {
		t.Fatalf("docs/wire.md's Go signing example is not sign in producers_test.go; keep them equal:\n%s", block)
	}
	key := newKey(t)
	keys, err := cmdsig.ParseKeys(strings.NewReader("7 kA " + b64(key)))
	if err != nil {
		t.Fatal(err)
	}
	r := command("customers.wechat", 7, -1, "x", "update", 9, `{"profiles":[]}`)
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: "accountId", Value: []byte("22232")}, kgo.RecordHeader{Key: "traceparent", Value: []byte("00-1")})
	sign(r, "kA", key)
	hs := make([]schemas.Header, len(r.Headers))
	for i, x := range r.Headers {
		hs[i] = schemas.Header{Key: x.Key, Value: x.Value}
	}
	if err := keys.Verify(7, cmdsig.Record{Topic: r.Topic, Key: r.Key, Headers: hs, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}); err != nil {
		t.Fatalf("cmdsig refuses the example's signature: %v", err)
	}
}

// docBlock is the fenced block of lang in docs/wire.md's "Signed commands"
// section, without its fences.
func docBlock(t *testing.T, lang string) string {
	t.Helper()
	doc, err := os.ReadFile(registrytest.Script(t, "docs/wire.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Signed commands\n")
	if !ok {
		t.Fatal("docs/wire.md has no \"## Signed commands\" section")
	}
	_, block, ok := strings.Cut(section, "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("docs/wire.md's \"Signed commands\" has no %s block", lang)
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatalf("docs/wire.md: the %s block does not end", lang)
	}
	return block + "\n"
}

// command is a JSON-form command record; part < 0 lets the producer's
// partitioner choose.
func command(topic string, org int64, part int32, requestID, op string, customerID int64, body string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Partition: part, Key: []byte(strconv.FormatInt(org, 10)), Value: []byte(body),
		Headers: []kgo.RecordHeader{{Key: "op", Value: []byte(op)}}}
	if customerID > 0 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "customerId", Value: []byte(strconv.FormatInt(customerID, 10))})
	}
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: "requestId", Value: []byte(requestID)})
	return r
}

func addEmail(e string) string { return `{"add":[{"type":"email","value":"` + e + `"}]}` }

func newKey(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// topicTail reads a topic read_committed from its start, one record at a time,
// bounded.
type topicTail struct {
	cl  *kgo.Client
	buf []*kgo.Record
}

func newTail(t *testing.T, h *harness, topic string) *topicTail {
	return &topicTail{cl: h.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))}
}

func (tl *topicTail) record(t *testing.T) *kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(tl.buf) == 0 {
		fs := tl.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record within 60s: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("reading %s[%d]: %v", topic, p, err) })
		tl.buf = append(tl.buf, fs.Records()...)
	}
	r := tl.buf[0]
	tl.buf = tl.buf[1:]
	return r
}

// next is the next record as a result.
func (tl *topicTail) next(t *testing.T) schemas.ResultRecord {
	t.Helper()
	r := tl.record(t)
	if !strings.HasSuffix(r.Topic, ".results") {
		t.Fatalf("next on %s: not a results topic", r.Topic)
	}
	rr, err := schemas.DecodeResult(r.Value)
	if err != nil {
		t.Fatalf("decoding a result: %v", err)
	}
	return rr
}
