// Package reset rewinds a custream application, as Kafka's
// kafka-streams-application-reset does: with the group empty, it moves the
// group's committed offsets of the input topics to a chosen position,
// deletes those of the repartition topic, and deletes the changelog and
// repartition topics, which the next `custream run` creates again
// (processor.EnsureTopics) and refills from the inputs.
//
// Plan only reads; Apply changes the cluster, and checks again first that
// the group is still empty. The outputs (results, merges, snapshots, DLQ)
// and the inputs are never touched. The members' local state is not
// reachable from here: the caller tells the operator to wipe it.
package reset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/custream/custream/processor"
)

// Position is where the input offsets go.
type Position struct {
	// Kind is "earliest", "latest" or "timestamp".
	Kind string
	// At is the time of a "timestamp" position: each partition goes to its
	// first record at or after it (its end when there is none).
	At time.Time
}

// ParsePosition reads earliest, latest or timestamp:RFC3339.
func ParsePosition(s string) (Position, error) {
	switch {
	case s == "earliest" || s == "latest":
		return Position{Kind: s}, nil
	case strings.HasPrefix(s, "timestamp:"):
		at, err := time.Parse(time.RFC3339, strings.TrimPrefix(s, "timestamp:"))
		if err != nil {
			return Position{}, fmt.Errorf("position %q: the time is not RFC3339 (e.g. timestamp:2024-05-01T00:00:00Z): %w", s, err)
		}
		return Position{Kind: "timestamp", At: at}, nil
	}
	return Position{}, fmt.Errorf("position %q: want earliest, latest or timestamp:RFC3339", s)
}

func (p Position) String() string {
	if p.Kind == "timestamp" {
		return "timestamp:" + p.At.UTC().Format(time.RFC3339)
	}
	return p.Kind
}

// Move is one input partition's committed offset, before and after.
type Move struct {
	Topic     string
	Partition int32
	// Old is the offset the group had committed, -1 when none.
	Old int64
	// New is where the reset puts it.
	New int64
}

// Plan is what a reset of one group does.
type Plan struct {
	Group string
	To    Position
	// Moves are the input partitions' offsets, by topic then partition.
	Moves []Move
	// DeleteOffsets are the repartition partitions the group has committed
	// offsets for: deleted, since the topic starts again from offset 0.
	DeleteOffsets []Move
	// DeleteTopics are the changelog and repartition topics that exist.
	DeleteTopics []string
	// Kept are the topology's other topics, untouched.
	Kept []string
}

// MembersError refuses a reset while the group has members: they would
// commit over the new offsets and keep writing the changelog being deleted.
type MembersError struct {
	Group string
	State string
	// Members are "instance-id@host" (member id when there is no instance id).
	Members []string
}

func (e *MembersError) Error() string {
	return fmt.Sprintf("group %s is %s with %d active member(s): %s; stop every member first (scale the StatefulSet to 0), then reset",
		e.Group, e.State, len(e.Members), strings.Join(e.Members, ", "))
}

// checkEmpty refuses, with a *MembersError, unless the group is Empty or
// Dead (no such group).
func checkEmpty(ctx context.Context, adm *kadm.Client, group string) error {
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describing group %s: %w", group, err)
	}
	g, ok := groups[group]
	if !ok {
		return fmt.Errorf("describing group %s: not in the broker's answer", group)
	}
	if g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
		return fmt.Errorf("describing group %s: %w", group, g.Err)
	}
	if g.State == "Empty" || g.State == "Dead" || errors.Is(g.Err, kerr.GroupIDNotFound) {
		return nil
	}
	e := &MembersError{Group: group, State: g.State}
	for _, m := range g.Members {
		id := m.MemberID
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		e.Members = append(e.Members, id+"@"+strings.TrimPrefix(m.ClientHost, "/"))
	}
	return e
}

// MakePlan looks at the group and the topics of t and says what a reset to
// `to` would do. It changes nothing; it refuses with a *MembersError while
// the group has members, and when an input topic is missing.
func MakePlan(ctx context.Context, adm *kadm.Client, group string, t processor.Topology, to Position) (Plan, error) {
	if err := checkEmpty(ctx, adm, group); err != nil {
		return Plan{}, err
	}
	plan := Plan{Group: group, To: to}
	inputs := t.InputTopics()
	details, err := adm.ListTopics(ctx, append(slices.Clone(inputs), t.Changelog, t.Repartition)...)
	if err != nil {
		return Plan{}, fmt.Errorf("listing the topics of group %s: %w", group, err)
	}
	for _, in := range inputs {
		if d, ok := details[in]; !ok || d.Err != nil {
			return Plan{}, fmt.Errorf("input topic %s does not exist: check --topic-prefix and --sources", in)
		}
	}
	for _, n := range []string{t.Changelog, t.Repartition} {
		if d, ok := details[n]; ok && d.Err == nil {
			plan.DeleteTopics = append(plan.DeleteTopics, n)
		}
	}
	for _, s := range t.Specs() {
		if s.Name != t.Changelog && s.Name != t.Repartition {
			plan.Kept = append(plan.Kept, s.Name)
		}
	}

	// RequireStable: a transaction a stopped member left open resolves
	// (aborts on its timeout) before the committed offsets are read.
	committed, err := adm.FetchOffsets(kadm.RequireStable(ctx), group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return Plan{}, fmt.Errorf("fetching the committed offsets of group %s: %w", group, err)
	}
	target, err := listTarget(ctx, adm, to, inputs)
	if err != nil {
		return Plan{}, fmt.Errorf("group %s: %w", group, err)
	}
	for _, in := range inputs {
		parts := details[in].Partitions.Numbers()
		slices.Sort(parts)
		for _, p := range parts {
			lo, ok := target.Lookup(in, p)
			if !ok || lo.Err != nil || lo.Offset < 0 {
				return Plan{}, fmt.Errorf("listing the %s offset of %s[%d]: %v", to, in, p, lo.Err)
			}
			plan.Moves = append(plan.Moves, Move{Topic: in, Partition: p, Old: committedAt(committed, in, p), New: lo.Offset})
		}
	}
	if rp, ok := committed[t.Repartition]; ok {
		for p := range rp {
			plan.DeleteOffsets = append(plan.DeleteOffsets, Move{Topic: t.Repartition, Partition: p, Old: committedAt(committed, t.Repartition, p), New: -1})
		}
		slices.SortFunc(plan.DeleteOffsets, func(a, b Move) int { return int(a.Partition - b.Partition) })
	}
	return plan, nil
}

func committedAt(c kadm.OffsetResponses, topic string, p int32) int64 {
	if r, ok := c.Lookup(topic, p); ok && r.Err == nil {
		return r.At
	}
	return -1
}

// listTarget lists the offsets of `to` in every partition of topics.
func listTarget(ctx context.Context, adm *kadm.Client, to Position, topics []string) (kadm.ListedOffsets, error) {
	var l kadm.ListedOffsets
	var err error
	switch to.Kind {
	case "earliest":
		l, err = adm.ListStartOffsets(ctx, topics...)
	case "latest":
		l, err = adm.ListEndOffsets(ctx, topics...)
	case "timestamp":
		// The broker answers the first offset at or after the time, kadm
		// the end offset where there is none.
		l, err = adm.ListOffsetsAfterMilli(ctx, to.At.UnixMilli(), topics...)
	default:
		return nil, fmt.Errorf("position %q: want earliest, latest or timestamp", to.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("listing the %s offsets of %s: %w", to, strings.Join(topics, ", "), err)
	}
	return l, nil
}

// Apply does what plan says: it checks again that the group is empty,
// commits the input offsets, deletes the repartition offsets, then deletes
// the changelog and repartition topics and waits, bounded, until the
// broker no longer lists them, so a `custream run` started next creates
// them fresh instead of meeting them half-deleted.
func Apply(ctx context.Context, adm *kadm.Client, plan Plan) error {
	if err := checkEmpty(ctx, adm, plan.Group); err != nil {
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	offsets := kadm.Offsets{}
	for _, m := range plan.Moves {
		offsets.AddOffset(m.Topic, m.Partition, m.New, -1)
	}
	// A member that joined since the check makes the broker refuse the
	// commit (the group is no longer empty), so no offset is moved under it.
	if err := adm.CommitAllOffsets(ctx, plan.Group, offsets); err != nil {
		return fmt.Errorf("committing the new offsets of group %s: %w (no topic was deleted)", plan.Group, err)
	}
	if len(plan.DeleteOffsets) > 0 {
		set := kadm.TopicsSet{}
		for _, m := range plan.DeleteOffsets {
			set.Add(m.Topic, m.Partition)
		}
		resp, err := adm.DeleteOffsets(ctx, plan.Group, set)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("deleting the repartition offsets of group %s: %w (the input offsets were moved; no topic was deleted)", plan.Group, err)
		}
	}
	if len(plan.DeleteTopics) == 0 {
		return nil
	}
	resp, err := adm.DeleteTopics(ctx, plan.DeleteTopics...)
	if err != nil {
		return fmt.Errorf("deleting topics %s: %w", strings.Join(plan.DeleteTopics, ", "), err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("deleting topic %s: %w", r.Topic, r.Err)
		}
	}
	return awaitGone(ctx, adm, plan.DeleteTopics)
}

// awaitGone asks the broker, bounded, until none of topics is listed.
func awaitGone(ctx context.Context, adm *kadm.Client, topics []string) error {
	var left []string
	for try := 0; try < 150; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for topics %s to be deleted: %w", strings.Join(left, ", "), ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
		details, err := adm.ListTopics(ctx, topics...)
		if err != nil {
			continue
		}
		left = left[:0]
		for _, n := range topics {
			if d, ok := details[n]; ok && d.Err == nil {
				left = append(left, n)
			}
		}
		if len(left) == 0 {
			return nil
		}
	}
	return fmt.Errorf("topics %s are still listed after 30s: the broker may still be deleting them; check before starting custream run", strings.Join(left, ", "))
}
