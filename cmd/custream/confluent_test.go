package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/schemas/registrytest"
)

// The Confluent output form end to end: `custream run --output-format
// confluent` against the test broker and the test registry (Apicurio in
// make test, srfake without Java), read back by custream's own decoders and
// by confluent-kafka-python (deploy/interop/read_outputs.py), refused when
// the registry refuses a schema, waiting for a registry that is down, and
// with credentials.

// running is one `custream run` in-process.
type running struct {
	stderr *syncBuffer
	done   chan int
	cancel context.CancelFunc
	exited bool
	code   int
}

func startRun(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stderr: &syncBuffer{}, done: make(chan int, 1), cancel: cancel}
	var stdout syncBuffer
	go func() { r.done <- runRunCtx(ctx, args, &stdout, r.stderr) }()
	t.Cleanup(func() {
		r.stop(t)
		t.Logf("custream run:\n%s", r.stderr.String())
	})
	return r
}

// stop ends the run and returns its exit status.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	if r.exited {
		return r.code
	}
	r.cancel()
	select {
	case r.code = <-r.done:
	case <-time.After(60 * time.Second):
		t.Error("custream run did not stop within 60s")
		r.code = -1
	}
	r.exited = true
	return r.code
}

// waitLog waits until the log holds want; false if the run exited first.
func (r *running) waitLog(t *testing.T, want string, limit time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(r.stderr.String(), want) {
		if r.exited {
			return false
		}
		select {
		case r.code = <-r.done:
			r.exited = true
			return strings.Contains(r.stderr.String(), want)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("custream run did not log %q within %s", want, limit)
		}
	}
	return true
}

// waitExit waits for the run to exit by itself and returns its status.
func (r *running) waitExit(t *testing.T, limit time.Duration) int {
	t.Helper()
	if r.exited {
		return r.code
	}
	select {
	case r.code = <-r.done:
		r.exited = true
		return r.code
	case <-time.After(limit):
		t.Fatalf("custream run still running after %s", limit)
		return -1
	}
}

func confluentArgs(d *inputsOnly, registryURL string, extra ...string) []string {
	args := append([]string{"--state-dir", "", "--http-addr", "127.0.0.1:0", "--metrics-addr", "", "--instance-id", "m1",
		"--output-format", "confluent", "--schema-registry", registryURL, "--session-timeout", "6s"}, d.flags...)
	return append(args, extra...)
}

func withStateDir(t *testing.T, args []string) []string {
	for i := range args {
		if args[i] == "--state-dir" {
			args[i+1] = t.TempDir()
		}
	}
	return args
}

// registeredIDs reads the "schema registered" lines of a run's log:
// subject → id.
func registeredIDs(t *testing.T, log string) map[string]int {
	t.Helper()
	re := regexp.MustCompile(`msg="schema registered" .*subject=(\S+) schema=\S+ id=(\d+)`)
	out := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		id, _ := strconv.Atoi(m[2])
		out[m[1]] = id
	}
	return out
}

func produceJSON(t *testing.T, d *inputsOnly, topic string, cmd customer.Command) {
	t.Helper()
	value, hs, err := schemas.EncodeJSONCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Topic: topic, Key: []byte(strconv.FormatInt(cmd.Org, 10)), Value: value}
	for _, h := range hs {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	produce(t, d, r)
}

func produce(t *testing.T, d *inputsOnly, r *kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.c.Client(t).ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", r.Topic, err)
	}
}

// readCommitted reads topic from the start until it holds at least want
// records (want < 0: until nothing new comes for 3 s).
func readCommitted(t *testing.T, d *inputsOnly, topic string, want int, limit time.Duration) []*kgo.Record {
	t.Helper()
	cl := d.c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var out []*kgo.Record
	deadline := time.Now().Add(limit)
	quiet := time.Now()
	for time.Now().Before(deadline) {
		if want >= 0 && len(out) >= want {
			return out
		}
		if want < 0 && len(out) > 0 && time.Since(quiet) > 3*time.Second {
			return out
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("reading %s[%d]: %v", topic, p, err)
			}
		})
		if recs := fs.Records(); len(recs) > 0 {
			out = append(out, recs...)
			quiet = time.Now()
		}
	}
	if want >= 0 {
		t.Fatalf("%s: %d records within %s, want %d", topic, len(out), limit, want)
	}
	return out
}

// decodeResult reads a Confluent-framed result with custream's own decoder
// and checks its schema id.
func decodeResult(t *testing.T, r *kgo.Record, wantID int) schemas.ResultRecord {
	t.Helper()
	checkID(t, r, wantID)
	soe, err := schemas.SingleObjectFromConfluent(r.Value, schemas.KindResult)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := schemas.DecodeResult(soe)
	if err != nil {
		t.Fatalf("result at %s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
	}
	return rr
}

func checkID(t *testing.T, r *kgo.Record, wantID int) {
	t.Helper()
	if len(r.Value) < 5 || r.Value[0] != 0 {
		t.Fatalf("%s[%d]@%d: not Confluent framed: % x", r.Topic, r.Partition, r.Offset, r.Value[:min(len(r.Value), 8)])
	}
	if id := int(binary.BigEndian.Uint32(r.Value[1:5])); id != wantID {
		t.Errorf("%s[%d]@%d: schema id %d, want %d (registered)", r.Topic, r.Partition, r.Offset, id, wantID)
	}
}

// TestConfluentOutputInterop: custream registers its output schemas,
// writes results, a merge notice and snapshots in the Confluent form, and
// confluent-kafka-python's DeserializingConsumer with AvroDeserializer
// (fastavro, the writer schema fetched by id) reads every one of them as
// the same document that custream wrote, field by field. One input comes
// in the Confluent form too.
func TestConfluentOutputInterop(t *testing.T) {
	d := newInputsOnly(t)
	reg := registrytest.Start(t)
	run := startRun(t, withStateDir(t, confluentArgs(d, reg.URL))...)
	if !run.waitLog(t, "custream running", 2*time.Minute) {
		t.Fatalf("custream run exited %d before running", run.code)
	}
	ids := registeredIDs(t, run.stderr.String())
	topics := map[schemas.Kind]string{schemas.KindResult: d.topo.Results, schemas.KindMerge: d.topo.Merges, schemas.KindSnapshot: d.topo.Snapshots}
	for k, topic := range topics {
		if ids[topic+"-value"] == 0 || ids[topic+"-key"] == 0 {
			t.Fatalf("%s: subjects %s-value and %s-key not both logged as registered: %v", k, topic, topic, ids)
		}
		// The registry holds under the subject exactly what custream logged.
		ss, err := reg.Client(t).SchemaByVersion(context.Background(), topic+"-value", -1)
		if err != nil {
			t.Fatalf("latest version of %s-value: %v", topic, err)
		}
		if ss.ID != ids[topic+"-value"] {
			t.Errorf("%s-value: latest id %d, logged %d", topic, ss.ID, ids[topic+"-value"])
		}
	}

	instore, wechat := d.topo.Inputs[0].Topic, ""
	for _, in := range d.topo.Inputs {
		if in.Source.Name == "WECHAT" {
			wechat = in.Topic
		}
	}
	produceJSON(t, d, instore, customer.Command{RequestID: "r1", Org: 7, Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom", LastName: "Sawyer",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}},
			ExtendedFields: map[string]string{"city": "Bangalore"}}})
	// The second command in the Confluent input form, its schema
	// registered as a producer would.
	cf := schemas.NewConfluent(schemas.NewSRRegistry(reg.Client(t)))
	if _, err := cf.RegisterCommand(context.Background(), wechat+"-value"); err != nil {
		t.Fatal(err)
	}
	v, err := cf.EncodeCommand(customer.Command{RequestID: "r2", Org: 7, Op: customer.OpRegister, Source: "WECHAT", AccountID: "22232",
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Huck",
			Identifiers: []customer.Identifier{{Type: "wechat", Value: "ray11"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	produce(t, d, &kgo.Record{Topic: wechat, Key: []byte("7"), Value: v})

	results := readCommitted(t, d, d.topo.Results, 2, 2*time.Minute)
	created := map[string]int64{}
	for _, r := range results {
		rr := decodeResult(t, r, ids[d.topo.Results+"-value"])
		if !rr.Success {
			t.Fatalf("result %s: %+v", rr.RequestID, rr)
		}
		created[rr.RequestID] = rr.CreatedID
	}
	if created["r1"] == 0 || created["r2"] == 0 {
		t.Fatalf("created ids %v", created)
	}
	// A balance for each, from the loyalty engine: Tom's as JSON, Huck's in
	// the Confluent form with balance.avsc registered as a producer would.
	produce(t, d, &kgo.Record{Topic: d.topo.PointsTopic(), Key: []byte("7"), Value: []byte(fmt.Sprintf(
		`{"requestId":"p1","customerId":%d,"programId":1,"version":1,"loyaltyPoints":100,"returned":1100.2139892578125,"currentSlab":"Gold","slabSNo":2}`, created["r1"]))})
	balanceID, err := schemas.NewSRRegistry(reg.Client(t)).Register(context.Background(), d.topo.PointsTopic()+"-value", schemas.Schema(schemas.KindBalance))
	if err != nil {
		t.Fatal(err)
	}
	soeBalance, err := schemas.EncodeBalance(customer.Command{RequestID: "p2", CustomerID: created["r2"],
		Balance: &customer.Balance{ProgramID: 1, Version: 4, LoyaltyPoints: 50, CumulativePurchases: 230, CurrentSlab: "Silver", SlabSNo: 1, NextSlabSerialNumber: -1}})
	if err != nil {
		t.Fatal(err)
	}
	confBalance, err := schemas.ToConfluent(soeBalance, schemas.KindBalance, balanceID)
	if err != nil {
		t.Fatal(err)
	}
	produce(t, d, &kgo.Record{Topic: d.topo.PointsTopic(), Key: []byte("7"), Value: confBalance})
	results = readCommitted(t, d, d.topo.Results, 4, 2*time.Minute)
	for _, r := range results[2:] {
		if rr := decodeResult(t, r, ids[d.topo.Results+"-value"]); !rr.Success || rr.Op != customer.OpPoints {
			t.Fatalf("balance %s: %+v", rr.RequestID, rr)
		}
	}
	// Merge Huck (r2) into Tom (r1) through Tom's mobile.
	produceJSON(t, d, wechat, customer.Command{RequestID: "r3", Org: 7, Op: customer.OpChangeIdentifier, Source: "WECHAT", AccountID: "22232",
		CustomerID: created["r2"], ChangeIdentifier: &customer.ChangeIdentifierBody{Add: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}})
	results = readCommitted(t, d, d.topo.Results, 5, 2*time.Minute)
	merges := readCommitted(t, d, d.topo.Merges, 1, time.Minute)
	snapshots := readCommitted(t, d, d.topo.Snapshots, -1, time.Minute)

	r3 := decodeResult(t, results[4], ids[d.topo.Results+"-value"])
	if r3.RequestID != "r3" || !r3.Success || len(r3.Warnings) == 0 || r3.Warnings[0].Code != customer.CodeMerged {
		t.Fatalf("r3: %+v, want a success with warning %d", r3, customer.CodeMerged)
	}
	checkID(t, merges[0], ids[d.topo.Merges+"-value"])
	soe, _ := schemas.SingleObjectFromConfluent(merges[0].Value, schemas.KindMerge)
	m, err := schemas.DecodeMerge(soe)
	if err != nil || m.SurvivorID != created["r1"] || m.VictimID != created["r2"] {
		t.Fatalf("merge notice %+v, %v: want %d merged into %d", m, err, created["r2"], created["r1"])
	}
	if len(m.Balances) != 1 || m.Balances[0].LoyaltyPoints != 50 {
		t.Errorf("merge notice balances %+v, want Huck's one balance", m.Balances)
	}
	lastSnap := map[string]map[string]any{}
	for _, r := range snapshots {
		checkID(t, r, ids[d.topo.Snapshots+"-value"])
		soe, _ := schemas.SingleObjectFromConfluent(r.Value, schemas.KindSnapshot)
		c, err := schemas.DecodeSnapshot(soe)
		if err != nil {
			t.Fatal(err)
		}
		lastSnap[string(r.Key)] = c
	}
	if c := lastSnap[strconv.FormatInt(created["r2"], 10)]; c == nil || fmt.Sprint(c["mergedInto"]) != strconv.FormatInt(created["r1"], 10) {
		t.Errorf("victim's last snapshot %+v, want merged into %d", c, created["r1"])
	}
	// The survivor's snapshot sums both balances (docs/points.md).
	if c := lastSnap[strconv.FormatInt(created["r1"], 10)]; c == nil || !strings.Contains(fmt.Sprint(c["loyaltyProgramDetails"]), "loyaltyPoints:150") {
		t.Errorf("survivor's last snapshot balances %v, want 150 points", c["loyaltyProgramDetails"])
	}

	// What custream meant to write, record by record: each value decoded
	// by goavro with the embedded schema, as plain JSON.
	want := map[string]string{}
	for k, recs := range map[schemas.Kind][]*kgo.Record{schemas.KindResult: results, schemas.KindMerge: merges, schemas.KindSnapshot: snapshots} {
		for _, r := range recs {
			want[coords(r.Topic, r.Partition, r.Offset)] = plainJSON(t, k, r)
		}
	}

	py := registrytest.Python(t)
	script := registrytest.Script(t, "deploy/interop/read_outputs.py")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script, "--timeout", "60", "--brokers", strings.Join(d.c.Brokers, ","), "--registry", reg.URL,
		d.topo.Results, d.topo.Merges, d.topo.Snapshots)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("read_outputs.py: %v\n%s", err, stderr.String())
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var got struct {
			Topic     string          `json:"topic"`
			Partition int32           `json:"partition"`
			Offset    int64           `json:"offset"`
			Key       string          `json:"key"`
			SchemaID  int             `json:"schema_id"`
			Value     json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("read_outputs.py printed %q: %v", line, err)
		}
		at := coords(got.Topic, got.Partition, got.Offset)
		w, ok := want[at]
		if !ok {
			t.Errorf("python read %s, which custream did not write (or Go did not read)", at)
			continue
		}
		seen++
		if id := ids[got.Topic+"-value"]; got.SchemaID != id {
			t.Errorf("%s: python saw schema id %d, registered %d", at, got.SchemaID, id)
		}
		if g := normJSON(t, got.Value); g != w {
			t.Errorf("%s: fastavro decoded\n %s\nwant (what custream wrote)\n %s", at, g, w)
		}
		if got.Topic == d.topo.Results && strings.Contains(string(got.Value), `"r3"`) {
			t.Logf("a result as confluent-kafka-python decoded it:\n%s", line)
		}
	}
	if seen != len(want) {
		t.Errorf("python decoded %d records, custream wrote %d", seen, len(want))
	}
}

func coords(topic string, p int32, o int64) string { return fmt.Sprintf("%s[%d]@%d", topic, p, o) }

// plainJSON decodes a Confluent-framed value of kind k with goavro and the
// embedded schema, and renders it as plain JSON the way read_outputs.py
// renders fastavro's decoding: unions unwrapped, timestamps as RFC 3339
// UTC with microseconds.
func plainJSON(t *testing.T, k schemas.Kind, r *kgo.Record) string {
	t.Helper()
	_, body, err := schemas.ConfluentBody(r.Value)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(schemas.Schema(k))
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(body)
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro: %v (%d bytes left)", err, len(rest))
	}
	var schema any
	if err := json.Unmarshal([]byte(schemas.Schema(k)), &schema); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(plainAvro(schema, map[string]any{}, "", native))
	if err != nil {
		t.Fatal(err)
	}
	return normJSON(t, b)
}

// plainAvro turns goavro's native value v of schema s into plain data.
// names collects the named types seen so far (for references), ns is the
// enclosing namespace.
func plainAvro(s any, names map[string]any, ns string, v any) any {
	switch s := s.(type) {
	case string:
		if def, ok := names[s]; ok {
			return plainAvro(def, names, ns, v)
		}
		if def, ok := names[ns+"."+s]; ok {
			return plainAvro(def, names, ns, v)
		}
		return v // a primitive
	case []any: // a union: ["null", T] in our schemas
		if v == nil {
			return nil
		}
		for _, inner := range v.(map[string]any) {
			for _, branch := range s {
				if branch != "null" {
					return plainAvro(branch, names, ns, inner)
				}
			}
		}
		return nil
	case map[string]any:
		if lt, _ := s["logicalType"].(string); strings.HasPrefix(lt, "timestamp-") {
			return v.(time.Time).UTC().Format("2006-01-02T15:04:05.000000Z")
		}
		if n, _ := s["namespace"].(string); n != "" {
			ns = n
		}
		if name, _ := s["name"].(string); name != "" {
			names[name] = s
			names[ns+"."+name] = s
		}
		switch s["type"] {
		case "record":
			m := v.(map[string]any)
			out := map[string]any{}
			for _, f := range s["fields"].([]any) {
				f := f.(map[string]any)
				name := f["name"].(string)
				out[name] = plainAvro(f["type"], names, ns, m[name])
			}
			return out
		case "array":
			items := v.([]any)
			out := make([]any, len(items))
			for i, it := range items {
				out[i] = plainAvro(s["items"], names, ns, it)
			}
			return out
		case "map":
			out := map[string]any{}
			for key, it := range v.(map[string]any) {
				out[key] = plainAvro(s["values"], names, ns, it)
			}
			return out
		case "enum", "fixed":
			return v
		default:
			return plainAvro(s["type"], names, ns, v)
		}
	}
	return v
}

// normJSON re-encodes JSON with sorted keys and exact numbers.
func normJSON(t *testing.T, b []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out, err := json.Marshal(canonNumbers(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// canonNumbers writes every number one way: an Avro double 0 is "0" to Go
// and "0.0" to Python, and both mean the same value.
func canonNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = canonNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = canonNumbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		if f, err := x.Float64(); err == nil {
			if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return json.Number(strconv.FormatInt(int64(f), 10))
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	return v
}

// TestConfluentIncompatibleSchemaRefused: a results subject whose latest
// version custream's result schema cannot be BACKWARD compatible with
// stops custream at start, with an error that says so, before it writes
// anything.
func TestConfluentIncompatibleSchemaRefused(t *testing.T) {
	d := newInputsOnly(t)
	reg := registrytest.Start(t)
	subject := d.topo.Results + "-value"
	if reg.Fake != nil {
		// srfake checks no compatibility: answer as a registry does.
		reg.Fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/subjects/"+subject+"/versions") {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema for subject"}`))
			return true
		})
	} else {
		// A first version of another shape, under BACKWARD: a reader with
		// custream's schema could not read its records (fields without
		// defaults that it lacks).
		cl := reg.Client(t)
		ctx := context.Background()
		if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, subject); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		old := `{"type":"record","name":"Result","namespace":"io.custream.v1","fields":[{"name":"legacy","type":"string"}]}`
		if _, err := cl.RegisterSchema(ctx, subject, sr.Schema{Schema: old}, -1, -1); err != nil {
			t.Fatal(err)
		}
	}
	run := startRun(t, withStateDir(t, confluentArgs(d, reg.URL))...)
	if code := run.waitExit(t, 2*time.Minute); code != 1 {
		t.Errorf("custream run exited %d, want 1", code)
	}
	log := run.stderr.String()
	for _, want := range []string{"refuses custream's io.custream.v1.Result schema under subject", subject, "incompatible", "does not start"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	if strings.Contains(log, "custream running") {
		t.Error("custream ran with a refused schema")
	}
}

// TestConfluentRegistryDownAtStart: custream started before its registry
// retries, says so, and proceeds once the registry answers.
func TestConfluentRegistryDownAtStart(t *testing.T) {
	d := newInputsOnly(t)
	reg := registrytest.Start(t)
	later := reg.Later(t)
	run := startRun(t, withStateDir(t, confluentArgs(d, later.URL))...)
	run.waitLog(t, `msg="the schema registry does not answer; retrying" component=processor attempt=2`, time.Minute)
	later.Up(t)
	if !run.waitLog(t, "custream running", 2*time.Minute) {
		t.Fatalf("custream run exited %d before running", run.code)
	}
	ids := registeredIDs(t, run.stderr.String())
	produceJSON(t, d, d.topo.Inputs[0].Topic, customer.Command{RequestID: "r1", Org: 7, Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}}}})
	rr := decodeResult(t, readCommitted(t, d, d.topo.Results, 1, 2*time.Minute)[0], ids[d.topo.Results+"-value"])
	if rr.RequestID != "r1" || !rr.Success {
		t.Errorf("result %+v", rr)
	}
}

// TestConfluentRegistryCredentials: a registry behind TLS that wants basic
// auth refuses custream without credentials (it stops at once: a 401 is
// not a registry that is down) and serves it with them, the password from
// a file and the CA from --schema-registry-ca.
func TestConfluentRegistryCredentials(t *testing.T) {
	d := newInputsOnly(t)
	reg := registrytest.Start(t)
	proxy := reg.AuthProxy(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("svc-custream:s3cret pass")))

	run := startRun(t, withStateDir(t, confluentArgs(d, proxy.URL, "--schema-registry-ca", proxy.CAFile))...)
	if code := run.waitExit(t, time.Minute); code != 1 {
		t.Fatalf("without credentials: exit %d, want 1", code)
	}
	if log := run.stderr.String(); !strings.Contains(log, "HTTP 401") || strings.Contains(log, "retrying") {
		t.Errorf("without credentials the log should give the 401 and not retry")
	}

	pass := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pass, []byte("s3cret pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run = startRun(t, withStateDir(t, confluentArgs(d, proxy.URL, "--schema-registry-ca", proxy.CAFile,
		"--schema-registry-user", "svc-custream", "--schema-registry-password-file", pass))...)
	if !run.waitLog(t, "custream running", 2*time.Minute) {
		t.Fatalf("with credentials: exited %d before running", run.code)
	}
	ids := registeredIDs(t, run.stderr.String())
	produceJSON(t, d, d.topo.Inputs[0].Topic, customer.Command{RequestID: "r1", Org: 7, Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}}}})
	if rr := decodeResult(t, readCommitted(t, d, d.topo.Results, 1, 2*time.Minute)[0], ids[d.topo.Results+"-value"]); !rr.Success {
		t.Errorf("result %+v", rr)
	}
}

// TestRegistryFlagsAuth: the bearer token file (read per request), the
// password from CUSTREAM_SCHEMA_REGISTRY_PASSWORD, and the combinations
// that are refused.
func TestRegistryFlagsAuth(t *testing.T) {
	reg := registrytest.Start(t)
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte("tok-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	bearer := reg.AuthProxy(t, "Bearer tok-2")
	f := registryFlags{url: bearer.URL, tokenFile: tokFile, ca: bearer.CAFile}
	cl, _, err := f.client(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SubjectExists(ctx, "x-value"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("with the old token: %v, want a 401", err)
	}
	// The token rotates: the next request reads the file again.
	if err := os.WriteFile(tokFile, []byte("tok-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SubjectExists(ctx, "x-value"); err != nil {
		t.Fatalf("with the rotated token: %v", err)
	}

	basic := reg.AuthProxy(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("u:from-env")))
	f = registryFlags{url: basic.URL, user: "u", ca: basic.CAFile}
	cl, _, err = f.client(func(k string) string { return map[string]string{envRegistryPassword: "from-env"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SubjectExists(ctx, "x-value"); err != nil {
		t.Fatalf("basic auth with the password from %s: %v", envRegistryPassword, err)
	}

	for _, bad := range []registryFlags{
		{url: basic.URL, user: "u"}, // no password
		{url: basic.URL, user: "u", tokenFile: tokFile},
		{url: basic.URL, passFile: tokFile},
		{user: "u"},                   // no URL
		{url: basic.URL, ca: tokFile}, // not PEM
	} {
		if _, _, err := bad.client(func(string) string { return "" }); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}
