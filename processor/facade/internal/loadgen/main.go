// Command loadgen sends lookups (or fetches) of seeded customers (see
// ../seed) at a fixed rate and reports latency percentiles. Unlike wrk,
// which sends as fast as answers come back, it is open-loop: a request's
// latency counts from when it was due, so a stall shows in the
// percentiles instead of silently lowering the rate.
//
//	go run ./processor/facade/internal/loadgen -rate 5000 -d 10s -key $(cat data/dev-api-key)
//
// With -file it looks up the mobiles of a `custream gen` file instead (a
// seeded uniform sample of -sample of them; with -rejects, the lines that
// `custream load` reported rejected are left out, so every lookup names a
// stored customer):
//
//	go run ./processor/facade/internal/loadgen -rate 2000 -d 30s -key $(cat data/dev-api-key) \
//		-file people.csv -rejects people.csv.rejects.csv
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	base := flag.String("http", "http://127.0.0.1:8080", "facade base URL")
	key := flag.String("key", "", "API key (org 100 for the seeded data)")
	rate := flag.Int("rate", 5000, "requests per second")
	dur := flag.Duration("d", 10*time.Second, "duration")
	n := flag.Int("n", 10000, "customers seeded")
	kind := flag.String("kind", "lookup", "lookup or fetch")
	parts := flag.Int("parts", 4, "partitions (fetch: ids are seq*parts+task)")
	task := flag.Int("task", 1, "the org's task (fetch)")
	file := flag.String("file", "", "lookup: take the mobiles from this `custream gen` CSV instead of the seeded ones")
	rejectsFile := flag.String("rejects", "", "with -file: `custream load`'s reject report; its lines are left out")
	sampleN := flag.Int("sample", 1_000_000, "with -file: look up a uniform sample of at most this many mobiles")
	flag.Parse()

	var mobiles []string
	if *file != "" {
		var err error
		if mobiles, err = loadMobiles(*file, *rejectsFile, *sampleN); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		fmt.Printf("looking up %d mobiles sampled from %s\n", len(mobiles), *file)
	}

	target := func(r *rand.Rand) string {
		if *kind == "fetch" {
			return fmt.Sprintf("%s/v2/customers/%d?source=ALL", *base, (1+r.IntN(*n))**parts+*task)
		}
		if mobiles != nil {
			return fmt.Sprintf("%s/v2/customers/lookup?source=INSTORE&identifierName=mobile&identifierValue=%s", *base, url.QueryEscape(mobiles[r.IntN(len(mobiles))]))
		}
		return fmt.Sprintf("%s/v2/customers/lookup?source=INSTORE&identifierName=mobile&identifierValue=%d", *base, 919000000000+r.IntN(*n))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 5 * time.Second}
	total := int(dur.Seconds() * float64(*rate))
	interval := time.Second / time.Duration(*rate)
	due := make(chan time.Time, total)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, total)
	codes := map[int]int{}
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for at := range due {
				time.Sleep(time.Until(at))
				req, _ := http.NewRequest(http.MethodGet, target(r), nil)
				req.Header.Set("Authorization", "Bearer "+*key)
				code := 0
				if resp, err := client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				d := time.Since(at)
				mu.Lock()
				lat = append(lat, d)
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for i := range total {
		due <- start.Add(time.Duration(i) * interval)
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("%s: %d requests in %v (%.0f req/s achieved, %d asked); statuses %v\n", *kind, len(lat), elapsed.Round(time.Millisecond), float64(len(lat))/elapsed.Seconds(), *rate, codes)
	fmt.Printf("latency p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n", pct(.50), pct(.90), pct(.99), pct(.999), lat[len(lat)-1])
	if codes[200] != len(lat) {
		os.Exit(1)
	}
}

// loadMobiles samples the mobiles of a gen file, leaving out the lines of
// a reject report if one is named.
func loadMobiles(file, rejectsFile string, max int) ([]string, error) {
	var skip map[int]bool
	if rejectsFile != "" {
		f, err := os.Open(rejectsFile)
		if err != nil {
			return nil, err
		}
		skip, err = readRejectLines(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readMobiles(bufio.NewReaderSize(f, 1<<20), skip, max, 1)
}
