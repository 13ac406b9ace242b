// Command seed produces register commands for one org to a running
// custream (JSON form, key = org, as any upstream producer would), so the
// HTTP facade has data for `make http-fuzz` and `make http-load`.
//
// Customer i gets first name "Tom<i%100>", last name "Sawyer" and mobile
// 91900000000000+i (12+ digits). It waits until the last customer can be
// looked up over HTTP, then prints the figures the load scripts need.
//
//	go run ./processor/facade/internal/seed -n 10000 -key $(cat data/dev-api-key)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka seed broker")
	topic := flag.String("topic", "customers.instore", "input topic (an INSTORE-like single-account source)")
	org := flag.Int64("org", 100, "org of the customers")
	n := flag.Int("n", 10000, "customers to register")
	httpAddr := flag.String("http", "http://127.0.0.1:8080", "facade base URL, to wait for the data")
	key := flag.String("key", "", "API key of the org, to wait for the data")
	flag.Parse()
	if err := run(*brokers, *topic, *org, *n, *httpAddr, *key); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func mobile(i int) string { return strconv.FormatInt(919000000000+int64(i), 10) }

func run(brokers, topic string, org int64, n int, base, key string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ctx := context.Background()
	start := time.Now()
	for i := range n {
		cmd := customer.Command{
			RequestID: fmt.Sprintf("seed-%d-%d", org, i), Org: org, Op: customer.OpRegister, Source: "INSTORE",
			Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{
				FirstName: fmt.Sprintf("Tom%d", i%100), LastName: "Sawyer",
				Identifiers: []customer.Identifier{{Type: "mobile", Value: mobile(i)}},
			}}},
		}
		value, hs, err := schemas.EncodeJSONCommand(cmd)
		if err != nil {
			return fmt.Errorf("encoding command %d: %w", i, err)
		}
		r := &kgo.Record{Topic: topic, Key: []byte(strconv.FormatInt(org, 10)), Value: value}
		for _, h := range hs {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				fmt.Fprintln(os.Stderr, "seed: produce:", err)
				os.Exit(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flushing: %w", err)
	}
	fmt.Printf("produced %d register commands for org %d in %v\n", n, org, time.Since(start).Round(time.Millisecond))
	if key == "" {
		return nil
	}
	// Wait until the last one is visible: the facade reads committed state.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		id, err := lookup(base, key, mobile(n-1))
		if err == nil && id > 0 {
			first, _ := lookup(base, key, mobile(0))
			fmt.Printf("visible after %v; first customer id %d, last %d\n", time.Since(start).Round(time.Millisecond), first, id)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("customer %d not visible after 2 minutes (last error: %v)", n-1, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func lookup(base, key, value string) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/v2/customers/lookup?source=INSTORE&identifierName=mobile&identifierValue="+value, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v customer.LookupView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("lookup answered %s: %w", resp.Status, err)
	}
	return v.Entity, nil
}
