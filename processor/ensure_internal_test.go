package processor

import (
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// TestDecide: the partition count and the problems PlanTopics derives from
// what exists, without a broker. The messages themselves are asserted on
// the real broker (TestTopicsRefused); here, which count wins and what is
// refused.
func TestDecide(t *testing.T) {
	topo := DefaultTopology("c", "g", customer.DefaultSources()[:2])
	// exist gives the states of topo's topics: n partitions for the ones
	// named, with the policy each needs unless policies overrides it.
	exist := func(counts map[string]int32, policies map[string]string) []topicState {
		var out []topicState
		for _, s := range topo.Specs() {
			_, input := topo.SourceOf(s.Name)
			st := topicState{spec: s, input: input}
			if n, ok := counts[s.Name]; ok {
				st.exists, st.partitions, st.policy = true, n, s.needsPolicy()
				if st.policy == "" {
					st.policy = "delete"
				}
				if p, ok := policies[s.Name]; ok {
					st.policy = p
				}
			}
			out = append(out, st)
		}
		return out
	}
	own := func(n int32) map[string]int32 {
		return map[string]int32{"c.results": n, "c.merges": n, "c.snapshots": n, "c.dlq": n, "g-changelog": n, "g-repartition": n}
	}
	inputs := func(n int32) map[string]int32 { return map[string]int32{"c.instore": n, "c.martjack": n} }
	both := func(a, b map[string]int32) map[string]int32 {
		out := map[string]int32{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		counts     map[string]int32
		policies   map[string]string
		cfg        TopicsConfig
		partitions int32
		from       string
		refused    []string // substrings of the problems, in order
	}{
		{name: "nothing exists", partitions: DefaultPartitions, from: PartitionsFromDefault},
		{name: "nothing exists, embedded default", cfg: TopicsConfig{DefaultPartitions: 4}, partitions: 4, from: PartitionsFromDefault},
		{name: "nothing exists, asked", cfg: TopicsConfig{Partitions: 3, DefaultPartitions: 4}, partitions: 3, from: PartitionsFromAsked},
		{name: "inputs decide over the default", counts: inputs(1), cfg: TopicsConfig{DefaultPartitions: 4}, partitions: 1, from: PartitionsFromInputs},
		{name: "one input is enough", counts: map[string]int32{"c.martjack": 2}, partitions: 2, from: PartitionsFromInputs},
		{name: "inputs agree with the count asked", counts: inputs(6), cfg: TopicsConfig{Partitions: 6}, partitions: 6, from: PartitionsFromInputs},
		{name: "all exist", counts: both(inputs(3), own(3)), partitions: 3, from: PartitionsFromInputs},
		{name: "custream's own topics decide when no input exists", counts: map[string]int32{"g-changelog": 5}, partitions: 5, from: PartitionsFromTopics},
		{name: "compact,delete is compacted", counts: both(inputs(1), own(1)), policies: map[string]string{"g-changelog": "compact,delete"}, partitions: 1, from: PartitionsFromInputs},

		{name: "asked disagrees with inputs", counts: inputs(1), cfg: TopicsConfig{Partitions: 12}, refused: []string{"--partitions 12 was given"}},
		{name: "asked disagrees with own", counts: map[string]int32{"c.dlq": 2}, cfg: TopicsConfig{Partitions: 12}, refused: []string{"--partitions 12 was given, but c.dlq has 2 partitions (no input topic exists yet)"}},
		{name: "half-made", counts: both(inputs(1), own(12)), refused: []string{"c.instore, c.martjack have 1 partition, c.results, c.merges, c.snapshots, c.dlq, g-changelog, g-repartition have 12 partitions"}},
		{name: "half-made beats asked", counts: both(inputs(1), own(12)), cfg: TopicsConfig{Partitions: 1}, refused: []string{"(created by an earlier start)"}},
		{name: "inputs disagree", counts: map[string]int32{"c.instore": 1, "c.martjack": 3}, refused: []string{"the input topics disagree"}},
		{name: "own disagree", counts: map[string]int32{"c.results": 1, "c.merges": 3}, refused: []string{"custream's topics disagree (no input topic exists yet): c.results has 1 partition, c.merges has 3 partitions"}},
		{name: "changelog not compacted", counts: both(inputs(1), own(1)), policies: map[string]string{"g-changelog": "delete"}, refused: []string{"g-changelog has cleanup.policy=delete but needs compact"}},
		{name: "snapshots not compacted and repartition compacted", counts: both(inputs(1), own(1)), policies: map[string]string{"c.snapshots": "delete", "g-repartition": "compact,delete"},
			refused: []string{"c.snapshots has cleanup.policy=delete but needs compact", "g-repartition has cleanup.policy=compact,delete but needs delete"}},
		{name: "partitions and policy both", counts: both(inputs(1), own(2)), policies: map[string]string{"g-repartition": "compact"},
			refused: []string{"have 2 partitions (created by an earlier start)", "g-repartition has cleanup.policy=compact"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, problems := decide(exist(tc.counts, tc.policies), tc.cfg, nil)
			if len(tc.refused) == 0 {
				if len(problems) > 0 {
					t.Fatalf("refused: %v", problems)
				}
				if plan.Partitions != tc.partitions || plan.From != tc.from {
					t.Errorf("plan %d, %q; want %d, %q", plan.Partitions, plan.From, tc.partitions, tc.from)
				}
				return
			}
			if len(problems) != len(tc.refused) {
				t.Fatalf("problems %v; want %d", problems, len(tc.refused))
			}
			for i, want := range tc.refused {
				if !strings.Contains(problems[i].text, want) {
					t.Errorf("problem %d:\n\t%s\ndoes not say\n\t%s", i, problems[i].text, want)
				}
			}
		})
	}
}
