package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Topics at start.
//
// Every topic of a topology has the same partition count (task p is
// partition p of every topic), and that count is fixed once a topic exists.
// So EnsureTopics never creates a topic before it has looked at all of
// them:
//
//  1. PlanTopics describes every topic of the topology and decides the
//     count: the existing input topics' when there are any, else the
//     existing custream topics', else the count asked for, else the
//     default. It refuses, with what to delete or change, when existing
//     topics disagree with each other or with the count asked for, or have
//     the wrong cleanup.policy. Nothing is created then.
//  2. EnsureTopics has the broker validate the missing topics, creates
//     them, and waits until they show. If anything fails midway it deletes
//     the topics it created (unless one already holds records), so the
//     next start begins clean instead of meeting a half-made topology.
//
// The record counts in the messages are end minus start offsets: 0 means
// a topic holds nothing; transaction markers count too.

// DefaultPartitions is the partition count of a topology created from
// nothing when no count was asked for. Tasks are partitions and the count
// can never change, so it bounds the members a deployment can grow to.
const DefaultPartitions int32 = 12

// Why a plan's partition count is what it is (TopicsPlan.From).
const (
	PartitionsFromInputs  = "taken from existing input topics"
	PartitionsFromTopics  = "taken from existing custream topics (no input topic exists yet)"
	PartitionsFromAsked   = "as asked (--partitions)"
	PartitionsFromDefault = "the default (no topic exists yet and --partitions was not given)"
)

// TopicsConfig says how PlanTopics and EnsureTopics choose the partition
// count and create the missing topics.
type TopicsConfig struct {
	// Partitions is the count asked for (custream's --partitions), 0 when
	// none was. Existing topics decide the count whenever there are any:
	// a count asked for that disagrees with them is refused, never used
	// for the rest.
	Partitions int32
	// DefaultPartitions is the count when no topic exists yet and none was
	// asked for. Default DefaultPartitions.
	DefaultPartitions int32
	// ReplicationFactor of the topics created; -1 (or 0) takes the
	// broker's default.
	ReplicationFactor int16

	// beforeCreate, set by tests only, runs before each topic is created
	// and may change its spec or fail, to fail a creation midway.
	beforeCreate func(ctx context.Context, s *TopicSpec) error
}

// TopicsPlan is what PlanTopics decided, and what EnsureTopics did.
type TopicsPlan struct {
	// Partitions is the count of every topic of the topology.
	Partitions int32
	// From says why: one of the PartitionsFrom* sentences.
	From string
	// Missing are the topics that did not exist.
	Missing []string
	// Created are the topics EnsureTopics created (and kept).
	Created []string
}

// TopicsError refuses a topology whose existing topics custream cannot use
// as they are. Each problem says what is wrong and what to delete or
// change.
type TopicsError struct {
	Problems []string
}

func (e *TopicsError) Error() string { return strings.Join(e.Problems, "; ") }

// PlanTopics describes every topic of t and decides the partition count,
// or refuses with a *TopicsError. It creates nothing.
func PlanTopics(ctx context.Context, adm *kadm.Client, t Topology, cfg TopicsConfig) (TopicsPlan, error) {
	if cfg.Partitions < 0 {
		return TopicsPlan{}, fmt.Errorf("partitions must be positive, not %d", cfg.Partitions)
	}
	states, err := describeTopics(ctx, adm, t)
	if err != nil {
		return TopicsPlan{}, err
	}
	plan, problems := decide(states, cfg, nil)
	if len(problems) > 0 {
		return TopicsPlan{}, refusal(ctx, adm, states, cfg)
	}
	for _, st := range states {
		if !st.exists {
			plan.Missing = append(plan.Missing, st.spec.Name)
		}
	}
	return plan, nil
}

// EnsureTopics plans the topics of t (PlanTopics) and creates the missing
// ones. A refusal creates nothing; a failure midway deletes again what this
// call created, and the error says so.
func EnsureTopics(ctx context.Context, adm *kadm.Client, t Topology, cfg TopicsConfig) (TopicsPlan, error) {
	var plan TopicsPlan
	var specs []TopicSpec
	// A topic created just before this start (the inputs, by whoever set
	// them up) can be known to the controller before the broker's metadata
	// shows it: the plan would then take the default partition count for
	// the rest. The broker's "already exists" for a topic the plan saw
	// missing says the metadata was behind, so plan again until the
	// metadata has caught up (bounded; the broker's answer, not a timer,
	// ends the wait).
	for try := 0; ; try++ {
		var err error
		plan, err = PlanTopics(ctx, adm, t, cfg)
		if err != nil {
			return plan, fmt.Errorf("%w (nothing was created)", err)
		}
		if len(plan.Missing) == 0 {
			return plan, nil
		}
		specs = specs[:0]
		for _, s := range t.Specs() {
			for _, m := range plan.Missing {
				if s.Name == m {
					specs = append(specs, s)
				}
			}
		}
		// The broker checks names, configs and the replication factor of
		// all of them before one is created.
		exist, err := validateCreate(ctx, adm, specs, plan.Partitions, cfg.ReplicationFactor)
		if err != nil {
			return plan, fmt.Errorf("%w (nothing was created)", err)
		}
		if len(exist) == 0 || try == 50 {
			break
		}
		select {
		case <-ctx.Done():
			return plan, fmt.Errorf("waiting for the metadata to show %s: %w (nothing was created)", strings.Join(exist, ", "), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	var created []string
	for _, s := range specs {
		if cfg.beforeCreate != nil {
			if err := cfg.beforeCreate(ctx, &s); err != nil {
				kept, did := rollback(ctx, adm, created)
				plan.Created = kept
				return plan, fmt.Errorf("creating topic %s: %w; %s", s.Name, err, did)
			}
		}
		err := createTopic(ctx, adm, s, plan.Partitions, cfg.ReplicationFactor, false)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			// Another member's start made it since the plan: not ours to
			// delete; the check below tells whether it fits.
			continue
		}
		if err != nil {
			kept, did := rollback(ctx, adm, created)
			plan.Created = kept
			return plan, fmt.Errorf("creating topic %s with %s: %w; %s", s.Name, partitionsWord(plan.Partitions), err, did)
		}
		created = append(created, s.Name)
	}
	if err := awaitTopics(ctx, adm, t, plan.Partitions); err != nil {
		kept, did := rollback(ctx, adm, created)
		plan.Created = kept
		return plan, fmt.Errorf("%w; %s", err, did)
	}
	plan.Created = created
	return plan, nil
}

// CheckTopics verifies that every topic of t exists, that all have the
// same partition count (returned), and that each has the cleanup.policy it
// needs; the processor calls it at start.
func CheckTopics(ctx context.Context, adm *kadm.Client, t Topology) (int32, error) {
	states, err := describeTopics(ctx, adm, t)
	if err != nil {
		return 0, err
	}
	var missing []string
	for _, st := range states {
		if !st.exists {
			missing = append(missing, st.spec.Name)
		}
	}
	if len(missing) > 0 {
		return 0, fmt.Errorf("missing topics %s (create them with `custream topics create`, or let `custream run` create them)", strings.Join(missing, ", "))
	}
	plan, problems := decide(states, TopicsConfig{}, nil)
	if len(problems) > 0 {
		return 0, refusal(ctx, adm, states, TopicsConfig{})
	}
	return plan.Partitions, nil
}

// awaitTopics waits, bounded, until the topics just created show in the
// metadata and their configs with every topic right. Partition counts are
// fixed from a topic's creation, so a mismatch ends the wait at once (a
// concurrent start created a topic with another count); a missing topic or
// a policy not yet visible is waited for.
func awaitTopics(ctx context.Context, adm *kadm.Client, t Topology, partitions int32) error {
	var last error
	for try := 0; try < 100; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for the topics created to show: %w (last: %v)", ctx.Err(), last)
			case <-time.After(200 * time.Millisecond):
			}
		}
		states, err := describeTopics(ctx, adm, t)
		if err != nil {
			last = err
			continue
		}
		var missing []string
		for _, st := range states {
			if !st.exists {
				missing = append(missing, st.spec.Name)
			}
		}
		if len(missing) > 0 {
			last = fmt.Errorf("topics %s do not show yet", strings.Join(missing, ", "))
			continue
		}
		cfg := TopicsConfig{Partitions: partitions}
		_, problems := decide(states, cfg, nil)
		if len(problems) == 0 {
			return nil
		}
		if problems[0].partitions {
			return refusal(ctx, adm, states, cfg)
		}
		last = refusal(ctx, adm, states, cfg)
	}
	return fmt.Errorf("the topics created are not right after 20s: %w", last)
}

// topicState is one topic of a topology as the broker describes it.
type topicState struct {
	spec       TopicSpec
	input      bool
	exists     bool
	partitions int32
	// policy is its cleanup.policy, read only when the spec needs one.
	policy string
}

// needsPolicy is the cleanup.policy a topic must have, "" when any will do.
func (s TopicSpec) needsPolicy() string {
	if s.Compacted {
		return "compact"
	}
	return s.Configs["cleanup.policy"]
}

// hasPolicy tells whether an effective cleanup.policy (a list such as
// "compact,delete") is what want needs.
func hasPolicy(policy, want string) bool {
	compacts := strings.Contains(policy, "compact")
	if want == "compact" {
		return compacts
	}
	return !compacts
}

// describeTopics reads every topic of t: whether it exists, its partition
// count and, where it matters, its cleanup.policy.
func describeTopics(ctx context.Context, adm *kadm.Client, t Topology) ([]topicState, error) {
	specs := t.Specs()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	details, err := adm.ListTopics(fresh(ctx), names...)
	if err != nil {
		return nil, fmt.Errorf("describing topics: %w", err)
	}
	inputs := map[string]bool{}
	for _, n := range t.InputTopics() {
		inputs[n] = true
	}
	states := make([]topicState, len(specs))
	var withPolicy []string
	for i, s := range specs {
		st := topicState{spec: s, input: inputs[s.Name]}
		d, ok := details[s.Name]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		case d.Err != nil:
			return nil, fmt.Errorf("describing topic %s: %w", s.Name, d.Err)
		default:
			st.exists, st.partitions = true, int32(len(d.Partitions))
			if s.needsPolicy() != "" {
				withPolicy = append(withPolicy, s.Name)
			}
		}
		states[i] = st
	}
	if len(withPolicy) == 0 {
		return states, nil
	}
	rc, err := adm.DescribeTopicConfigs(ctx, withPolicy...)
	if err != nil {
		return nil, fmt.Errorf("describing topic configs: %w", err)
	}
	for i := range states {
		st := &states[i]
		if !st.exists || st.spec.needsPolicy() == "" {
			continue
		}
		r, err := rc.On(st.spec.Name, nil)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return nil, fmt.Errorf("describing configs of %s: %w", st.spec.Name, err)
		}
		st.policy = "delete" // Kafka's default
		for _, c := range r.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				st.policy = *c.Value
			}
		}
	}
	return states, nil
}

// problem is one reason to refuse a topology.
type problem struct {
	text string
	// partitions: about partition counts, which never change once a topic
	// exists (a policy can be altered, or may not show yet).
	partitions bool
}

// decide picks the partition count from the existing topics and cfg, and
// lists what is wrong with them. records (end minus start offsets per
// topic; nil when not read) go into the messages.
func decide(states []topicState, cfg TopicsConfig, records map[string]int64) (TopicsPlan, []problem) {
	var inputs, own []topicState
	for _, st := range states {
		switch {
		case !st.exists:
		case st.input:
			inputs = append(inputs, st)
		default:
			own = append(own, st)
		}
	}
	var plan TopicsPlan
	var problems []problem
	// refuse adds a partition problem; deleting are the topics it
	// suggests deleting, for a caution when they hold records.
	refuse := func(deleting []string, format string, args ...any) {
		problems = append(problems, problem{text: fmt.Sprintf(format, args...) + caution(deleting, records), partitions: true})
	}
	const sameCount = "all topics must have the same partition count, since task p is partition p of every topic"
	inGroups, ownGroups := groupByCount(inputs), groupByCount(own)
	switch {
	case len(inGroups) > 1:
		refuse(nil, "the input topics disagree: %s; %s. Recreate the inputs with one count (%s); custream cannot change an input's partitions, since its records would move to other tasks",
			describeGroups(inGroups), sameCount, recordsOf(names(inputs), records))
	case len(inGroups) == 1:
		plan.Partitions, plan.From = inGroups[0].partitions, PartitionsFromInputs
		var others []topicState
		for _, st := range own {
			if st.partitions != plan.Partitions {
				others = append(others, st)
			}
		}
		if len(others) > 0 {
			og := groupByCount(others)
			alt := ""
			if len(og) == 1 {
				alt = fmt.Sprintf(", or recreate the inputs with %s", partitionsWord(og[0].partitions))
			}
			refuse(names(others), "%s, %s (created by an earlier start); %s. Either delete %s and start again, which creates %s with %s%s",
				describeGroups(inGroups), describeGroups(og), sameCount, deletable(names(others), records), them(others), partitionsWord(plan.Partitions), alt)
		} else if cfg.Partitions > 0 && cfg.Partitions != plan.Partitions {
			refuse(names(own), "--partitions %d was given, but %s. Start without --partitions, which takes %d from them, or recreate the inputs with %s%s",
				cfg.Partitions, describeGroups(groupByCount(append(append([]topicState{}, inputs...), own...))), plan.Partitions, partitionsWord(cfg.Partitions), andDelete(own, records))
		}
	case len(ownGroups) > 1:
		keep := cfg.Partitions
		if keep == 0 {
			keep = ownGroups[0].partitions
		}
		var others []topicState
		for _, st := range own {
			if st.partitions != keep {
				others = append(others, st)
			}
		}
		refuse(names(others), "custream's topics disagree (no input topic exists yet): %s; %s. Delete %s and start again, which creates %s with %s",
			describeGroups(ownGroups), sameCount, deletable(names(others), records), them(others), partitionsWord(keep))
	case len(ownGroups) == 1:
		plan.Partitions, plan.From = ownGroups[0].partitions, PartitionsFromTopics
		if cfg.Partitions > 0 && cfg.Partitions != plan.Partitions {
			refuse(names(own), "--partitions %d was given, but %s (no input topic exists yet). Start without --partitions, which takes %d from them, or delete %s and start again",
				cfg.Partitions, describeGroups(ownGroups), plan.Partitions, deletable(names(own), records))
		}
	case cfg.Partitions > 0:
		plan.Partitions, plan.From = cfg.Partitions, PartitionsFromAsked
	default:
		plan.Partitions, plan.From = cfg.DefaultPartitions, PartitionsFromDefault
		if plan.Partitions <= 0 {
			plan.Partitions = DefaultPartitions
		}
	}
	return plan, append(problems, policyProblems(states, records)...)
}

// policyProblems lists the existing topics whose cleanup.policy is not the
// one they need.
func policyProblems(states []topicState, records map[string]int64) []problem {
	var problems []problem
	for _, st := range states {
		want := st.spec.needsPolicy()
		if !st.exists || want == "" || hasPolicy(st.policy, want) {
			continue
		}
		why := "it is read back by key, and only compaction keeps the latest record of every key"
		if want != "compact" {
			why = "the commands forwarded to one task share keys, and compaction would drop all but the last of them"
		}
		problems = append(problems, problem{text: fmt.Sprintf(
			"%s has cleanup.policy=%s but needs %s: %s. Change it (kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config cleanup.policy=%s) or delete %s and start again, which creates it right%s",
			st.spec.Name, st.policy, want, why, st.spec.Name, want, deletable([]string{st.spec.Name}, records), caution([]string{st.spec.Name}, records))})
	}
	return problems
}

// refusal reads the record counts of the existing topics, for the
// messages, and returns decide's problems as a *TopicsError.
func refusal(ctx context.Context, adm *kadm.Client, states []topicState, cfg TopicsConfig) error {
	var existing []string
	for _, st := range states {
		if st.exists {
			existing = append(existing, st.spec.Name)
		}
	}
	_, problems := decide(states, cfg, recordCounts(ctx, adm, existing))
	e := &TopicsError{}
	for _, p := range problems {
		e.Problems = append(e.Problems, p.text)
	}
	return e
}

// countGroup is the topics that have one partition count.
type countGroup struct {
	partitions int32
	names      []string
}

// groupByCount groups topics by partition count, in the order of first
// appearance.
func groupByCount(sts []topicState) []countGroup {
	var out []countGroup
	at := map[int32]int{}
	for _, st := range sts {
		i, ok := at[st.partitions]
		if !ok {
			i = len(out)
			at[st.partitions] = i
			out = append(out, countGroup{partitions: st.partitions})
		}
		out[i].names = append(out[i].names, st.spec.Name)
	}
	return out
}

// describeGroups says "a has 1 partition" or "a, b have 12 partitions",
// and several groups joined by commas.
func describeGroups(gs []countGroup) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		verb := "has"
		if len(g.names) > 1 {
			verb = "have"
		}
		parts[i] = fmt.Sprintf("%s %s %s", strings.Join(g.names, ", "), verb, partitionsWord(g.partitions))
	}
	return strings.Join(parts, ", ")
}

func them(sts []topicState) string {
	if len(sts) == 1 {
		return "it"
	}
	return "them"
}

func partitionsWord(n int32) string {
	if n == 1 {
		return "1 partition"
	}
	return fmt.Sprintf("%d partitions", n)
}

func names(sts []topicState) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = st.spec.Name
	}
	return out
}

// deletable names topics an operator may delete, with what they hold:
// "a, b (they hold nothing yet: 0 records)", or each one's records.
func deletable(ts []string, records map[string]int64) string {
	if records == nil {
		return strings.Join(ts, ", ")
	}
	if !holdRecords(ts, records) {
		if len(ts) == 1 {
			return ts[0] + " (it holds nothing yet: 0 records)"
		}
		return strings.Join(ts, ", ") + " (they hold nothing yet: 0 records)"
	}
	parts := make([]string, len(ts))
	for i, n := range ts {
		parts[i] = n + " (" + recordsWord(n, records) + ")"
	}
	return strings.Join(parts, ", ")
}

// holdRecords tells whether any of ts holds records, or may (unknown).
func holdRecords(ts []string, records map[string]int64) bool {
	for _, n := range ts {
		if c, ok := records[n]; !ok || c != 0 {
			return true
		}
	}
	return false
}

// caution ends a suggestion to delete topics that hold records.
func caution(ts []string, records map[string]int64) string {
	if records == nil || !holdRecords(ts, records) {
		return ""
	}
	return ". The records there are what an earlier run wrote: delete only what is not needed"
}

// andDelete is the second half of a suggestion to recreate the inputs:
// custream's existing topics must go too.
func andDelete(own []topicState, records map[string]int64) string {
	if len(own) == 0 {
		return ""
	}
	return " and delete " + deletable(names(own), records)
}

// recordsOf lists what each topic holds: "a: 0 records, b: 120 records".
func recordsOf(ts []string, records map[string]int64) string {
	parts := make([]string, len(ts))
	for i, n := range ts {
		parts[i] = n + ": " + recordsWord(n, records)
	}
	return strings.Join(parts, ", ")
}

func recordsWord(topic string, records map[string]int64) string {
	c, ok := records[topic]
	switch {
	case !ok:
		return "records unknown"
	case c == 1:
		return "1 record"
	default:
		return strconv.FormatInt(c, 10) + " records"
	}
}

// recordCounts returns end minus start offsets summed per topic; a topic
// whose offsets could not be listed is absent.
func recordCounts(ctx context.Context, adm *kadm.Client, topics []string) map[string]int64 {
	out := map[string]int64{}
	if len(topics) == 0 {
		return out
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return out
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return out
	}
	bad := map[string]bool{}
	ends.Each(func(o kadm.ListedOffset) {
		s, ok := starts.Lookup(o.Topic, o.Partition)
		if o.Err != nil || !ok || s.Err != nil {
			bad[o.Topic] = true
			return
		}
		out[o.Topic] += o.Offset - s.Offset
	})
	for t := range bad {
		delete(out, t)
	}
	return out
}

// topicConfigs are the configs s is created with.
func topicConfigs(s TopicSpec) map[string]*string {
	configs := map[string]*string{}
	for k, v := range s.Configs {
		configs[k] = &v
	}
	if s.Compacted {
		compact := "compact"
		configs["cleanup.policy"] = &compact
	}
	return configs
}

// createTopic creates s (or only validates it).
func createTopic(ctx context.Context, adm *kadm.Client, s TopicSpec, partitions int32, rf int16, validateOnly bool) error {
	if rf == 0 {
		rf = -1
	}
	create := adm.CreateTopics
	if validateOnly {
		create = adm.ValidateCreateTopics
	}
	resp, err := create(ctx, partitions, rf, topicConfigs(s), s.Name)
	if err != nil {
		return err
	}
	r, ok := resp[s.Name]
	if !ok {
		return errors.New("the broker did not answer for the topic")
	}
	if r.Err != nil && r.ErrMessage != "" {
		return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
	}
	return r.Err
}

// validateCreate has the broker validate the creation of every spec; the
// topics it refuses are grouped by its reason. It returns the topics the
// broker says exist already.
func validateCreate(ctx context.Context, adm *kadm.Client, specs []TopicSpec, partitions int32, rf int16) (exist []string, _ error) {
	var first error
	var reasons []string
	byReason := map[string][]string{}
	for _, s := range specs {
		err := createTopic(ctx, adm, s, partitions, rf, true)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			exist = append(exist, s.Name)
			continue
		}
		if err == nil {
			continue
		}
		if first == nil {
			first = err
		}
		r := err.Error()
		if _, ok := byReason[r]; !ok {
			reasons = append(reasons, r)
		}
		byReason[r] = append(byReason[r], s.Name)
	}
	if first == nil {
		return exist, nil
	}
	if len(reasons) == 1 {
		return exist, fmt.Errorf("the broker refuses to create %s with %s: %w", strings.Join(byReason[reasons[0]], ", "), partitionsWord(partitions), first)
	}
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = strings.Join(byReason[r], ", ") + ": " + r
	}
	return exist, fmt.Errorf("the broker refuses to create topics with %s: %s", partitionsWord(partitions), strings.Join(parts, "; "))
}

// rollback deletes the topics this call created, so that the next start
// begins clean rather than on a half-made topology. A topic that already
// holds records (or whose offsets cannot be read) is kept: custream never
// deletes data on its own. It returns the topics kept and a sentence for
// the error. It runs even when ctx is done (a stop mid-creation).
func rollback(ctx context.Context, adm *kadm.Client, created []string) (kept []string, said string) {
	if len(created) == 0 {
		return nil, "no topic had been created yet"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// A topic's offsets can be listed once its partitions have leaders,
	// a moment after its creation.
	awaitLeaders(ctx, adm, created)
	records := recordCounts(ctx, adm, created)
	var del, notes []string
	for _, n := range created {
		c, ok := records[n]
		switch {
		case ok && c == 0:
			del = append(del, n)
			continue
		case ok:
			notes = append(notes, fmt.Sprintf("kept %s: it holds %s already", n, recordsWord(n, records)))
		default:
			notes = append(notes, fmt.Sprintf("kept %s: its offsets could not be read, so it may hold records; delete it by hand if it is empty", n))
		}
		kept = append(kept, n)
	}
	var deleted []string
	if len(del) > 0 {
		resp, err := adm.DeleteTopics(ctx, del...)
		for _, n := range del {
			e := err
			if e == nil {
				if r, ok := resp[n]; !ok {
					e = errors.New("no answer")
				} else {
					e = r.Err
				}
			}
			if e != nil {
				kept = append(kept, n)
				notes = append(notes, fmt.Sprintf("could not delete %s (%v): delete it by hand before the next start", n, e))
				continue
			}
			deleted = append(deleted, n)
		}
	}
	var parts []string
	if len(deleted) > 0 {
		parts = append(parts, fmt.Sprintf("deleted the topics it had just created (%s), so the next start begins clean", strings.Join(deleted, ", ")))
	}
	return kept, strings.Join(append(parts, notes...), "; ")
}

// awaitLeaders waits, bounded, until every partition of topics has a
// leader.
func awaitLeaders(ctx context.Context, adm *kadm.Client, topics []string) {
	for try := 0; try < 50; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		details, err := adm.ListTopics(fresh(ctx), topics...)
		if err != nil {
			continue
		}
		ready := true
		for _, n := range topics {
			d, ok := details[n]
			if !ok || d.Err != nil || len(d.Partitions) == 0 {
				ready = false
				break
			}
			for _, p := range d.Partitions {
				if p.Err != nil || p.Leader < 0 {
					ready = false
				}
			}
		}
		if ready {
			return
		}
	}
}

// fresh makes kadm ask the broker for metadata rather than answer from its
// client's cache (up to 5s old): a topic created or deleted a moment ago,
// by this call or another member's start, must show as it is. The answer
// refreshes the cache, so the offsets listed next see it too.
func fresh(ctx context.Context) context.Context {
	return kadm.WithAuthorizedOps(ctx)
}
